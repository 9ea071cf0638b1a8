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
// and the other one is tried again one window in kExploreEvery.
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
    const bool best = cost_[1] <= cost_[0];
    if (cost_[1] == 0.0) {
      sharing_ = true;
    } else if (cost_[0] == 0.0) {
      sharing_ = false;
    } else {
      sharing_ = windows_ % kExploreEvery == 0 ? !best : best;
    }
    return sharing_;
  }

  void end_window() {
    if (!team_ || rows_ <= 0) return;
    const double cost = std::chrono::duration<double>(Clock::now() - start_).count() / static_cast<double>(rows_);
    double& c = cost_[sharing_ ? 1 : 0];
    c = c == 0.0 ? cost : 0.5 * (c + cost);
  }

 private:
  using Clock = std::chrono::steady_clock;
  static constexpr int kExploreEvery = 64;  // a window is ~1/50 of an epoch: the other way is tried ~once an epoch
  bool team_ = false;
  bool sharing_ = true;
  double cost_[2] = {0.0, 0.0};  // seconds per row, alone / shared (a running mean; 0 = not measured yet)
  long long windows_ = 0;
  int rows_ = 0;
  Clock::time_point start_;
};

}  // namespace logreg::cpu
