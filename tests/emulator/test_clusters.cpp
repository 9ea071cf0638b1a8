// Blocks that run together on the emulator: the blocks of a cluster (cudaLaunchKernelEx with the cluster
// dimension) exchange data through distributed shared memory and cluster.sync(), a cooperative launch
// synchronises its grid, and the failures a GPU would hang on or corrupt memory with are reported: a cluster
// barrier one block skips, a store into the shared memory of a peer that has exited, grid.sync() outside a
// cooperative launch, cluster launches on a device without clusters (LOGREG_EMU_CLUSTERS=0, LOGREG_EMU_CC).
// A kernel compiled with __cluster_dims__ runs in clusters of that shape, and a launch attribute that
// contradicts it is refused.
#include <cooperative_groups.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "emulator_test.hpp"
#include "kernel_launch.cuh"

namespace cg = cooperative_groups;

namespace logreg::test {
namespace {

// Sets an environment variable for one test.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) { setenv(name, value, 1); }
  ~ScopedEnv() { unsetenv(name_); }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
};

// Each block fills its shared memory, then reads its neighbour's (rank + 1 in the cluster) through DSMEM.
__global__ void neighbour_exchange_kernel(int* out, unsigned* ranks) {  // out (blocks, blockDim.x); ranks (blocks, 2)
  LOGREG_DYNAMIC_SHARED(int, tile);
  cg::cluster_group cluster = cg::this_cluster();
  const unsigned t = threadIdx.x;
  tile[t] = static_cast<int>(blockIdx.x * 1000 + t);
  cluster.sync();  // every block's tile is written
  const unsigned peer = (cluster.block_rank() + 1) % cluster.num_blocks();
  const int* remote = cluster.map_shared_rank(tile, peer);
  out[blockIdx.x * blockDim.x + t] = remote[t];
  if (t == 0) {
    ranks[2 * blockIdx.x] = cluster.block_rank();
    ranks[2 * blockIdx.x + 1] = cluster.num_blocks();
  }
  cluster.sync();  // no block exits while a peer still reads its tile
}

TEST_F(EmulatorTest, ClusterBlocksReadEachOthersSharedMemoryBetweenClusterBarriers) {
  const unsigned blocks = 6, threads = 64, cluster = 3;
  auto out = upload(std::vector<int>(blocks * threads, -1));
  auto ranks = upload(std::vector<unsigned>(2 * blocks, 99));
  cudaLaunchAttribute attribute;
  cudaLaunchConfig_t config = cluster_config(dim3(blocks), dim3(threads), threads * sizeof(int), cluster, &attribute);
  ASSERT_EQ(cudaLaunchKernelEx(&config, neighbour_exchange_kernel, out.data(), ranks.data()), cudaSuccess);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess) << cuda_emu::last_fault();
  const std::vector<int> r = download(out);
  const std::vector<unsigned> k = download(ranks);
  for (unsigned b = 0; b < blocks; ++b) {
    const unsigned first = b / cluster * cluster;
    const unsigned neighbour = first + (b - first + 1) % cluster;
    EXPECT_EQ(k[2 * b], b % cluster) << b;
    EXPECT_EQ(k[2 * b + 1], cluster) << b;
    for (unsigned t = 0; t < threads; ++t) ASSERT_EQ(r[b * threads + t], static_cast<int>(neighbour * 1000 + t)) << b << " " << t;
  }
}

TEST_F(EmulatorTest, ALaunchWithoutClustersIsAClusterOfOneBlock) {
  const unsigned blocks = 2, threads = 32;
  auto out = upload(std::vector<int>(blocks * threads, -1));
  auto ranks = upload(std::vector<unsigned>(2 * blocks, 99));
  ASSERT_EQ(run(neighbour_exchange_kernel, dim3(blocks), dim3(threads), threads * sizeof(int), out.data(), ranks.data()),
            cudaSuccess);
  EXPECT_EQ(download(ranks), (std::vector<unsigned>{0, 1, 0, 1}));
  EXPECT_EQ(download(out)[threads + 5], 1005);  // its own tile
}

__global__ void skipped_cluster_barrier_kernel(int* out) {  // out (blocks)
  LOGREG_DYNAMIC_SHARED(int, tile);
  cg::cluster_group cluster = cg::this_cluster();
  if (cluster.block_rank() == 1) return;  // the bug: rank 1 never reaches the cluster barrier
  tile[threadIdx.x] = 1;
  cluster.sync();
  out[blockIdx.x] = 1;
}

