// ShareChooser: whether the fast CPU backend hands a training step's parts to its thread team or runs them
// on the calling thread, chosen by timing both ways. Only the time depends on the choice, never a result.
// Not here: the team (logreg/thread_team.hpp) and the step (cpu_fast_backend.cpp).
#pragma once

#include <chrono>

namespace logreg::cpu {

// Whether a training step's two parts go to the team or both run on the calling thread. The results are
// the same either way; only the time differs. On a quiet machine sharing wins; when another process keeps
// the second core busy, a worker that claims a part and is then descheduled stalls the step, and the
// calling thread alone is faster. So the steps are timed in windows of kShareWindowRows rows: the faster
// way is used, and the other one is tried again one window in kShareExploreEvery.
class ShareChooser {
 public:
  void begin_call(bool team) {
    team_ = team;
    window_rows_ = 0;  // a window does not span calls: the host loop's work between them is not ours
  }

  // Called before each step of `rows` rows.
  bool share(int rows) {
    if (!team_) return false;
    using Clock = std::chrono::steady_clock;
    const auto now = Clock::now();
    if (window_rows_ >= kShareWindowRows) {
      const double cost = std::chrono::duration<double>(now - window_start_).count() / static_cast<double>(window_rows_);
      double& c = cost_[sharing_ ? 1 : 0];
      c = c == 0.0 ? cost : 0.5 * (c + cost);
      window_rows_ = 0;
    }
    if (window_rows_ == 0) {  // a new window: pick the way
      ++windows_;
      const bool best = cost_[1] <= cost_[0];
      if (cost_[1] == 0.0) {
        sharing_ = true;
      } else if (cost_[0] == 0.0) {
        sharing_ = false;
      } else {
        sharing_ = windows_ % kShareExploreEvery == 0 ? !best : best;
      }
      window_start_ = now;
    }
    window_rows_ += rows;
    return sharing_;
  }

 private:
  static constexpr int kShareWindowRows = 4096;
  static constexpr int kShareExploreEvery = 16;
  bool team_ = false;
  bool sharing_ = true;
  double cost_[2] = {0.0, 0.0};  // seconds per row, alone / shared (a running mean; 0 = not measured yet)
  long long windows_ = 0;
  int window_rows_ = 0;
  std::chrono::steady_clock::time_point window_start_;
};

}  // namespace logreg::cpu
