// The block scheduler's two parts (internal to emulator/): BlockRun, the threads of one block as fibers
// (block_scheduler.cpp), and BlockGroup, the blocks that run together: one block of an ordinary launch, the
// blocks of a cluster, or every block of a cooperative launch (block_group.cpp). Fibers switch cooperatively
// on one host thread, so only one thread of one block runs at a time and every run is deterministic.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "emulator_internal.hpp"
#include "fiber.hpp"

namespace cuda_emu::detail {

enum class FiberState {
  kRunnable,
  kAtBarrier,         // __syncthreads
  kInWarpOp,          // a warp-synchronous op whose mask has not joined yet
  kAtActiveMask,      // __activemask, released once nothing else can run
  kAtClusterBarrier,  // cluster.sync()
  kAtGridBarrier,     // grid.sync()
  kAtMbarrier,        // an mbarrier wait for the phase after `waiting_on`'s current one
  kDone,
};

struct Fiber {
  FiberContext context;
  FiberStack* stack = nullptr;
  FiberState state = FiberState::kRunnable;
  int thread = -1;                     // the block thread on this fiber now
  const void* waiting_on = nullptr;    // kAtMbarrier: the barrier
};

// One warp's exchange area. Lanes deposit their value and parameter; the lane that completes the mask
// computes every lane's result into results[generation & 1] and wakes the others.
struct Warp {
  unsigned arrived = 0;
  unsigned generation = 0;
  std::uint64_t values[32] = {};
  int params[32] = {};
  int widths[32] = {};
  WarpOp ops[32] = {};
  std::uint64_t results[2][32] = {};
  int result_slot[32] = {};  // which results[] a waiting lane reads
};

// An asynchronous copy that has been issued and not landed yet: its destination holds poison until then.
struct AsyncCopy {
  void* dst;
  const void* src;
  std::size_t bytes;
  unsigned batch;  // cp.async: the commit group it belongs to
};

// One thread's cp.async copies (<cuda_pipeline.h>): `committed` groups closed so far; copies whose batch
// equals `committed` are not committed yet.
struct ThreadCopies {
  std::vector<AsyncCopy> copies;
  unsigned committed = 0;
};

// An mbarrier (cuda::ptx::mbarrier_*): the phase, the arrivals and transaction bytes it still waits for, the
// bulk copies that complete transactions on it, and how many threads wait for its phase to complete.
struct Mbarrier {
  unsigned expected = 0;
  unsigned pending = 0;
  long long tx = 0;
  unsigned phase = 0;
  int waiters = 0;
  std::vector<AsyncCopy> copies;
};

// Fills [dst, dst + bytes) with the emulator's poison: 0xAB bytes, every fourth (address % 4 == 3) 0xFF, so
// an aligned float reads as NaN.
void poison(void* dst, std::size_t bytes);
// Lands the copies a thread still has when it exits (a GPU completes them) (async_copy.cpp).
void land_thread_copies(ThreadCopies& copies);

class BlockGroup;

struct KernelAbort {};

class BlockRun {
 public:
  BlockRun(const KernelLaunch& launch, dim3 index, void* dynamic_shared, BlockGroup& group);
  ~BlockRun();
  BlockRun(const BlockRun&) = delete;
  BlockRun& operator=(const BlockRun&) = delete;

  // Runs every runnable fiber until it waits or ends, or, when none could run, starts the next thread.
  // False when nothing could run. Sets the built-in variables and the current block first.
  bool step();
  bool release_active_mask_waiters();
  // Makes every fiber waiting in `state` (on `on`, for kAtMbarrier) runnable.
  void release(FiberState state, const void* on = nullptr);
  bool finished() const { return exited_count_ == threads_; }
  int threads() const { return threads_; }
  int exited() const { return exited_count_; }
  int waiting_in(FiberState state) const;
  dim3 index() const { return index_; }
  unsigned char* dynamic_shared() const { return dynamic_shared_; }
  // Why this block cannot go on (for a block running alone: the wording of a __syncthreads deadlock).
  std::string describe_deadlock() const;

  // Where it belongs in its group: its cluster (an index into the group's clusters) and its rank there.
  int cluster = 0;
  int rank = 0;

  // ---- Called on one of its fibers ----
  void barrier();
  std::uint64_t warp_exchange(WarpOp op, unsigned mask, std::uint64_t value, int param, int width);
  unsigned active_mask();
  // The calling thread waits in `state` until release() names it; false if the launch failed meanwhile.
  bool wait(FiberState state, const void* on = nullptr);
  // Stops the launch with `what` (the first fault wins): throws KernelAbort, which unwinds the calling
  // thread's frames (so nothing it allocated leaks) to the fiber's entry, where its thread ends.
  [[noreturn]] void fail(const std::string& what);
  int current_thread() const { return fibers_[static_cast<std::size_t>(current_)].thread; }
  BlockGroup& group() const { return group_; }