TEST_F(EmulatorTest, AClusterBarrierOneBlockSkipsIsReportedNotHung) {
  cuda::DeviceBuffer<int> out(2);
  cudaLaunchAttribute attribute;
  cudaLaunchConfig_t config = cluster_config(dim3(2), dim3(64), 64 * sizeof(int), 2, &attribute);
  ASSERT_EQ(cudaLaunchKernelEx(&config, skipped_cluster_barrier_kernel, out.data()), cudaSuccess);
  EXPECT_EQ(cudaDeviceSynchronize(), cudaErrorLaunchFailure);
  const std::string fault = cuda_emu::last_fault();
  EXPECT_NE(fault.find("the cluster barrier (cluster.sync() or barrier_arrive()) reached by 64 of 128 threads"),
            std::string::npos)
      << fault;
  EXPECT_NE(fault.find("block (0,0,0) rank 0: 64 of 64 threads arrived at the cluster barrier, 64 thread(s) wait at "
                       "the cluster barrier"),
            std::string::npos)
      << fault;
  EXPECT_NE(fault.find("block (1,0,0) rank 1: 0 of 64 threads arrived at the cluster barrier, all 64 threads exited"),
            std::string::npos)
      << fault;
}

__global__ void store_to_exited_peer_kernel(int* out) {  // out (blocks)
  LOGREG_DYNAMIC_SHARED(int, tile);
  cg::cluster_group cluster = cg::this_cluster();
  tile[threadIdx.x] = 0;
  cluster.sync();
  int* peer = cluster.map_shared_rank(tile, cluster.block_rank() ^ 1u);
  peer[threadIdx.x] += 1;  // the bug: no cluster.sync() after this, so the peer may already have exited
  out[blockIdx.x] = 1;
}

TEST_F(EmulatorTest, AStoreIntoTheSharedMemoryOfAnExitedPeerIsAnError) {
  cuda::DeviceBuffer<int> out(2);
  cudaLaunchAttribute attribute;
  cudaLaunchConfig_t config = cluster_config(dim3(2), dim3(32), 32 * sizeof(int), 2, &attribute);
  ASSERT_EQ(cudaLaunchKernelEx(&config, store_to_exited_peer_kernel, out.data()), cudaSuccess);
  EXPECT_EQ(cudaDeviceSynchronize(), cudaErrorLaunchFailure);
  const std::string fault = cuda_emu::last_fault();
  EXPECT_NE(fault.find("written after the block exited"), std::string::npos) << fault;
}

__global__ void map_global_memory_kernel(int* out) {  // out (32)
  out[threadIdx.x] = *cg::this_cluster().map_shared_rank(out + threadIdx.x, 0);
}

TEST_F(EmulatorTest, MappingMemoryThatIsNotSharedMemoryIsReported) {
  cuda::DeviceBuffer<int> out(32);
  cudaLaunchAttribute attribute;
  cudaLaunchConfig_t config = cluster_config(dim3(2), dim3(32), 0, 2, &attribute);
  ASSERT_EQ(cudaLaunchKernelEx(&config, map_global_memory_kernel, out.data()), cudaSuccess);
  EXPECT_EQ(cudaDeviceSynchronize(), cudaErrorLaunchFailure);
  EXPECT_NE(std::string(cuda_emu::last_fault()).find("not the block's shared memory"), std::string::npos)
      << cuda_emu::last_fault();
}

TEST_F(EmulatorTest, ClusterLaunchesNeedWholeClustersOfAtMostEightBlocks) {
  cuda::DeviceBuffer<int> out(64);
  cudaLaunchAttribute attribute;
  cudaLaunchConfig_t config = cluster_config(dim3(3), dim3(32), 32 * sizeof(int), 2, &attribute);
  EXPECT_EQ(cudaLaunchKernelEx(&config, store_to_exited_peer_kernel, out.data()), cudaErrorInvalidClusterSize);
  config = cluster_config(dim3(16), dim3(32), 32 * sizeof(int), 16, &attribute);
  EXPECT_EQ(cudaLaunchKernelEx(&config, store_to_exited_peer_kernel, out.data()), cudaErrorInvalidClusterSize);
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidClusterSize);
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);  // a launch error is not sticky
}

