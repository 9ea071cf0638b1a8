// The emulator's <cooperative_groups.h> (LOGREG_CUDA=emulated: emulator/ comes before the toolkit on the
// include path): the subset of CUDA's cooperative groups that kernels here may use, with CUDA's names and
// semantics. this_thread_block(); this_cluster() with block_rank(), num_blocks(), dim_blocks(),
// block_index(), map_shared_rank(ptr, rank) (a pointer into the peer block's shared memory, dynamic or a
// __shared__ variable), sync() and the split barrier (barrier_arrive(), then barrier_wait()); this_grid() with
// sync() (cooperative launches only), is_valid(), block_rank(), num_blocks().
// Not here: tiled partitions, coalesced groups, the collectives of <cooperative_groups/reduce.h>, and grid
// groups of multi-device launches.
#pragma once

#include "cuda_emulator.hpp"

namespace cooperative_groups {

class thread_block {
 public:
  void sync() const { __syncthreads(); }
  static unsigned size() { return blockDim.x * blockDim.y * blockDim.z; }
  static unsigned num_threads() { return size(); }
  static unsigned thread_rank() { return threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z); }
  static dim3 group_index() { return dim3(blockIdx.x, blockIdx.y, blockIdx.z); }
  static dim3 thread_index() { return dim3(threadIdx.x, threadIdx.y, threadIdx.z); }
  static dim3 dim_threads() { return blockDim; }
};

// The blocks of this block's cluster (a launch without clusters is a cluster of one block, as on sm_90).
class cluster_group {
 public:
  struct arrival_token {};
  void sync() const { cuda_emu::cluster_sync(); }
  static arrival_token barrier_arrive() {
    cuda_emu::cluster_barrier_arrive();
    return {};
  }
  static void barrier_wait() { cuda_emu::cluster_barrier_wait(); }
  static void barrier_wait(arrival_token&&) { cuda_emu::cluster_barrier_wait(); }
  static unsigned block_rank() { return cuda_emu::cluster_block_rank(); }
  static unsigned num_blocks() { return cuda_emu::cluster_num_blocks(); }
  static dim3 dim_blocks() { return cuda_emu::cluster_dims(); }
  static dim3 block_index() {
    const dim3 c = cuda_emu::cluster_dims();
    return dim3(blockIdx.x % c.x, blockIdx.y % c.y, blockIdx.z % c.z);
  }
  static unsigned num_threads() { return num_blocks() * thread_block::size(); }
  static unsigned size() { return num_threads(); }
  static unsigned thread_rank() { return block_rank() * thread_block::size() + thread_block::thread_rank(); }
  template <class T>
  static T* map_shared_rank(T* addr, unsigned rank) {
    return static_cast<T*>(cuda_emu::cluster_map_shared_rank(addr, rank));
  }
};

class grid_group {
 public:
  void sync() const { cuda_emu::grid_sync(); }
  static bool is_valid() { return cuda_emu::grid_is_cooperative(); }
  static unsigned long long num_blocks() {
    return static_cast<unsigned long long>(gridDim.x) * gridDim.y * gridDim.z;
  }
  static unsigned long long block_rank() {
    return blockIdx.x + static_cast<unsigned long long>(gridDim.x) * (blockIdx.y + static_cast<unsigned long long>(gridDim.y) * blockIdx.z);
  }
  static unsigned long long num_threads() { return num_blocks() * thread_block::size(); }
  static unsigned long long size() { return num_threads(); }
  static unsigned long long thread_rank() { return block_rank() * thread_block::size() + thread_block::thread_rank(); }
};

inline thread_block this_thread_block() { return {}; }
inline cluster_group this_cluster() { return {}; }
inline grid_group this_grid() { return {}; }

}  // namespace cooperative_groups
