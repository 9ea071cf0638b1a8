// ThreadTeam (include/logreg/thread_team.hpp): the lock-free claim of parts, the workers' wait (spin, nap,
// sleep) and the shutdown. Not here: what the parts compute.
#include "logreg/thread_team.hpp"
#include "logreg/ranks.hpp"

#include <sched.h>

#include <chrono>

namespace logreg::cpu {
namespace {

constexpr int kMissesBeforeBackoff = 8;  // a worker that found nothing to do in 8 jobs in a row naps between jobs

std::uint64_t pack(std::uint64_t generation, int parts, int next) {
  return (generation & 0xffffffffu) << 32 | static_cast<std::uint64_t>(parts) << 16 | static_cast<std::uint64_t>(next);
}

void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

}  // namespace

ThreadTeam::ThreadTeam(int size) : size_(std::clamp(size, 1, kMaxSize)) {
  try {
    for (int t = 1; t < size_; ++t) workers_.emplace_back([this] { work(); });
  } catch (...) {
    shut_down();
    throw;
  }
}

ThreadTeam::~ThreadTeam() { shut_down(); }

void ThreadTeam::run_shared(int parts, void (*job)(void*, int), void* ctx) {
  job_ = job;
  ctx_ = ctx;
  done_.store(0, std::memory_order_relaxed);
  rest_.store(false, std::memory_order_relaxed);
  ++generation_;
  // Releases job_, ctx_ and done_ to every worker whose claim reads this value.
  claim_.store(pack(generation_, parts, 0), std::memory_order_release);
  wake(generation_);
  claim_and_run(generation_);
  for (int spin = 0; done_.load(std::memory_order_acquire) != parts; ++spin) {
    if (spin < 2048) {
      cpu_relax();
    } else {
      std::this_thread::yield();  // a worker holding a part was descheduled
    }
  }
}

// Claims and runs parts of job `generation` until none is left; returns how many it ran.
int ThreadTeam::claim_and_run(std::uint64_t generation) {
  int ran = 0;
  std::uint64_t c = claim_.load(std::memory_order_acquire);
  for (;;) {
    const int parts = static_cast<int>((c >> 16) & 0xffff);
    const int next = static_cast<int>(c & 0xffff);
    if ((c >> 32) != (generation & 0xffffffffu) || next >= parts) return ran;
    if (claim_.compare_exchange_weak(c, c + 1, std::memory_order_acq_rel, std::memory_order_acquire)) {
      job_(ctx_, next);
      done_.fetch_add(1, std::memory_order_release);
      ++ran;
      c = claim_.load(std::memory_order_acquire);
    }
  }
}

// Announces a job (or, with stop_, the end) to the workers, waking those asleep.
void ThreadTeam::wake(std::uint64_t generation) {
  announced_.store(generation, std::memory_order_seq_cst);
  if (sleepers_.load(std::memory_order_seq_cst) != 0) {
    { std::lock_guard<std::mutex> lock(mutex_); }
    wake_.notify_all();
  }
}

void ThreadTeam::work() {
  std::uint64_t seen = 0;
  int misses = 0;  // announced jobs in a row in which this worker found no part left to claim
  for (;;) {
    bool slept = false;
    seen = wait_for_job(seen, misses >= kMissesBeforeBackoff, &slept);
    if (stop_.load(std::memory_order_acquire)) return;
    if (slept) misses = 0;  // after a long pause, start eager again
    misses = claim_and_run(seen) > 0 ? 0 : misses + 1;
  }
}

// Waits for an announcement newer than `seen` and returns it. Spins (yielding now and then) while it
// helps; when the caller has been running every part by itself (a busy machine: spinning would only
// take the CPU from it), naps between looks instead; after a long quiet spell, or when the caller said it
// will work alone for a while (rest()), sleeps until woken.
std::uint64_t ThreadTeam::wait_for_job(std::uint64_t seen, bool back_off, bool* slept) {
  using Clock = std::chrono::steady_clock;
  const auto idle_limit = Clock::now() + std::chrono::milliseconds(20);
  for (int spin = 1;; ++spin) {
    const std::uint64_t g = announced_.load(std::memory_order_acquire);
    if (g != seen) return g;
    if (back_off) {
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    } else {
      cpu_relax();
      if (spin % 64 != 0) continue;
      std::this_thread::yield();
    }
    if (rest_.load(std::memory_order_relaxed) || Clock::now() > idle_limit) {
      std::unique_lock<std::mutex> lock(mutex_);
      sleepers_.fetch_add(1, std::memory_order_seq_cst);
      wake_.wait(lock, [&] { return announced_.load(std::memory_order_seq_cst) != seen; });
      sleepers_.fetch_sub(1, std::memory_order_relaxed);
      *slept = true;
      return announced_.load(std::memory_order_acquire);
    }
  }
}

namespace {

// The shared team's size: the cores this process may run on (taskset, a cgroup's cpuset, mpirun's --bind-to), or
// when it is not bound, the node's cores shared by the MPI ranks on it.
int shared_team_size() {
  int cores = static_cast<int>(std::thread::hardware_concurrency());
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  if (::sched_getaffinity(0, sizeof allowed, &allowed) == 0 && CPU_COUNT(&allowed) < cores) {
    cores = CPU_COUNT(&allowed);
  } else {
    cores /= ranks::local_size();
  }
  return std::clamp(cores, 1, kSharedTeamMax);
}

}  // namespace

ThreadTeam& shared_thread_team() {
  static ThreadTeam team(shared_team_size());
  return team;
}

void ThreadTeam::shut_down() {
  if (workers_.empty()) return;
  stop_.store(true, std::memory_order_release);
  wake(++generation_);
  for (std::thread& w : workers_) w.join();
  workers_.clear();
}

}  // namespace logreg::cpu