TEST_F(EmulatorTest, ADeviceWithoutClustersRefusesClusterLaunches) {
  int supported = -1;
  ASSERT_EQ(cudaDeviceGetAttribute(&supported, cudaDevAttrClusterLaunch, 0), cudaSuccess);
  EXPECT_EQ(supported, 1);
  cuda::DeviceBuffer<int> out(64);
  auto ranks = upload(std::vector<unsigned>(4, 0));
  cudaLaunchAttribute attribute;
  cudaLaunchConfig_t config = cluster_config(dim3(2), dim3(32), 32 * sizeof(int), 2, &attribute);
  for (const char* env : {"LOGREG_EMU_CLUSTERS", "LOGREG_EMU_CC"}) {
    ScopedEnv off(env, std::string(env) == "LOGREG_EMU_CC" ? "80" : "0");
    ASSERT_EQ(cudaDeviceGetAttribute(&supported, cudaDevAttrClusterLaunch, 0), cudaSuccess);
    EXPECT_EQ(supported, 0) << env;
    EXPECT_EQ(cudaLaunchKernelEx(&config, neighbour_exchange_kernel, out.data(), ranks.data()), cudaErrorNotSupported) << env;
    int clusters = -1;
    EXPECT_EQ(cudaOccupancyMaxActiveClusters(&clusters, neighbour_exchange_kernel, &config), cudaErrorNotSupported) << env;
    (void)cudaGetLastError();
  }
  EXPECT_EQ(cudaLaunchKernelEx(&config, neighbour_exchange_kernel, out.data(), ranks.data()), cudaSuccess);
  EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
}

TEST_F(EmulatorTest, MaxActiveClustersCountsWholeClustersOfResidentBlocks) {
  ScopedEnv sms("LOGREG_EMU_SMS", "4");
  cudaLaunchAttribute attribute;
  cudaLaunchConfig_t config = cluster_config(dim3(8), dim3(1024), 0, 2, &attribute);
  int clusters = -1;
  ASSERT_EQ(cudaOccupancyMaxActiveClusters(&clusters, neighbour_exchange_kernel, &config), cudaSuccess);
  EXPECT_EQ(clusters, 4);  // 2 blocks of 1024 threads per multiprocessor, 4 multiprocessors, 2 blocks per cluster
  config = cluster_config(dim3(8), dim3(128), 100 << 10, 4, &attribute);
  ASSERT_EQ(cudaOccupancyMaxActiveClusters(&clusters, neighbour_exchange_kernel, &config), cudaSuccess);
  EXPECT_EQ(clusters, 2);  // 100 KiB each: 2 blocks per multiprocessor
}

// Compiled with its cluster shape: each block reports its rank and its cluster's size.
__global__ void __cluster_dims__(2, 1, 1) compiled_pairs_kernel(int* out) {  // out (blocks, 2)
  cg::cluster_group cluster = cg::this_cluster();
  if (threadIdx.x == 0) {
    out[2 * blockIdx.x] = static_cast<int>(cluster.block_rank());
    out[2 * blockIdx.x + 1] = static_cast<int>(cluster.num_blocks());
  }
  cluster.sync();
}

__global__ void __cluster_dims__(4) compiled_quads_kernel(int* out) {  // out (blocks, 2); y and z default to 1
  cg::cluster_group cluster = cg::this_cluster();
  if (threadIdx.x == 0) {
    out[2 * blockIdx.x] = static_cast<int>(cluster.block_rank());
    out[2 * blockIdx.x + 1] = static_cast<int>(cluster.dim_blocks().x * 10 + cluster.dim_blocks().y);
  }
  cluster.sync();
}

TEST_F(EmulatorTest, AKernelCompiledWithClusterDimsRunsInThoseClustersWithoutALaunchAttribute) {
  auto out = upload(std::vector<int>(8, -1));
  ASSERT_EQ(run(compiled_pairs_kernel, dim3(4), dim3(32), 0, out.data()), cudaSuccess) << cuda_emu::last_fault();
  EXPECT_EQ(download(out), (std::vector<int>{0, 2, 1, 2, 0, 2, 1, 2}));
  ASSERT_EQ(run(compiled_quads_kernel, dim3(4), dim3(32), 0, out.data()), cudaSuccess) << cuda_emu::last_fault();
  EXPECT_EQ(download(out), (std::vector<int>{0, 41, 1, 41, 2, 41, 3, 41}));
  cudaFuncAttributes attributes{};
  ASSERT_EQ(cudaFuncGetAttributes(&attributes, compiled_pairs_kernel), cudaSuccess);
  EXPECT_EQ(attributes.requiredClusterWidth, 2);
  EXPECT_EQ(attributes.requiredClusterHeight, 1);
  EXPECT_EQ(attributes.requiredClusterDepth, 1);
  ASSERT_EQ(cudaFuncGetAttributes(&attributes, neighbour_exchange_kernel), cudaSuccess);
  EXPECT_EQ(attributes.requiredClusterWidth, 0);  // no compiled shape
}

