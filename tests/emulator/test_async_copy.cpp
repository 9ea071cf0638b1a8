// Asynchronous copies and mbarriers on the emulator against CUDA's documented semantics: a cp.async
// destination holds poison (NaN floats) until the issuing thread waits for its commit group, so a missing
// wait is caught; __pipeline_wait_prior(n) leaves the n newest groups in flight; an mbarrier's waiters go on
// only once its phase completes (every arrival and, for cp.async.bulk, every transaction byte), phases
// alternate parity, and a phase that never completes is reported, not hung on.
#include <cuda/ptx>
#include <cuda_pipeline.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "emulator_test.hpp"
#include "kernel_launch.cuh"

namespace ptx = cuda::ptx;

namespace logreg::test {
namespace {

std::vector<float> iota_floats(std::size_t n) {
  std::vector<float> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<float>(i) + 0.5f;
  return v;
}

// Each thread copies 4 floats into the tile and reads its first one before and after waiting.
__global__ void cp_async_kernel(const float* src, float* before, float* after) {  // src (4 * blockDim.x)
  LOGREG_DYNAMIC_SHARED(float, tile);
  const unsigned t = threadIdx.x;
  __pipeline_memcpy_async(tile + 4 * t, src + 4 * t, 16);
  __pipeline_commit();
  before[t] = tile[4 * t];
  __pipeline_wait_prior(0);
  after[t] = tile[4 * t];
}

TEST_F(EmulatorTest, ACpAsyncDestinationReadsAsNaNUntilTheWait) {
  const unsigned threads = 32;
  auto src = upload(iota_floats(4 * threads));
  cuda::DeviceBuffer<float> before(threads), after(threads);
  ASSERT_EQ(run(cp_async_kernel, dim3(1), dim3(threads), 4 * threads * sizeof(float), src.data(), before.data(), after.data()),
            cudaSuccess);
  const std::vector<float> b = download(before), a = download(after);
  for (unsigned t = 0; t < threads; ++t) {
    EXPECT_TRUE(std::isnan(b[t])) << t << ": " << b[t];
    EXPECT_EQ(a[t], static_cast<float>(4 * t) + 0.5f) << t;
  }
}

// The bug a missing wait makes: thread t reads the chunk thread t + 1 copied, after a barrier but with no
// __pipeline_wait_prior by the thread that issued it.
__global__ void missing_wait_kernel(const float* src, float* out) {  // src (4 * blockDim.x); out (blockDim.x)
  LOGREG_DYNAMIC_SHARED(float, tile);
  const unsigned t = threadIdx.x;
  __pipeline_memcpy_async(tile + 4 * t, src + 4 * t, 16);
  __pipeline_commit();
  __syncthreads();
  out[t] = tile[4 * ((t + 1) % blockDim.x)];
  __pipeline_wait_prior(0);
}

TEST_F(EmulatorTest, AMissingCpAsyncWaitShowsAsPoison) {
  const unsigned threads = 64;
  auto src = upload(iota_floats(4 * threads));
  cuda::DeviceBuffer<float> out(threads);
  ASSERT_EQ(run(missing_wait_kernel, dim3(1), dim3(threads), 4 * threads * sizeof(float), src.data(), out.data()),
            cudaSuccess);
  // One thread reads a chunk whose issuer has already waited (fibers run one after another): all others
  // read poison.
  int poisoned = 0;
  for (float v : download(out)) poisoned += std::isnan(v) ? 1 : 0;
  EXPECT_EQ(poisoned, static_cast<int>(threads) - 1);
}

// Two commit groups: waiting for all but the newest lands the first only.
__global__ void two_groups_kernel(const float* src, float* out) {  // src (8); out (2): after wait_prior(1)
  LOGREG_DYNAMIC_SHARED(float, tile);
  __pipeline_memcpy_async(tile, src, 16);
  __pipeline_commit();
  __pipeline_memcpy_async(tile + 4, src + 4, 16);
  __pipeline_commit();
  __pipeline_wait_prior(1);
  out[0] = tile[0];
  out[1] = tile[4];
  __pipeline_wait_prior(0);
}

TEST_F(EmulatorTest, PipelineWaitPriorLeavesTheNewestGroupsInFlight) {
  auto src = upload(iota_floats(8));
  cuda::DeviceBuffer<float> out(2);
  ASSERT_EQ(run(two_groups_kernel, dim3(1), dim3(1), 8 * sizeof(float), src.data(), out.data()), cudaSuccess);
  const std::vector<float> r = download(out);
  EXPECT_EQ(r[0], 0.5f);
  EXPECT_TRUE(std::isnan(r[1])) << r[1];
  const std::vector<unsigned char> bytes = [&] {
    std::vector<unsigned char> b(4);
    std::memcpy(b.data(), &r[1], 4);
    return b;
  }();
  EXPECT_EQ(bytes, (std::vector<unsigned char>{0xAB, 0xAB, 0xAB, 0xFF}));  // the poison, byte for byte
}

// Warp 1 produces, warp 0 consumes: thread 0 runs first on the emulator, so only a wait that really blocks
// until warp 1's arrivals gives warp 0 the data. Two phases check the parity.
__global__ void producer_consumer_kernel(int* out) {  // out (2, 32): what warp 0 read in each phase
  __shared__ std::uint64_t bar;
  __shared__ int data[32];
  const unsigned t = threadIdx.x;
  if (t == 0) ptx::mbarrier_init(&bar, 64);
  __syncthreads();
  for (std::uint32_t phase = 0; phase < 2; ++phase) {
    if (t >= 32) data[t - 32] = static_cast<int>(100 * (phase + 1) + t - 32);
    ptx::mbarrier_arrive(&bar);
    while (!ptx::mbarrier_try_wait_parity(&bar, phase & 1u)) {
    }
    if (t < 32) out[phase * 32 + t] = data[t];
    __syncthreads();  // warp 1 does not overwrite data before warp 0 has read it
  }
}

TEST_F(EmulatorTest, MbarrierWaitersGoOnOnlyOnceThePhaseCompletes) {
  cuda::DeviceBuffer<int> out(64);
  ASSERT_EQ(run(producer_consumer_kernel, dim3(1), dim3(64), 0, out.data()), cudaSuccess) << cuda_emu::last_fault();
  const std::vector<int> r = download(out);
  for (int i = 0; i < 32; ++i) {
    EXPECT_EQ(r[i], 100 + i) << i;
    EXPECT_EQ(r[32 + i], 200 + i) << i;
  }
}

// Thread 0 announces the bytes and issues one bulk copy; every thread arrives, reads early, waits, reads.
__global__ void bulk_copy_kernel(const float* src, unsigned n, unsigned announced, float* early, float* late) {
  LOGREG_DYNAMIC_SHARED(float, tile);  // (n)
  __shared__ std::uint64_t bar;
  const unsigned t = threadIdx.x;
  if (t == 0) {
    ptx::mbarrier_init(&bar, blockDim.x);
    ptx::fence_proxy_async();
  }
  __syncthreads();
  if (t == 0) {
    ptx::cp_async_bulk(ptx::space_shared, ptx::space_global, tile, src, n * 4u, &bar);
    ptx::mbarrier_arrive_expect_tx(ptx::sem_release, ptx::scope_cta, ptx::space_shared, &bar, announced);
  } else {
    ptx::mbarrier_arrive(&bar);
  }
  early[t] = tile[t];
  while (!ptx::mbarrier_try_wait_parity(ptx::sem_acquire, ptx::scope_cta, &bar, 0)) {
  }
  late[t] = tile[t];
}

TEST_F(EmulatorTest, ABulkCopyLandsWhenItsMbarrierCompletesAndReadsAsNaNBefore) {
  const unsigned n = 64;
  auto src = upload(iota_floats(n));
  cuda::DeviceBuffer<float> early(n), late(n);
  ASSERT_EQ(run(bulk_copy_kernel, dim3(1), dim3(n), n * sizeof(float), src.data(), n, n * 4u, early.data(), late.data()),
            cudaSuccess)
      << cuda_emu::last_fault();
  const std::vector<float> e = download(early), l = download(late);
  // The last arrival completes the phase while the others wait, so the copy has landed when it reads early:
  // every other thread reads poison.
  int poisoned = 0;
  for (unsigned t = 0; t < n; ++t) {
    poisoned += std::isnan(e[t]) ? 1 : 0;
    EXPECT_EQ(l[t], static_cast<float>(t) + 0.5f) << t;
  }
  EXPECT_EQ(poisoned, static_cast<int>(n) - 1);
}

TEST_F(EmulatorTest, AnMbarrierPhaseThatNeverCompletesIsReportedNotHung) {
  const unsigned n = 32;
  auto src = upload(iota_floats(n));
  cuda::DeviceBuffer<float> early(n), late(n);
  // 16 bytes more announced than copied: the transaction count never reaches zero.
  EXPECT_EQ(run(bulk_copy_kernel, dim3(1), dim3(n), n * sizeof(float), src.data(), n, n * 4u + 16u, early.data(),
                late.data()),
            cudaErrorLaunchFailure);
  const std::string fault = cuda_emu::last_fault();
  EXPECT_NE(fault.find("32 thread(s) wait in an mbarrier wait whose phase never completes"), std::string::npos) << fault;
  EXPECT_NE(fault.find("0 of 32 arrival(s) and 16 transaction byte(s)"), std::string::npos) << fault;
}

__global__ void uninitialised_mbarrier_kernel() {
  __shared__ std::uint64_t bar;
  ptx::mbarrier_arrive(&bar);
}

TEST_F(EmulatorTest, AnMbarrierUsedBeforeItsInitIsReported) {
  EXPECT_EQ(run(uninitialised_mbarrier_kernel, dim3(1), dim3(1), 0), cudaErrorLaunchFailure);
  EXPECT_NE(std::string(cuda_emu::last_fault()).find("which mbarrier_init has not initialised"), std::string::npos)
      << cuda_emu::last_fault();
}

}  // namespace
}  // namespace logreg::test
