// ThreadTeam: the fast CPU backend's small persistent team of threads that runs one job of numbered parts
// at a time, every part exactly once. The work loop of the workers is in src/cpu/thread_team.cpp; what the
// parts compute is the caller's (src/cpu/cpu_fast_backend.cpp).
#pragma once

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include "logreg/maths/row_parts.hpp"

namespace logreg::cpu {

// Part `part` of `parts` even parts of n items starts at split_point(n, part, parts) (and ends where the
// next starts): fixed ranges, so results do not depend on how many threads run them.
inline int split_point(int n, int part, int parts) { return part_start(n, part, parts); }

// A fixed team of threads that runs one job at a time: job(part) for every part in [0, parts), each part
// exactly once, on the calling thread and on whichever workers are awake to claim parts. A part's result
// must not depend on which thread runs it; then the team may be slow to wake (a busy machine, a worker
// descheduled) without changing anything but the time: the caller simply runs the parts itself.
// Between jobs the workers spin (SGD steps at batch 32 are microseconds apart), nap instead when they keep
// arriving too late to help, and sleep after 20 ms without a job.
class ThreadTeam {
 public:
  static constexpr int kMaxSize = 256;
  static constexpr int kMaxParts = 0xffff;

  // size threads in all, the caller's included (clamped to [1, kMaxSize]): size - 1 workers are started.
  explicit ThreadTeam(int size);
  ~ThreadTeam();
  ThreadTeam(const ThreadTeam&) = delete;
  ThreadTeam& operator=(const ThreadTeam&) = delete;

  int size() const { return size_; }

  // Runs job(part) for part in [0, parts) and returns when all have finished; share = false runs them all
  // on the calling thread, in order, as does a call made while another thread's job holds the team (a shared
  // team: shared_thread_team()). job must not throw. Throws std::length_error for parts > kMaxParts.
  template <class Job>
  void run(int parts, Job& job, bool share) {
    if (parts <= 0) return;
    if (parts > kMaxParts) throw std::length_error("ThreadTeam::run: more than 65535 parts");
    if (size_ == 1 || parts == 1 || !share || busy_.exchange(true, std::memory_order_acquire)) {
      for (int p = 0; p < parts; ++p) job(p);
      return;
    }
    run_shared(parts, [](void* ctx, int part) { (*static_cast<Job*>(ctx))(part); }, &job);
    busy_.store(false, std::memory_order_release);
  }

  // Tells the workers that no job will come for a while (the caller runs its work alone): they sleep now
  // instead of spinning for the core that another process may need. The next job wakes them.
  void rest() { rest_.store(true, std::memory_order_relaxed); }

  // Runs job(part) for part in [0, parts) with every part on its own thread at the same time, so that the
  // parts may wait for each other (StepBarrier, src/cpu/step_barrier.hpp). Needs parts <= size(): the
  // caller runs one part and each other part is claimed by a worker as soon as it is awake. job must not throw.
  // While another thread's job holds the team, waits for it (the parts cannot run one after the other).
  template <class Job>
  void run_together(int parts, Job& job) {
    if (parts > size_) throw std::length_error("ThreadTeam::run_together: more parts than threads");
    if (parts == 1) {
      job(0);
      return;
    }
    while (busy_.exchange(true, std::memory_order_acquire)) std::this_thread::yield();
    run_shared(parts, [](void* ctx, int part) { (*static_cast<Job*>(ctx))(part); }, &job);
    busy_.store(false, std::memory_order_release);
  }

 private:
  void run_shared(int parts, void (*job)(void*, int), void* ctx);
  int claim_and_run(std::uint64_t generation);
  void wake(std::uint64_t generation);
  void work();
  std::uint64_t wait_for_job(std::uint64_t seen, bool back_off, bool* slept);
  void shut_down();

  int size_;
  std::vector<std::thread> workers_;
  std::atomic<bool> busy_{false};  // a caller's job holds the workers (one job at a time, whichever thread calls)
  std::uint64_t generation_ = 0;    // the callers' count of jobs (written only by the caller holding busy_)
  // generation (32 bits) | parts (16) | next unclaimed part (16), so that a late worker can never claim a
  // part of a newer job than the one it woke for.
  alignas(64) std::atomic<std::uint64_t> claim_{0};
  alignas(64) std::atomic<int> done_{0};
  alignas(64) std::atomic<std::uint64_t> announced_{0};
  std::atomic<int> sleepers_{0};
  std::atomic<bool> stop_{false};
  std::atomic<bool> rest_{false};
  void (*job_)(void*, int) = nullptr;
  void* ctx_ = nullptr;
  std::mutex mutex_;
  std::condition_variable wake_;
};

// The process's team for work outside a backend that owns one (inference: evaluation.hpp) and for the fast CPU
// backend when it is given no thread count: the hardware's threads, at most kSharedTeamMax, started on first
// use. One team for both, so an L-BFGS run's test accuracy and its objective share the same threads instead
// of spinning two teams against each other.
constexpr int kSharedTeamMax = 2;
ThreadTeam& shared_thread_team();

}  // namespace logreg::cpu
