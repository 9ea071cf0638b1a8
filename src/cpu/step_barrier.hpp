// StepBarrier: where the participants of the fast CPU backend's training steps wait for each other, twice
// per step (src/cpu/cpu_fast_backend.cpp). Not here: starting the participants (ThreadTeam::run_together).
#pragma once

#include <atomic>
#include <cstdint>
#include <thread>

namespace logreg::cpu {

// A barrier for up to kMaxParticipants threads that are all running (ThreadTeam::run_together): each
// participant counts its own arrivals on its own cache line and waits until every other one has arrived as
// often. One cache-line transfer per participant and barrier; no reset is needed, since all participants
// pass the same barriers. Waiting spins (a training step at batch 32 is a few microseconds), then yields
// the core, so a participant whose partner was descheduled gives the core to whoever needs it.
class StepBarrier {
 public:
  static constexpr int kMaxParticipants = 2;

  // Participant p of `count` (both <= kMaxParticipants, p < count) arrives and waits for the others.
  void arrive_and_wait(int p, int count) {
    if (count <= 1) return;
    const std::uint64_t mine = arrived_[p].value.load(std::memory_order_relaxed) + 1;
    arrived_[p].value.store(mine, std::memory_order_release);
    for (int q = 0; q < count; ++q) {
      if (q == p) continue;
      for (int spin = 0; arrived_[q].value.load(std::memory_order_acquire) < mine; ++spin) {
        if (spin < kSpinsBeforeYield) {
#if defined(__x86_64__) || defined(__i386__)
          __builtin_ia32_pause();
#endif
        } else {
          std::this_thread::yield();
        }
      }
    }
  }

 private:
  static constexpr int kSpinsBeforeYield = 1024;  // 10 to 60 microseconds of pause instructions
  struct alignas(64) Counter {
    std::atomic<std::uint64_t> value{0};
  };
  Counter arrived_[kMaxParticipants];
};

}  // namespace logreg::cpu
