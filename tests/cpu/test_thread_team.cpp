// ThreadTeam (logreg/thread_team.hpp): every part of a job runs exactly once and has finished when run()
// returns, for 1..8 threads, for more threads than parts, shared or not, back to back and after the
// workers fell asleep; jobs from two threads at once (the shared team); the limits on the part count.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "logreg/thread_team.hpp"
#include "step_barrier.hpp"

namespace logreg::cpu {
namespace {

// Runs `jobs` jobs of `parts` parts each and checks, right after each run() returns, that every part ran
// exactly once in that job (counts are per job: a part run twice, skipped, or run after run() returned
// shows up).
void ExpectEachPartOnce(ThreadTeam& team, int parts, int jobs, bool share) {
  std::vector<std::atomic<int>> count(static_cast<std::size_t>(parts));
  for (int j = 0; j < jobs; ++j) {
    for (auto& c : count) c.store(0);
    auto job = [&](int part) {
      ASSERT_GE(part, 0);
      ASSERT_LT(part, parts);
      count[static_cast<std::size_t>(part)].fetch_add(1);
    };
    team.run(parts, job, share);
    for (int p = 0; p < parts; ++p) {
      ASSERT_EQ(count[static_cast<std::size_t>(p)].load(), 1)
          << "part " << p << " of " << parts << ", job " << j << ", " << team.size() << " threads"
          << (share ? ", shared" : ", not shared");
    }
  }
}

TEST(ThreadTeam, EveryPartRunsExactlyOnceForOneToEightThreads) {
  for (int threads = 1; threads <= 8; ++threads) {
    ThreadTeam team(threads);
    ASSERT_EQ(team.size(), threads);
    for (int parts : {1, 2, 3, 7, 64, 1000}) {
      SCOPED_TRACE(std::to_string(threads) + " threads, " + std::to_string(parts) + " parts");
      ExpectEachPartOnce(team, parts, 50, true);
      ExpectEachPartOnce(team, parts, 3, false);
    }
  }
}

TEST(ThreadTeam, MoreThreadsThanParts) {
  ThreadTeam team(8);
  for (int parts : {1, 2, 3}) {
    SCOPED_TRACE(std::to_string(parts) + " parts");
    ExpectEachPartOnce(team, parts, 500, true);
  }
}

// A job whose parts take a while, so that workers really claim some, then a pause long enough (20 ms) for
// the workers to go to sleep: the next job must wake them or run alone, and still run every part once.
TEST(ThreadTeam, SlowPartsAndSleepingWorkers) {
  ThreadTeam team(4);
  std::vector<std::atomic<int>> count(16);
  std::mutex m;
  std::set<std::thread::id> ran_on;
  for (int round = 0; round < 3; ++round) {
    for (auto& c : count) c.store(0);
    auto job = [&](int part) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      count[static_cast<std::size_t>(part)].fetch_add(1);
      std::lock_guard<std::mutex> lock(m);
      ran_on.insert(std::this_thread::get_id());
    };
    team.run(16, job, true);
    for (int p = 0; p < 16; ++p) EXPECT_EQ(count[static_cast<std::size_t>(p)].load(), 1) << "part " << p << " round " << round;
    std::this_thread::sleep_for(std::chrono::milliseconds(40));
  }
  EXPECT_GE(ran_on.size(), 1u);
  EXPECT_LE(ran_on.size(), 4u);  // never more threads than the team has
}

// Not shared (or a team of one): the parts run on the calling thread, in order.
// Two threads calling run() on one team at once (shared_thread_team() serves inference and a backend): each
// job's parts all run exactly once, the one that finds the team held runs its own on the calling thread.
TEST(ThreadTeam, JobsFromTwoThreadsAtOnceEachRunEveryPartOnce) {
  ThreadTeam team(2);
  constexpr int kParts = 64;
  constexpr int kJobs = 2000;
  std::atomic<int> bad{0};
  std::atomic<int> ready{0};
  auto caller = [&] {
    ready.fetch_add(1);
    while (ready.load() < 2) std::this_thread::yield();  // both start together
    for (int j = 0; j < kJobs; ++j) {
      std::vector<std::atomic<int>> ran(kParts);
      auto job = [&](int part) {
        volatile int spin = 0;
        for (int k = 0; k < 200; ++k) spin = spin + 1;  // long enough for the two callers' jobs to overlap
        ran[static_cast<std::size_t>(part)].fetch_add(1, std::memory_order_relaxed);
      };
      team.run(kParts, job, true);
      for (const auto& r : ran) bad += r.load() != 1 ? 1 : 0;
    }
  };
  std::thread other(caller);
  caller();
  other.join();
  EXPECT_EQ(bad.load(), 0);
}

TEST(ThreadTeam, UnsharedRunsOnTheCallerInOrder) {
  for (int threads : {1, 3}) {
    ThreadTeam team(threads);
    std::vector<int> order;
    std::vector<std::thread::id> ids;
    auto job = [&](int part) {
      order.push_back(part);
      ids.push_back(std::this_thread::get_id());
    };
    team.run(5, job, threads == 1);
    EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4}));
    for (const auto& id : ids) EXPECT_EQ(id, std::this_thread::get_id());
  }
}

TEST(ThreadTeam, PartLimitsAndSizeClamp) {
  ThreadTeam team(2);
  int calls = 0;
  auto job = [&](int) { ++calls; };
  team.run(0, job, true);
  team.run(-3, job, true);
  EXPECT_EQ(calls, 0);
  EXPECT_THROW(team.run(ThreadTeam::kMaxParts + 1, job, true), std::length_error);
  EXPECT_EQ(calls, 0);
  ExpectEachPartOnce(team, ThreadTeam::kMaxParts, 2, true);  // the largest job the 16-bit claim can count
  EXPECT_EQ(ThreadTeam(0).size(), 1);
  EXPECT_EQ(ThreadTeam(-5).size(), 1);
  EXPECT_EQ(ThreadTeam(ThreadTeam::kMaxSize + 10).size(), ThreadTeam::kMaxSize);
}

// run_together: both parts run at once, so they can meet at a StepBarrier 2,000 times per job; each sees the
// other's value of every step after the barrier. Also after rest() (the worker asleep), and never with more
// parts than threads.
TEST(ThreadTeam, RunTogetherPartsMeetAtStepBarriers) {
  ThreadTeam team(2);
  StepBarrier barrier;
  constexpr int kSteps = 2000;
  for (int job = 0; job < 3; ++job) {
    std::atomic<int> value[2] = {{-1}, {-1}};
    std::atomic<int> mismatches{0};
    auto part = [&](int p) {
      for (int step = 0; step < kSteps; ++step) {
        value[p].store(step, std::memory_order_relaxed);
        barrier.arrive_and_wait(p, 2);
        if (value[1 - p].load(std::memory_order_relaxed) != step) mismatches.fetch_add(1);
        barrier.arrive_and_wait(p, 2);  // nobody writes step + 1 before the other has read step
      }
    };
    if (job == 2) {
      team.rest();
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    team.run_together(2, part);
    EXPECT_EQ(mismatches.load(), 0) << "job " << job;
    EXPECT_EQ(value[0].load(), kSteps - 1);
    EXPECT_EQ(value[1].load(), kSteps - 1);
  }
  int calls = 0;
  auto one = [&](int) { ++calls; };
  ThreadTeam alone(1);
  EXPECT_THROW(alone.run_together(2, one), std::length_error);
  alone.run_together(1, one);
  EXPECT_EQ(calls, 1);
}

}  // namespace
}  // namespace logreg::cpu
