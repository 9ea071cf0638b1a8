// The shared memory of blocks that run together on the emulator: each block of a cluster or a cooperative
// launch has its own static __shared__ variables, a peer's are reached through map_shared_rank, a block
// arrives on a peer's mbarrier remotely (.shared::cluster, after a cluster-scope fence), and the split cluster
// barrier (barrier_arrive / barrier_wait) orders them. The mistakes a GPU would hang on or corrupt memory with are
// reported: a store into an exited peer's __shared__ variable, an arrive on an exited peer's mbarrier, a
// cluster barrier one block skips, an arrive twice without a wait.
#include <cooperative_groups.h>
#include <cuda/ptx>

#include <cstdint>
#include <string>
#include <vector>

#include "emulator_test.hpp"
#include "kernel_launch.cuh"

namespace cg = cooperative_groups;
namespace ptx = cuda::ptx;

namespace logreg::test {
namespace {

constexpr unsigned kThreads = 64;

cudaError_t launch_clusters(unsigned blocks, unsigned cluster, void (*kernel)(int*), int* out) {
  cudaLaunchAttribute attribute;
  cudaLaunchConfig_t config = cluster_config(dim3(blocks), dim3(kThreads), 0, cluster, &attribute);
  const cudaError_t launched = cudaLaunchKernelEx(&config, kernel, out);
  if (launched != cudaSuccess) return launched;
  return cudaDeviceSynchronize();
}

// Each block writes its own values into a static __shared__ array; after cluster.sync() it reads its own
// back and its neighbour's through map_shared_rank.
__global__ void static_shared_exchange_kernel(int* out) {  // out (2, blocks, kThreads): own, then the neighbour's
  __shared__ int values[kThreads];
  cg::cluster_group cluster = cg::this_cluster();
  const unsigned t = threadIdx.x;
  values[t] = static_cast<int>(blockIdx.x * 1000 + t);
  cluster.sync();
  const unsigned peer = (cluster.block_rank() + 1) % cluster.num_blocks();
  const int* remote = cluster.map_shared_rank(values, peer);
  out[blockIdx.x * kThreads + t] = values[t];
  out[(gridDim.x + blockIdx.x) * kThreads + t] = remote[t];
  cluster.sync();  // no block exits while a peer still reads its values
}

TEST_F(EmulatorTest, EachBlockOfAClusterHasItsOwnStaticSharedVariables) {
  const unsigned blocks = 4, cluster = 2;
  auto out = upload(std::vector<int>(2 * blocks * kThreads, -1));
  ASSERT_EQ(launch_clusters(blocks, cluster, static_shared_exchange_kernel, out.data()), cudaSuccess)
      << cuda_emu::last_fault();
  const std::vector<int> r = download(out);
  for (unsigned b = 0; b < blocks; ++b) {
    const unsigned neighbour = b / cluster * cluster + (b % cluster + 1) % cluster;
    for (unsigned t = 0; t < kThreads; ++t) {
      ASSERT_EQ(r[b * kThreads + t], static_cast<int>(b * 1000 + t)) << b << " " << t;
      ASSERT_EQ(r[(blocks + b) * kThreads + t], static_cast<int>(neighbour * 1000 + t)) << b << " " << t;
    }
  }
}

// Block b keeps its rank in a static __shared__ variable across a grid barrier.
__global__ void static_shared_across_grid_sync_kernel(int* out) {  // out (blocks)
  __shared__ int mine;
  if (threadIdx.x == 0) mine = static_cast<int>(blockIdx.x) + 10;
  cg::this_grid().sync();
  __syncthreads();
  if (threadIdx.x == 0) out[blockIdx.x] = mine;
}

TEST_F(EmulatorTest, EachBlockOfACooperativeLaunchHasItsOwnStaticSharedVariables) {
  auto out = upload(std::vector<int>(3, -1));
  int* o = out.data();
  void* args[] = {&o};
  ASSERT_EQ(cudaLaunchCooperativeKernel(static_shared_across_grid_sync_kernel, dim3(3), dim3(32), args), cudaSuccess);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess) << cuda_emu::last_fault();
  EXPECT_EQ(download(out), (std::vector<int>{10, 11, 12}));
}

__global__ void store_to_exited_peer_static_kernel(int* out) {  // out (blocks)
  __shared__ int values[kThreads];
  cg::cluster_group cluster = cg::this_cluster();
  values[threadIdx.x] = 0;
  cluster.sync();
  int* peer = cluster.map_shared_rank(values, cluster.block_rank() ^ 1u);
  peer[threadIdx.x] += 1;  // the bug: no cluster.sync() after this, so the peer may already have exited
  out[blockIdx.x] = 1;
}

TEST_F(EmulatorTest, AStoreIntoAnExitedPeersStaticSharedVariableIsAnError) {
  cuda::DeviceBuffer<int> out(2);
  EXPECT_EQ(launch_clusters(2, 2, store_to_exited_peer_static_kernel, out.data()), cudaErrorLaunchFailure);
  const std::string fault = cuda_emu::last_fault();
  EXPECT_NE(fault.find("of its static __shared__ variables was written after the block exited"), std::string::npos)
      << fault;
}

// Rank 0 produces into rank 1's static buffer and arrives on rank 1's mbarrier remotely; rank 1, which the
// emulator runs first, only reads once the barrier's phase has completed. Two rounds check the parity.
__global__ void remote_arrive_kernel(int* out) {  // out (2, kThreads): what rank 1 read in each round
  __shared__ std::uint64_t bar;
  __shared__ int data[kThreads];
  cg::cluster_group cluster = cg::this_cluster();
  const unsigned t = threadIdx.x;
  if (cluster.block_rank() == 1 && t == 0) ptx::mbarrier_init(&bar, kThreads);
  cluster.sync();  // the barrier is initialised before any peer arrives
  for (std::uint32_t round = 0; round < 2; ++round) {
    if (cluster.block_rank() == 0) {
      cluster.map_shared_rank(data, 1)[t] = static_cast<int>(100 * (round + 1) + t);
      ptx::mbarrier_arrive(ptx::sem_release, ptx::scope_cluster, ptx::space_cluster, cluster.map_shared_rank(&bar, 1));
    } else {
      while (!ptx::mbarrier_try_wait_parity(ptx::sem_acquire, ptx::scope_cluster, &bar, round & 1u)) {
      }
      out[round * kThreads + t] = data[t];
    }
    cluster.sync();  // rank 0 does not overwrite data before rank 1 has read it
  }
}

TEST_F(EmulatorTest, ARemoteArriveCompletesAPeersMbarrierPhase) {
  auto out = upload(std::vector<int>(2 * kThreads, -1));
  ASSERT_EQ(launch_clusters(2, 2, remote_arrive_kernel, out.data()), cudaSuccess) << cuda_emu::last_fault();
  const std::vector<int> r = download(out);
  for (unsigned t = 0; t < kThreads; ++t) {
    EXPECT_EQ(r[t], static_cast<int>(100 + t)) << t;
    EXPECT_EQ(r[kThreads + t], static_cast<int>(200 + t)) << t;
  }
}

// The cluster kernel's handoff (kernels/cluster_epoch.cu): every thread of each block stores into a slot of
// every peer, then after a block barrier one thread per peer fences (acq_rel.cluster) and arrives on that
// peer's mbarrier remotely, so each barrier counts one arrival per block; a block reads its slots once its
// own barrier's phase has completed. Three rounds over two parity barriers and slots, no cluster barrier
// between rounds: a block pushes round r + 2 only after its own barrier of round r + 1 completed, i.e. after
// every peer had read round r (each arrives for round r + 1 behind the block barrier that follows its reads).
constexpr unsigned kHandoffBlocks = 4;

__global__ void fenced_remote_arrive_kernel(int* out) {  // out (blocks, rounds, blocks, kThreads)
  __shared__ std::uint64_t bars[2];
  __shared__ int slots[2][kHandoffBlocks][kThreads];
  cg::cluster_group cluster = cg::this_cluster();
  const unsigned t = threadIdx.x;
  const unsigned rank = cluster.block_rank();
  const unsigned blocks = cluster.num_blocks();
  if (t == 0) {
    ptx::mbarrier_init(&bars[0], blocks);
    ptx::mbarrier_init(&bars[1], blocks);
    ptx::fence_mbarrier_init(ptx::sem_release, ptx::scope_cluster);
  }
  cluster.sync();  // every barrier is initialised before any peer arrives
  for (unsigned round = 0; round < 3; ++round) {
    const unsigned parity = round % 2;
    for (unsigned r = 0; r < blocks; ++r) {
      cluster.map_shared_rank(&slots[parity][rank][0], r)[t] = static_cast<int>(1000 * (round + 1) + 100 * rank + t);
    }
    __syncthreads();
    if (t < blocks) {
      ptx::fence(ptx::sem_acq_rel, ptx::scope_cluster);
      ptx::mbarrier_arrive(ptx::sem_release, ptx::scope_cluster, ptx::space_cluster,
                           cluster.map_shared_rank(&bars[parity], t));
    }
    while (!ptx::mbarrier_try_wait_parity(ptx::sem_acquire, ptx::scope_cluster, &bars[parity], (round / 2) % 2)) {
    }
    for (unsigned r = 0; r < blocks; ++r) {
      out[((rank * 3 + round) * blocks + r) * kThreads + t] = slots[parity][r][t];
    }
  }
  // No cluster barrier at the end: every store into this block and every arrival on its barriers came before
  // its last wait completed, so blocks may exit apart (the emulator poisons an exited block's memory).
}

TEST_F(EmulatorTest, AFenceAndOneRemoteArrivePerBlockHandOverEveryThreadsStores) {
  const std::size_t words = kHandoffBlocks * 3 * kHandoffBlocks * kThreads;
  auto out = upload(std::vector<int>(words, -1));
  ASSERT_EQ(launch_clusters(kHandoffBlocks, kHandoffBlocks, fenced_remote_arrive_kernel, out.data()), cudaSuccess)
      << cuda_emu::last_fault();
  const std::vector<int> got = download(out);
  for (unsigned reader = 0; reader < kHandoffBlocks; ++reader) {
    for (unsigned round = 0; round < 3; ++round) {
      for (unsigned writer = 0; writer < kHandoffBlocks; ++writer) {
        for (unsigned t = 0; t < kThreads; ++t) {
          const std::size_t i = ((reader * 3 + round) * kHandoffBlocks + writer) * kThreads + t;
          ASSERT_EQ(got[i], static_cast<int>(1000 * (round + 1) + 100 * writer + t))
              << "block " << reader << " round " << round << " from block " << writer << " thread " << t;
        }
      }
    }
  }
}

__global__ void arrive_on_exited_peer_kernel(int* out) {  // out (blocks)
  __shared__ std::uint64_t bar;
  cg::cluster_group cluster = cg::this_cluster();
  if (threadIdx.x == 0) ptx::mbarrier_init(&bar, kThreads);
  cluster.sync();
  // The bug: rank 1 leaves at once, and rank 0 arrives on its barrier afterwards (thread 0, which the
  // emulator resumes after rank 1 has run to its end).
  if (cluster.block_rank() == 0 && threadIdx.x == 0) {
    ptx::mbarrier_arrive(ptx::sem_release, ptx::scope_cluster, ptx::space_cluster, cluster.map_shared_rank(&bar, 1));
  }
  out[blockIdx.x] = 1;
}

TEST_F(EmulatorTest, AnArriveOnAnExitedPeersMbarrierIsReported) {
  cuda::DeviceBuffer<int> out(2);
  EXPECT_EQ(launch_clusters(2, 2, arrive_on_exited_peer_kernel, out.data()), cudaErrorLaunchFailure);
  const std::string fault = cuda_emu::last_fault();
  EXPECT_NE(fault.find("in the shared memory of block (1,0,0) rank 1, which has exited"), std::string::npos) << fault;
}

__global__ void remote_arrive_on_global_memory_kernel(int* out) {  // out: holds a 64-bit word
  ptx::mbarrier_arrive(ptx::sem_release, ptx::scope_cluster, ptx::space_cluster, reinterpret_cast<std::uint64_t*>(out));
}

TEST_F(EmulatorTest, ARemoteArriveOnMemoryThatIsNotAClusterBlocksSharedMemoryIsReported) {
  cuda::DeviceBuffer<int> out(2);
  EXPECT_EQ(launch_clusters(2, 2, remote_arrive_on_global_memory_kernel, out.data()), cudaErrorLaunchFailure);
  EXPECT_NE(std::string(cuda_emu::last_fault()).find("not shared memory of a block of this cluster"), std::string::npos)
      << cuda_emu::last_fault();
}

// The split barrier: each block publishes a value, arrives, does work of its own, then waits before it
// reads its neighbour's value.
__global__ void split_cluster_barrier_kernel(int* out) {  // out (blocks, kThreads)
  __shared__ int published;
  __shared__ int own[kThreads];
  cg::cluster_group cluster = cg::this_cluster();
  const unsigned t = threadIdx.x;
  if (t == 0) published = static_cast<int>(blockIdx.x) + 1;
  auto token = cluster.barrier_arrive();
  own[t] = static_cast<int>(t);  // independent of the peers, between arrive and wait
  cluster.barrier_wait(std::move(token));
  const int peer = *cluster.map_shared_rank(&published, cluster.block_rank() ^ 1u);
  out[blockIdx.x * kThreads + t] = 1000 * peer + own[t];
  ptx::barrier_cluster_arrive(ptx::sem_release);  // the same barrier through cuda::ptx: no block exits early
  ptx::barrier_cluster_wait(ptx::sem_acquire);
}

TEST_F(EmulatorTest, TheSplitClusterBarrierOrdersWritesBeforeArriveAndReadsAfterWait) {
  auto out = upload(std::vector<int>(2 * kThreads, -1));
  ASSERT_EQ(launch_clusters(2, 2, split_cluster_barrier_kernel, out.data()), cudaSuccess) << cuda_emu::last_fault();
  const std::vector<int> r = download(out);
  for (unsigned t = 0; t < kThreads; ++t) {
    EXPECT_EQ(r[t], static_cast<int>(2000 + t)) << t;
    EXPECT_EQ(r[kThreads + t], static_cast<int>(1000 + t)) << t;
  }
}

__global__ void skipped_split_barrier_kernel(int* out) {  // out (blocks)
  cg::cluster_group cluster = cg::this_cluster();
  if (cluster.block_rank() == 1) return;  // the bug: rank 1 never arrives
  cluster.barrier_arrive();
  cluster.barrier_wait();
  out[blockIdx.x] = 1;
}

TEST_F(EmulatorTest, ASplitClusterBarrierOneBlockSkipsIsReportedNamingTheBlocks) {
  cuda::DeviceBuffer<int> out(2);
  EXPECT_EQ(launch_clusters(2, 2, skipped_split_barrier_kernel, out.data()), cudaErrorLaunchFailure);
  const std::string fault = cuda_emu::last_fault();
  EXPECT_NE(fault.find("deadlock among the 2 blocks that run together (a cluster)"), std::string::npos) << fault;
  EXPECT_NE(fault.find("reached by 64 of 128 threads of the cluster"), std::string::npos) << fault;
  EXPECT_NE(fault.find("block (0,0,0) rank 0: 64 of 64 threads arrived at the cluster barrier, 64 thread(s) wait at "
                       "the cluster barrier"),
            std::string::npos)
      << fault;
  EXPECT_NE(fault.find("block (1,0,0) rank 1: 0 of 64 threads arrived at the cluster barrier, all 64 threads exited"),
            std::string::npos)
      << fault;
}

__global__ void arrive_twice_kernel(int*) {
  cg::cluster_group cluster = cg::this_cluster();
  cluster.barrier_arrive();
  cluster.barrier_arrive();  // the bug: a second arrive before the wait
  cluster.barrier_wait();
}

TEST_F(EmulatorTest, ArrivingTwiceAtTheClusterBarrierWithoutWaitingIsReported) {
  cuda::DeviceBuffer<int> out(2);
  EXPECT_EQ(launch_clusters(2, 2, arrive_twice_kernel, out.data()), cudaErrorLaunchFailure);
  EXPECT_NE(std::string(cuda_emu::last_fault()).find("arrived at the cluster barrier twice"), std::string::npos)
      << cuda_emu::last_fault();
}

}  // namespace
}  // namespace logreg::test
