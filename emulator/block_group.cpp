// The blocks that run together, and the launch that runs them (run_blocks). An ordinary launch runs its blocks
// one after another, each alone (cheap: one group, one stack pool). The blocks of a cluster (the launch's
// cluster-dimension attribute), or every block of a cooperative launch, run together as fibers of one group,
// so waits between blocks work: cluster.sync() and the split cluster barrier (barrier_arrive/barrier_wait),
// grid.sync(), an mbarrier in a peer's shared memory, and distributed shared memory (map_shared_rank: a
// pointer into the peer's dynamic or static shared memory). Each block of a group has its own copy of the
// static __shared__ section, swapped in while its fibers run. Deadlocks between blocks are reported, naming
// what each block waits on. What the fibers of one block do is
// block_scheduler.cpp; the cooperative_groups subset kernels call is emulator/cooperative_groups.h.
#include <cstring>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "block_run.hpp"
#include "runtime_state.hpp"

namespace cuda_emu::detail {
namespace {

thread_local std::vector<std::unique_ptr<FiberStack>> tls_stacks;  // reused across blocks and launches

// The section of the static __shared__ variables (cuda_emulator.hpp): the linker defines its bounds when
// the program has one; weak, so a program without static shared memory links too.
extern "C" {
extern unsigned char __start_logreg_emu_shared[] __attribute__((weak));
extern unsigned char __stop_logreg_emu_shared[] __attribute__((weak));
}

constexpr unsigned char kExitedPoison = 0xAB;

std::string block_name(const BlockRun& b) {
  std::ostringstream os;
  os << "block (" << b.index().x << "," << b.index().y << "," << b.index().z << ")";
  return os.str();
}

// On a device without clusters, cluster code is an error (nvcc would not compile it for that GPU).
bool check_clusters(BlockRun& me, const char* what) {
  if (clusters_supported()) return true;
  me.fail(std::string(what) + " on a device without thread block clusters (compute capability " +
          std::to_string(compute_capability()) + ", LOGREG_EMU_CLUSTERS)");
  return false;
}

bool within(const void* p, const unsigned char* base, std::size_t bytes) {
  const auto* q = static_cast<const unsigned char*>(p);
  return base != nullptr && q >= base && q < base + bytes;
}

}  // namespace

unsigned char* static_shared_begin() { return __start_logreg_emu_shared; }

std::size_t static_shared_bytes() {
  if (__start_logreg_emu_shared == nullptr || __stop_logreg_emu_shared == nullptr) return 0;
  return static_cast<std::size_t>(__stop_logreg_emu_shared - __start_logreg_emu_shared);
}

BlockGroup::BlockGroup(const KernelLaunch& launch, int clusters, int blocks_per_cluster)
    : launch_(launch), blocks_per_cluster_(blocks_per_cluster) {
  clusters_.assign(static_cast<std::size_t>(clusters), std::vector<BlockRun*>(static_cast<std::size_t>(blocks_per_cluster)));
  cluster_arrived_.assign(static_cast<std::size_t>(clusters), 0);
  cluster_phase_.assign(static_cast<std::size_t>(clusters), 0);
}

void BlockGroup::make_live(BlockRun* block) {
  if (!swaps_static_shared_ || block == live_) return;
  unsigned char* section = static_shared_begin();
  const std::size_t bytes = static_shared_bytes();
  if (live_ != nullptr) std::memcpy(live_->static_shared.data(), section, bytes);
  if (block != nullptr) std::memcpy(section, block->static_shared.data(), bytes);
  live_ = block;
}

void* BlockGroup::stable(const void* p) const {
  auto* q = const_cast<unsigned char*>(static_cast<const unsigned char*>(p));
  if (!swaps_static_shared_ || live_ == nullptr || !within(p, static_shared_begin(), static_shared_bytes())) return q;
  return live_->static_shared.data() + (q - static_shared_begin());
}

void* BlockGroup::current(void* stable_address) const {
  auto* q = static_cast<unsigned char*>(stable_address);
  if (!swaps_static_shared_ || live_ == nullptr || !within(q, live_->static_shared.data(), live_->static_shared.size())) {
    return q;
  }
  return static_shared_begin() + (q - live_->static_shared.data());
}

BlockRun* BlockGroup::owner_of(const void* p) const {
  if (within(p, static_shared_begin(), static_shared_bytes())) {
    if (swaps_static_shared_) return live_;
    return blocks_.size() == 1 ? blocks_[0] : nullptr;
  }
  for (BlockRun* b : blocks_) {
    if (within(p, b->dynamic_shared(), launch_.shared_bytes)) return b;
    if (within(p, b->static_shared.data(), b->static_shared.size())) return b;
  }
  return nullptr;
}

FiberStack* BlockGroup::take_stack() {
  while (tls_stacks.size() <= stacks_used_) tls_stacks.push_back(std::make_unique<FiberStack>());
  return tls_stacks[stacks_used_++].get();
}

std::string BlockGroup::run(const std::vector<BlockRun*>& blocks) {
  blocks_ = blocks;
  for (BlockRun* b : blocks_) clusters_[static_cast<std::size_t>(b->cluster)][static_cast<std::size_t>(b->rank)] = b;
  stacks_used_ = 0;
  mbarriers.clear();
  swaps_static_shared_ = blocks_.size() > 1 && static_shared_bytes() > 0;
  if (swaps_static_shared_) {
    for (BlockRun* b : blocks_) b->static_shared.assign(static_shared_bytes(), 0xff);  // uninitialised: NaNs
  }
  while (fault.empty()) {
    bool ran = false;
    // Highest rank first: a block that ends early ends before its peers use it, so a missing cluster.sync()
    // before exit shows.
    for (auto it = blocks_.rbegin(); it != blocks_.rend() && fault.empty(); ++it) {
      if ((*it)->finished()) continue;
      make_live(*it);
      ran = (*it)->step() || ran;
    }
    if (ran || !fault.empty()) continue;
    bool released = false;
    for (BlockRun* b : blocks_) released = b->release_active_mask_waiters() || released;
    if (released) continue;
    bool all_finished = true;
    for (BlockRun* b : blocks_) all_finished = all_finished && b->finished();
    if (all_finished) break;
    fault = blocks_.size() == 1 ? blocks_[0]->describe_deadlock() : describe_deadlock();
    fault += describe_mbarriers();
  }
  make_live(nullptr);
  if (fault.empty()) fault = check_exited_blocks_untouched();
  return fault;
}

// Called on the block's last fiber, while the block is live.
void BlockGroup::block_finished(BlockRun& block) {
  if (blocks_per_cluster_ == 1) return;
  if (block.dynamic_shared() != nullptr) std::memset(block.dynamic_shared(), kExitedPoison, launch_.shared_bytes);
  if (swaps_static_shared_) std::memset(static_shared_begin(), kExitedPoison, static_shared_bytes());
  poisoned_.push_back(&block);
}

std::string BlockGroup::check_exited_blocks_untouched() const {
  const auto written = [](const unsigned char* bytes, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) {
      if (bytes[i] != kExitedPoison) return static_cast<long long>(i);
    }
    return -1LL;
  };
  for (const BlockRun* b : poisoned_) {
    long long i = b->dynamic_shared() == nullptr ? -1 : written(b->dynamic_shared(), launch_.shared_bytes);
    const char* where = "dynamic shared memory";
    if (i < 0) {
      i = written(b->static_shared.data(), b->static_shared.size());
      where = "static __shared__ variables";
    }
    if (i < 0) continue;
    return block_name(*b) + " (rank " + std::to_string(b->rank) + " of its cluster): byte " + std::to_string(i) +
           " of its " + where + " was written after the block exited, a distributed shared memory store to an "
           "ended block (a GPU may fault or lose it): keep the cluster together with cluster.sync() until no "
           "peer uses a block's shared memory";
  }
  return "";
}