  // cp.async copies per thread, sized at the block's first cp.async.
  std::vector<ThreadCopies> async_copies;
  // In a group of several blocks: this block's copy of the static __shared__ section, the live data while
  // another block runs (BlockGroup::make_live).
  std::vector<unsigned char> static_shared;
  // The split cluster barrier: the phase this thread arrived in (barrier_arrive), -1 while it has not.
  std::vector<long long> cluster_arrival;

 private:
  bool complete_warp_op(Warp& w, int warp, unsigned mask, int slot);
  unsigned existing_lanes(int warp) const;
  void set_builtins(int tid) const;
  void switch_to_fiber(int f);
  void yield();
  void start_runner();
  static void runner_entry();

  const KernelLaunch& launch_;
  BlockGroup& group_;
  dim3 index_;
  unsigned char* dynamic_shared_ = nullptr;
  int threads_ = 0;
  int next_thread_ = 0;
  int exited_count_ = 0;
  int first_exited_ = -1;
  int at_barrier_ = 0;
  int current_ = -1;
  std::vector<Fiber> fibers_;
  std::vector<int> fiber_of_thread_;
  std::vector<bool> exited_;
  std::vector<Warp> warps_;
  FiberContext scheduler_;
  const void* scheduler_stack_bottom_ = nullptr;
  std::size_t scheduler_stack_size_ = 0;
};

// The block whose fiber runs now (null outside a kernel).
BlockRun* current_block();
// The same, for a device call (`what`, e.g. "cluster.sync()") that only a kernel may make: outside a kernel it
// prints what was called to stderr and aborts, as a GPU program could not have compiled it.
BlockRun& current_or_abort(const char* what);

// The static __shared__ variables of every kernel of the program, in the one section cuda_emulator.hpp puts
// them in (bounds from the linker; empty when the program has none).
unsigned char* static_shared_begin();
std::size_t static_shared_bytes();

// Blocks that run together, and what they share: the first fault, the fiber stacks, the cluster and grid
// barriers. Blocks of an ordinary launch run alone, one group of one block after another.
class BlockGroup {
 public:
  BlockGroup(const KernelLaunch& launch, int clusters, int blocks_per_cluster);

  // Runs `blocks` (in clusters of blocks_per_cluster, rank order) until all have ended; "" or the fault.
  std::string run(const std::vector<BlockRun*>& blocks);
  FiberStack* take_stack();
  // A block whose last thread ended: in a cluster, its shared memory is poisoned, so that a peer reading
  // it sees 0xAB and a peer writing it is found when the group ends.
  void block_finished(BlockRun& block);

  // ---- Called on a fiber ----
  void cluster_barrier_arrive(BlockRun& me);
  void cluster_barrier_wait(BlockRun& me);
  void grid_barrier(BlockRun& me);
  void* map_shared_rank(BlockRun& me, const void* p, unsigned rank);

  // Static __shared__ addresses of a group of several blocks. A block's static variables live in the section
  // while it runs and in its own copy otherwise: stable() names an address by where it is when its block is
  // not running (the section's address of the running block becomes its copy's address), current() gives
  // where that byte is now. mbarriers and bulk copies keep stable addresses, since they outlive a block's turn.
  void* stable(const void* p) const;
  void* current(void* stable_address) const;
  // The block of the group whose shared memory (dynamic or static) holds `p`; null if none.
  BlockRun* owner_of(const void* p) const;
  const KernelLaunch& launch() const { return launch_; }
  int blocks_per_cluster() const { return blocks_per_cluster_; }
  const std::vector<BlockRun*>& blocks() const { return blocks_; }

  std::string fault;
  std::map<const void*, Mbarrier> mbarriers;  // by address, for the group's lifetime

 private:
  std::string describe_deadlock() const;
  std::string describe_mbarriers() const;
  std::string check_exited_blocks_untouched() const;
  // Swaps the static __shared__ section to `block`'s copy (saving the running block's).
  void make_live(BlockRun* block);

  const KernelLaunch& launch_;
  int blocks_per_cluster_ = 1;
  std::vector<BlockRun*> blocks_;
  std::vector<std::vector<BlockRun*>> clusters_;  // [cluster][rank]
  std::vector<int> cluster_arrived_;              // [cluster] threads arrived in the current phase
  std::vector<long long> cluster_phase_;          // [cluster] phases of the cluster barrier completed
  BlockRun* live_ = nullptr;                      // whose static __shared__ variables the section holds
  bool swaps_static_shared_ = false;              // several blocks and a non-empty section
  int grid_arrived_ = 0;
  std::vector<BlockRun*> poisoned_;
  std::size_t stacks_used_ = 0;
};

}  // namespace cuda_emu::detail
