// ShareChooser: whether the fast CPU backend runs a window of training steps on its thread team or on the
// calling thread alone, chosen by timing both ways. Only the time depends on the choice, never a result.
// Not here: the team (logreg/thread_team.hpp) and the steps (cpu_fast_backend.cpp).
#pragma once

#include <chrono>

namespace logreg::cpu {

// The steps of a train_epoch call run in windows of at most kWindowRows rows, each either on the team (the
// participants wait for each other twice per step) or on the calling thread alone. On a quiet machine the
// team wins; when another process keeps the second core busy, a descheduled participant stalls every step
// of its window, and the calling thread alone is faster. So each window is timed: the faster way is used,
// and the other one is tried again one window in kExploreEvery. Each way's cost is the lowest of its last
// kKept windows: a window slowed once (the machine's other work, a page fault) does not flip the choice for
// the next kExploreEvery windows, while a lasting slowdown (another process on a core) shows in all of them.
class ShareChooser {
 public:
  static constexpr int kWindowRows = 4096;

  // A train_epoch call begins; team: whether it can share at all.
  void begin_call(bool team) { team_ = team; }

  // A window of `rows` rows begins: returns whether it runs on the team. end_window() must follow.
  bool start_window(int rows) {
    rows_ = rows;
    start_ = Clock::now();
    if (!team_) {
      sharing_ = false;
      return false;
    }
    ++windows_;
    const double alone = cost(0);
    const double shared = cost(1);
    const bool best = shared <= alone;
    if (shared == 0.0) {
      sharing_ = true;
    } else if (alone == 0.0) {
      sharing_ = false;
    } else {
      sharing_ = windows_ % kExploreEvery == 0 ? !best : best;
    }
    return sharing_;
  }

  void end_window() { end_window_after(std::chrono::duration<double>(Clock::now() - start_).count()); }

  // end_window() for a window that took `seconds` (what the tests drive).
  void end_window_after(double seconds) {
    if (!team_ || rows_ <= 0) return;
    const int way = sharing_ ? 1 : 0;
    costs_[way][next_[way]] = seconds / static_cast<double>(rows_);
    next_[way] = (next_[way] + 1) % kKept;
  }

  static constexpr int kExploreEvery = 16;  // one window in 16 tries the way that is not the best
  static constexpr int kKept = 4;           // windows remembered per way

 private:
  using Clock = std::chrono::steady_clock;
  // Seconds per row of a way (0 alone, 1 shared): the lowest of its last kKept windows, 0 = not measured yet.
  double cost(int way) const {
    double best = 0.0;
    for (double c : costs_[way]) {
      if (c > 0.0 && (best == 0.0 || c < best)) best = c;
    }
    return best;
  }

  bool team_ = false;
  bool sharing_ = true;
  double costs_[2][kKept] = {};  // the last kKept windows' seconds per row, alone / shared (0 = none yet)
  int next_[2] = {0, 0};
  long long windows_ = 0;
  int rows_ = 0;
  Clock::time_point start_;
};

}  // namespace logreg::cpu
