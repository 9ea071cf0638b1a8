// The checks a real GPU leaves to compute-sanitizer or to a hang, each stopping with the kernel's name: a
// barrier that not every thread reaches, a warp op a lane never joins, host memory in a kernel, a block
// over 1024 threads or over its __launch_bounds__, and dynamic shared memory over 48 KiB without opt-in.
#include <string>
#include <vector>

#include "emulator_test.hpp"
#include "kernel_launch.cuh"
#include "logreg/errors.hpp"
#include "test_support.hpp"

namespace logreg::test {
namespace {

__global__ void early_exit_barrier_kernel(int* out) {  // (blockDim.x)
  if (threadIdx.x == 17) return;  // the bug: thread 17 never reaches the barrier
  __syncthreads();
  out[threadIdx.x] = 1;
}

TEST_F(EmulatorTest, BarrierNotEveryThreadReachesIsReportedNotHung) {
  cuda::DeviceBuffer<int> out(64);
  EXPECT_EQ(run(early_exit_barrier_kernel, dim3(1), dim3(64), 0, out.data()), cudaErrorLaunchFailure);
  const std::string fault = cuda_emu::last_fault();
  EXPECT_NE(fault.find("kernel test_kernel"), std::string::npos) << fault;
  EXPECT_NE(fault.find("__syncthreads() reached by 63 of 64 threads"), std::string::npos) << fault;
  EXPECT_NE(fault.find("the first: thread 17"), std::string::npos) << fault;
}

__global__ void missing_lane_kernel(int* out) {
  if (threadIdx.x == 3) return;  // lane 3 is named in the mask but never joins
  out[threadIdx.x] = __shfl_sync(0xffffffffu, static_cast<int>(threadIdx.x), 0);
}

TEST_F(EmulatorTest, WarpOpALaneNeverJoinsIsReported) {
  cuda::DeviceBuffer<int> out(32);
  EXPECT_EQ(run(missing_lane_kernel, dim3(1), dim3(32), 0, out.data()), cudaErrorLaunchFailure);
  EXPECT_NE(std::string(cuda_emu::last_fault()).find("warp-synchronous op"), std::string::npos) << cuda_emu::last_fault();
}

__global__ void write_kernel(float* x) { x[threadIdx.x] = 1.0f; }

TEST_F(EmulatorTest, KernelOnHostMemoryIsAnIllegalAddressNamingTheKernel) {
  std::vector<float> host(4);
  const cudaError_t launched = cuda_emu::launch("write_kernel", write_kernel, dim3(1), dim3(4), 0, nullptr, 0, host.data());
  EXPECT_EQ(launched, cudaSuccess);  // found when it runs, as on a GPU
  EXPECT_EQ(cudaDeviceSynchronize(), cudaErrorIllegalAddress);
  EXPECT_NE(std::string(cuda_emu::last_fault()).find("kernel write_kernel: pointer argument 1"), std::string::npos)
      << cuda_emu::last_fault();
  EXPECT_EQ(host[0], 0.0f);  // never written
}

TEST_F(EmulatorTest, PinnedMemoryIsVisibleToKernels) {
  cuda::PinnedBuffer<float> pinned(4);
  EXPECT_EQ(run(write_kernel, dim3(1), dim3(4), 0, pinned.data()), cudaSuccess);
  EXPECT_EQ(pinned.data()[3], 1.0f);
}

TEST_F(EmulatorTest, BlocksOver1024ThreadsAreInvalidConfigurations) {
  cuda::DeviceBuffer<float> x(2048);
  EXPECT_EQ(run(write_kernel, dim3(1), dim3(1025), 0, x.data()), cudaErrorInvalidConfiguration);
  EXPECT_EQ(run(write_kernel, dim3(1), dim3(32, 33), 0, x.data()), cudaErrorInvalidConfiguration);
  EXPECT_EQ(run(write_kernel, dim3(0), dim3(32), 0, x.data()), cudaErrorInvalidConfiguration);
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidConfiguration);
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);  // a launch error is not sticky
  EXPECT_EQ(run(write_kernel, dim3(1), dim3(1024), 0, x.data()), cudaSuccess);
}

TEST_F(EmulatorTest, TheProjectsLauncherNamesTheKernelWhenItsLaunchBoundsAreExceeded) {
  cuda::DeviceBuffer<float> x(512);
  kernels::LaunchShape shape = kernels::bounded(kernels::single_block_shape(512), 256);
  EXPECT_TRUE(ThrowsWith<ResourceError>([&] { kernels::launch_kernel("write_kernel", write_kernel, shape, nullptr, x.data()); },
                                        {"launch of write_kernel", "cudaErrorLaunchOutOfResources"}));
  shape.block = 256;
  EXPECT_NO_THROW(kernels::launch_kernel("write_kernel", write_kernel, shape, nullptr, x.data()));
  EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
}

__global__ void dynamic_shared_kernel(float* out, int n) {  // out (n): reversed through dynamic shared memory
  LOGREG_DYNAMIC_SHARED(float, tile);
  const int t = static_cast<int>(threadIdx.x);
  for (int i = t; i < n; i += static_cast<int>(blockDim.x)) tile[i] = static_cast<float>(i);
  __syncthreads();
  for (int i = t; i < n; i += static_cast<int>(blockDim.x)) out[i] = tile[n - 1 - i];
}

TEST_F(EmulatorTest, DynamicSharedMemoryOver48KiBNeedsTheOptIn) {
  const int n = 16384;  // 64 KiB of floats
  cuda::DeviceBuffer<float> out(n);
  const std::size_t bytes = n * sizeof(float);
  EXPECT_EQ(run(dynamic_shared_kernel, dim3(1), dim3(256), bytes, out.data(), n), cudaErrorInvalidValue);
  EXPECT_NE(std::string(cuda_emu::last_fault()).find("cudaFuncSetAttribute"), std::string::npos);
  (void)cudaGetLastError();
  ASSERT_EQ(cudaFuncSetAttribute(dynamic_shared_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes)),
            cudaSuccess);
  ASSERT_EQ(run(dynamic_shared_kernel, dim3(1), dim3(256), bytes, out.data(), n), cudaSuccess);
  const std::vector<float> r = download(out);
  EXPECT_EQ(r[0], static_cast<float>(n - 1));
  EXPECT_EQ(r[n - 1], 0.0f);
  EXPECT_EQ(cudaFuncSetAttribute(dynamic_shared_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, 300 << 10),
            cudaErrorInvalidValue);
  (void)cudaGetLastError();
}

}  // namespace
}  // namespace logreg::test