std::string BlockGroup::describe_mbarriers() const {
  std::ostringstream os;
  for (const auto& [address, m] : mbarriers) {
    if (m.waiters == 0) continue;
    os << "; mbarrier " << address << ": " << m.waiters << " thread(s) wait for phase " << m.phase << ", which still needs "
       << m.pending << " of " << m.expected << " arrival(s) and " << m.tx << " transaction byte(s)";
  }
  return os.str();
}

std::string BlockGroup::describe_deadlock() const {
  std::ostringstream os;
  os << "deadlock among the " << blocks_.size() << " blocks that run together ("
     << (launch_.cooperative ? "a cooperative launch" : "a cluster") << ")";
  const int per_block = blocks_.empty() ? 0 : blocks_[0]->threads();
  for (std::size_t c = 0; c < cluster_arrived_.size(); ++c) {
    if (cluster_arrived_[c] == 0) continue;
    os << "; the cluster barrier (cluster.sync() or barrier_arrive()) reached by " << cluster_arrived_[c] << " of "
       << per_block * blocks_per_cluster_ << " threads of the cluster";
  }
  if (grid_arrived_ > 0) {
    os << "; grid.sync() reached by " << grid_arrived_ << " of " << per_block * static_cast<int>(blocks_.size())
       << " threads of the grid";
  }
  for (const BlockRun* b : blocks_) {
    os << "; " << block_name(*b) << " rank " << b->rank << ": ";
    if (cluster_arrived_[static_cast<std::size_t>(b->cluster)] > 0) {
      const long long phase = cluster_phase_[static_cast<std::size_t>(b->cluster)];
      int arrived = 0;
      for (long long a : b->cluster_arrival) arrived += a == phase ? 1 : 0;
      os << arrived << " of " << b->threads() << " threads arrived at the cluster barrier, ";
    }
    if (b->finished()) {
      os << "all " << b->threads() << " threads exited";
    } else {
      os << b->describe_deadlock();
    }
  }
  os << " (a barrier that every thread of the cluster or grid must reach: a hang on a GPU)";
  return os.str();
}