TEST_F(EmulatorTest, AClusterAttributeMustRepeatTheKernelsClusterDims) {
  auto out = upload(std::vector<int>(8, -1));
  cudaLaunchAttribute attribute;
  cudaLaunchConfig_t config = cluster_config(dim3(4), dim3(32), 0, 2, &attribute);
  ASSERT_EQ(cudaLaunchKernelEx(&config, compiled_pairs_kernel, out.data()), cudaSuccess);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess) << cuda_emu::last_fault();
  EXPECT_EQ(download(out), (std::vector<int>{0, 2, 1, 2, 0, 2, 1, 2}));
  config = cluster_config(dim3(4), dim3(32), 0, 4, &attribute);
  EXPECT_EQ(cudaLaunchKernelEx(&config, compiled_pairs_kernel, out.data()), cudaErrorInvalidClusterSize);
  EXPECT_NE(std::string(cuda_emu::last_fault()).find("compiled with __cluster_dims__(2, 1, 1)"), std::string::npos)
      << cuda_emu::last_fault();
  (void)cudaGetLastError();
  // The grid must be whole clusters of the compiled shape too.
  EXPECT_EQ(run(compiled_pairs_kernel, dim3(3), dim3(32), 0, out.data()), cudaErrorInvalidClusterSize);
  (void)cudaGetLastError();
}

// Block b writes slot b, the grid synchronises, block b reads slot b + 1: only right if every block waits.
__global__ void grid_rotate_kernel(int* slots, int* out) {  // slots, out (blocks)
  cg::grid_group grid = cg::this_grid();
  const unsigned b = static_cast<unsigned>(grid.block_rank());
  if (threadIdx.x == 0) slots[b] = static_cast<int>(b) + 100;
  grid.sync();
  if (threadIdx.x == 0) out[b] = slots[(b + 1) % grid.num_blocks()];
  grid.sync();
  if (threadIdx.x == 0) slots[b] = grid.is_valid() ? -1 : -2;
}

TEST_F(EmulatorTest, ACooperativeLaunchSynchronisesItsWholeGrid) {
  const int blocks = 5;
  auto slots = upload(std::vector<int>(blocks, 0));
  auto out = upload(std::vector<int>(blocks, 0));
  int* s = slots.data();
  int* o = out.data();
  void* args[] = {&s, &o};
  ASSERT_EQ(cudaLaunchCooperativeKernel(grid_rotate_kernel, dim3(blocks), dim3(64), args), cudaSuccess);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess) << cuda_emu::last_fault();
  EXPECT_EQ(download(out), (std::vector<int>{101, 102, 103, 104, 100}));
  EXPECT_EQ(download(slots), std::vector<int>(blocks, -1));
}

TEST_F(EmulatorTest, GridSyncOutsideACooperativeLaunchIsReported) {
  cuda::DeviceBuffer<int> slots(2), out(2);
  EXPECT_EQ(run(grid_rotate_kernel, dim3(2), dim3(32), 0, slots.data(), out.data()), cudaErrorLaunchFailure);
  EXPECT_NE(std::string(cuda_emu::last_fault()).find("grid.sync() in a launch that is not cooperative"), std::string::npos)
      << cuda_emu::last_fault();
}

TEST_F(EmulatorTest, ACooperativeGridMustBeResidentAtOnce) {
  cuda::DeviceBuffer<int> slots(64), out(64);
  int* s = slots.data();
  int* o = out.data();
  void* args[] = {&s, &o};
  int per_sm = 0;
  ASSERT_EQ(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, grid_rotate_kernel, 1024, 0), cudaSuccess);
  EXPECT_EQ(per_sm, 2);
  const std::size_t shared = 100 << 10;  // two blocks per multiprocessor
  ASSERT_EQ(cudaFuncSetAttribute(grid_rotate_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(shared)),
            cudaSuccess);
  EXPECT_EQ(cudaLaunchCooperativeKernel(grid_rotate_kernel, dim3(3), dim3(32), args, shared),
            cudaErrorCooperativeLaunchTooLarge);
  (void)cudaGetLastError();
  ScopedEnv sms("LOGREG_EMU_SMS", "2");
  EXPECT_EQ(cudaLaunchCooperativeKernel(grid_rotate_kernel, dim3(3), dim3(32), args, shared), cudaSuccess);
  EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
}

}  // namespace
}  // namespace logreg::test
