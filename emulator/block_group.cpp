// The blocks that run together, and the launch that runs them (run_blocks). An ordinary launch runs its blocks
// one after another, each alone (cheap: one group, one stack pool). The blocks of a cluster (the launch's
// cluster-dimension attribute), or every block of a cooperative launch, run together as fibers of one group,
// so waits between blocks work: cluster.sync(), grid.sync(), an mbarrier in a peer's shared memory, and
// distributed shared memory (map_shared_rank: a pointer into the peer's dynamic shared memory). Deadlocks
// between blocks are reported, naming what each block waits on. What the fibers of one block do is
// block_scheduler.cpp; the cooperative_groups subset kernels call is emulator/cooperative_groups.h.
#include <cstdio>
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

constexpr unsigned char kExitedPoison = 0xAB;

std::string block_name(const BlockRun& b) {
  std::ostringstream os;
  os << "block (" << b.index().x << "," << b.index().y << "," << b.index().z << ")";
  return os.str();
}

BlockRun& current_or_abort(const char* what) {
  BlockRun* b = current_block();
  if (b == nullptr) {
    std::fprintf(stderr, "cuda emulator: %s called outside a kernel\n", what);
    std::abort();
  }
  return *b;
}

// On a device without clusters, cluster code is an error (nvcc would not compile it for that GPU).
bool check_clusters(BlockRun& me, const char* what) {
  if (clusters_supported()) return true;
  me.fail(std::string(what) + " on a device without thread block clusters (compute capability " +
          std::to_string(compute_capability()) + ", LOGREG_EMU_CLUSTERS)");
  return false;
}

}  // namespace

BlockGroup::BlockGroup(const KernelLaunch& launch, int clusters, int blocks_per_cluster)
    : launch_(launch), blocks_per_cluster_(blocks_per_cluster) {
  clusters_.assign(static_cast<std::size_t>(clusters), std::vector<BlockRun*>(static_cast<std::size_t>(blocks_per_cluster)));
  cluster_arrived_.assign(static_cast<std::size_t>(clusters), 0);
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
  while (fault.empty()) {
    bool ran = false;
    // Highest rank first: a block that ends early ends before its peers use it, so a missing cluster.sync()
    // before exit shows.
    for (auto it = blocks_.rbegin(); it != blocks_.rend() && fault.empty(); ++it) {
      if (!(*it)->finished()) ran = (*it)->step() || ran;
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
  if (fault.empty()) fault = check_exited_blocks_untouched();
  return fault;
}

void BlockGroup::block_finished(BlockRun& block) {
  if (blocks_per_cluster_ == 1 || block.dynamic_shared() == nullptr) return;
  std::memset(block.dynamic_shared(), kExitedPoison, launch_.shared_bytes);
  poisoned_.push_back(&block);
}

std::string BlockGroup::check_exited_blocks_untouched() const {
  for (const BlockRun* b : poisoned_) {
    for (std::size_t i = 0; i < launch_.shared_bytes; ++i) {
      if (b->dynamic_shared()[i] == kExitedPoison) continue;
      return block_name(*b) + " (rank " + std::to_string(b->rank) + " of its cluster): byte " + std::to_string(i) +
             " of its shared memory was written after the block exited, a distributed shared memory store to an "
             "ended block (a GPU may fault or lose it): keep the cluster together with cluster.sync() until no "
             "peer uses a block's shared memory";
    }
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
    os << "; cluster.sync() reached by " << cluster_arrived_[c] << " of " << per_block * blocks_per_cluster_
       << " threads of the cluster";
  }
  if (grid_arrived_ > 0) {
    os << "; grid.sync() reached by " << grid_arrived_ << " of " << per_block * static_cast<int>(blocks_.size())
       << " threads of the grid";
  }
  for (const BlockRun* b : blocks_) {
    os << "; " << block_name(*b) << " rank " << b->rank << ": ";
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
void BlockGroup::cluster_barrier(BlockRun& me) {
  if (!check_clusters(me, "cluster.sync()")) return;
  int& arrived = cluster_arrived_[static_cast<std::size_t>(me.cluster)];
  if (++arrived == me.threads() * blocks_per_cluster_) {
    arrived = 0;
    for (BlockRun* b : clusters_[static_cast<std::size_t>(me.cluster)]) b->release(FiberState::kAtClusterBarrier);
    return;
  }
  me.wait(FiberState::kAtClusterBarrier);
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
  const auto* q = static_cast<const unsigned char*>(p);
  unsigned char* base = me.dynamic_shared();
  if (base == nullptr || q < base || q >= base + launch_.shared_bytes) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%p", p);
    me.fail(std::string("cluster.map_shared_rank(") + buf + ", " + std::to_string(rank) +
            "): not the block's dynamic shared memory (the emulator maps dynamic shared memory only: a static "
            "__shared__ variable is one object for every block)");
    return nullptr;
  }
  if (rank >= static_cast<unsigned>(blocks_per_cluster_)) {
    me.fail("cluster.map_shared_rank(p, " + std::to_string(rank) + "): the cluster has " +
            std::to_string(blocks_per_cluster_) + " block(s)");
    return nullptr;
  }
  BlockRun* peer = clusters_[static_cast<std::size_t>(me.cluster)][rank];
  return peer->dynamic_shared() + (q - base);
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
  me.group().cluster_barrier(me);
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