// ---- Called on a fiber ----
// barrier.cluster.arrive: the thread counts towards the current phase and goes on; the phase completes when
// every thread of the cluster has arrived. Each thread alternates arrive and wait.
void BlockGroup::cluster_barrier_arrive(BlockRun& me) {
  if (!check_clusters(me, "the cluster barrier")) return;
  if (me.cluster_arrival.empty()) me.cluster_arrival.assign(static_cast<std::size_t>(me.threads()), -1);
  long long& mine = me.cluster_arrival[static_cast<std::size_t>(me.current_thread())];
  if (mine >= 0) {
    me.fail("thread " + std::to_string(me.current_thread()) + " of " + block_name(me) +
            " arrived at the cluster barrier twice (barrier_arrive() without barrier_wait() in between)");
    return;
  }
  const std::size_t c = static_cast<std::size_t>(me.cluster);
  mine = cluster_phase_[c];
  if (++cluster_arrived_[c] == me.threads() * blocks_per_cluster_) {
    cluster_arrived_[c] = 0;
    ++cluster_phase_[c];
    for (BlockRun* b : clusters_[c]) b->release(FiberState::kAtClusterBarrier);
  }
}

// barrier.cluster.wait: blocks until the phase the thread arrived in has completed.
void BlockGroup::cluster_barrier_wait(BlockRun& me) {
  if (!check_clusters(me, "the cluster barrier")) return;
  const std::size_t t = static_cast<std::size_t>(me.current_thread());
  if (me.cluster_arrival.empty() || me.cluster_arrival[t] < 0) {
    me.fail("thread " + std::to_string(t) + " of " + block_name(me) +
            " waits at the cluster barrier without having arrived (barrier_wait() without barrier_arrive())");
    return;
  }
  const long long arrived_in = me.cluster_arrival[t];
  while (cluster_phase_[static_cast<std::size_t>(me.cluster)] <= arrived_in) {
    if (!me.wait(FiberState::kAtClusterBarrier)) return;
  }
  me.cluster_arrival[t] = -1;
}

void BlockGroup::grid_barrier(BlockRun& me) {
  if (!launch_.cooperative) {
    me.fail("grid.sync() in a launch that is not cooperative (cudaLaunchCooperativeKernel or the cooperative "
            "launch attribute): a GPU does not guarantee that every block of the grid is resident");
    return;
  }
  if (++grid_arrived_ == me.threads() * static_cast<int>(blocks_.size())) {
    grid_arrived_ = 0;
    for (BlockRun* b : blocks_) b->release(FiberState::kAtGridBarrier);
    return;
  }
  me.wait(FiberState::kAtGridBarrier);
}

void* BlockGroup::map_shared_rank(BlockRun& me, const void* p, unsigned rank) {
  if (!check_clusters(me, "cluster.map_shared_rank()")) return nullptr;
  if (rank >= static_cast<unsigned>(blocks_per_cluster_)) {
    me.fail("cluster.map_shared_rank(p, " + std::to_string(rank) + "): the cluster has " +
            std::to_string(blocks_per_cluster_) + " block(s)");
    return nullptr;
  }
  const auto* q = static_cast<const unsigned char*>(p);
  BlockRun* peer = clusters_[static_cast<std::size_t>(me.cluster)][rank];
  if (within(q, me.dynamic_shared(), launch_.shared_bytes)) return peer->dynamic_shared() + (q - me.dynamic_shared());
  if (within(q, static_shared_begin(), static_shared_bytes())) {
    // The peer does not run while this block does: its static variables are in its own copy.
    if (peer == &me || !swaps_static_shared_) return const_cast<unsigned char*>(q);
    return peer->static_shared.data() + (q - static_shared_begin());
  }
  me.fail("cluster.map_shared_rank(" + pointer_text(p) + ", " + std::to_string(rank) +
          "): not the block's shared memory (a __shared__ variable or the dynamic shared memory)");
  return nullptr;
}

std::string run_blocks(const KernelLaunch& launch) {
  gridDim = launch.grid;
  blockDim = launch.block;
  const dim3 g = launch.grid;
  if (!launch.clustered && !launch.cooperative) {
    std::vector<unsigned char> shared(launch.shared_bytes, 0xff);  // uninitialised: reads give NaNs
    BlockGroup group(launch, 1, 1);
    for (unsigned z = 0; z < g.z; ++z) {
      for (unsigned y = 0; y < g.y; ++y) {
        for (unsigned x = 0; x < g.x; ++x) {
          BlockRun block(launch, dim3(x, y, z), shared.empty() ? nullptr : shared.data(), group);
          const std::string fault = group.run({&block});
          if (!fault.empty()) return block_name(block) + ": " + fault;
        }
      }
    }
    return "";
  }
  // Clusters (1x1x1 for a cooperative launch without them), in rank order; a cooperative launch runs all of
  // them as one group, a cluster launch one cluster after another.
  const dim3 c = launch.clustered ? launch.cluster : dim3(1, 1, 1);
  const int per_cluster = static_cast<int>(c.x * c.y * c.z);
  const int clusters = static_cast<int>((g.x / c.x) * (g.y / c.y) * (g.z / c.z));
  const int groups = launch.cooperative ? 1 : clusters;
  const int clusters_per_group = clusters / groups;
  const std::size_t blocks_per_group = static_cast<std::size_t>(clusters_per_group * per_cluster);
  std::vector<unsigned char> shared(blocks_per_group * launch.shared_bytes);
  for (int first = 0; first < clusters; first += clusters_per_group) {
    if (!shared.empty()) std::memset(shared.data(), 0xff, shared.size());
    BlockGroup group(launch, clusters_per_group, per_cluster);
    std::vector<std::unique_ptr<BlockRun>> owned;
    std::vector<BlockRun*> blocks;
    for (int k = 0; k < clusters_per_group; ++k) {
      const unsigned cl = static_cast<unsigned>(first + k);
      const unsigned cx = cl % (g.x / c.x), cy = (cl / (g.x / c.x)) % (g.y / c.y), cz = cl / ((g.x / c.x) * (g.y / c.y));
      for (int r = 0; r < per_cluster; ++r) {
        const unsigned rx = static_cast<unsigned>(r) % c.x, ry = (static_cast<unsigned>(r) / c.x) % c.y,
                       rz = static_cast<unsigned>(r) / (c.x * c.y);
        unsigned char* mine = launch.shared_bytes == 0 ? nullptr : shared.data() + blocks.size() * launch.shared_bytes;
        owned.push_back(std::make_unique<BlockRun>(launch, dim3(cx * c.x + rx, cy * c.y + ry, cz * c.z + rz), mine, group));
        owned.back()->cluster = k;
        owned.back()->rank = r;
        blocks.push_back(owned.back().get());
      }
    }
    const std::string fault = group.run(blocks);
    if (!fault.empty()) return fault;
  }
  return "";
}

}  // namespace cuda_emu::detail

// ---- What emulator/cooperative_groups.h calls -----------------------------------------------------------
namespace cuda_emu {

using detail::BlockRun;

void cluster_sync() {
  BlockRun& me = detail::current_or_abort("cluster.sync()");
  me.group().cluster_barrier_arrive(me);
  me.group().cluster_barrier_wait(me);
}

void cluster_barrier_arrive() {
  BlockRun& me = detail::current_or_abort("cluster barrier_arrive()");
  me.group().cluster_barrier_arrive(me);
}

void cluster_barrier_wait() {
  BlockRun& me = detail::current_or_abort("cluster barrier_wait()");
  me.group().cluster_barrier_wait(me);
}

unsigned cluster_block_rank() { return static_cast<unsigned>(detail::current_or_abort("cluster.block_rank()").rank); }

unsigned cluster_num_blocks() {
  return static_cast<unsigned>(detail::current_or_abort("cluster.num_blocks()").group().blocks_per_cluster());
}

dim3 cluster_dims() {
  const KernelLaunch& l = detail::current_or_abort("cluster.dim_blocks()").group().launch();
  return l.clustered ? l.cluster : dim3(1, 1, 1);
}

void* cluster_map_shared_rank(const void* p, unsigned rank) {
  BlockRun& me = detail::current_or_abort("cluster.map_shared_rank()");
  return me.group().map_shared_rank(me, p, rank);
}

void grid_sync() {
  BlockRun& me = detail::current_or_abort("grid.sync()");
  me.group().grid_barrier(me);
}

bool grid_is_cooperative() { return detail::current_or_abort("this_grid()").group().launch().cooperative; }

}  // namespace cuda_emu
