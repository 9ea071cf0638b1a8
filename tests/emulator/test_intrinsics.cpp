// The emulator's intrinsics against CUDA's documented semantics: __shfl_sync and its _up/_down/_xor forms
// with width (sources outside the segment give the lane its own value), votes with lanes outside the mask,
// __activemask after lanes exited, __popc, atomics, and __syncthreads as a block-wide barrier.
#include <cstdint>
#include <vector>

#include "emulator_test.hpp"

namespace logreg::test {
namespace {

enum Shfl { kIdx, kUp, kDown, kXor };

__global__ void shuffle_kernel(int op, int param, int width, int* out) {  // out: (blockDim.x)
  const int lane = static_cast<int>(threadIdx.x);
  const int v = 100 + lane;
  int r = 0;
  switch (op) {
    case kIdx: r = __shfl_sync(0xffffffffu, v, param, width); break;
    case kUp: r = __shfl_up_sync(0xffffffffu, v, static_cast<unsigned>(param), width); break;
    case kDown: r = __shfl_down_sync(0xffffffffu, v, static_cast<unsigned>(param), width); break;
    default: r = __shfl_xor_sync(0xffffffffu, v, param, width); break;
  }
  out[lane] = r;
}

std::vector<int> shuffle(int op, int param, int width) {
  cuda::DeviceBuffer<int> out(32);
  EXPECT_EQ(run(shuffle_kernel, dim3(1), dim3(32), 0, op, param, width, out.data()), cudaSuccess);
  return download(out);
}

TEST_F(EmulatorTest, ShflIdxReadsTheSourceLaneModuloWidth) {
  const std::vector<int> full = shuffle(kIdx, 5, 32);
  for (int lane = 0; lane < 32; ++lane) EXPECT_EQ(full[lane], 105) << lane;
  // width 8: lane l reads lane (l & ~7) + (srcLane % 8); srcLane 13 -> 5 within each segment
  const std::vector<int> seg = shuffle(kIdx, 13, 8);
  for (int lane = 0; lane < 32; ++lane) EXPECT_EQ(seg[lane], 100 + (lane & ~7) + 5) << lane;
}

TEST_F(EmulatorTest, ShflUpAndDownKeepTheirOwnValueOutsideTheSegment) {
  const std::vector<int> up = shuffle(kUp, 3, 16);
  for (int lane = 0; lane < 32; ++lane) EXPECT_EQ(up[lane], (lane % 16) < 3 ? 100 + lane : 100 + lane - 3) << lane;
  const std::vector<int> down = shuffle(kDown, 2, 8);
  for (int lane = 0; lane < 32; ++lane) EXPECT_EQ(down[lane], (lane % 8) >= 6 ? 100 + lane : 100 + lane + 2) << lane;
}

TEST_F(EmulatorTest, ShflXorButterflyAndLaterSegmentsGiveOwnValue) {
  const std::vector<int> x = shuffle(kXor, 1, 32);
  for (int lane = 0; lane < 32; ++lane) EXPECT_EQ(x[lane], 100 + (lane ^ 1)) << lane;
  // width 8, laneMask 8: every source lies in another segment; earlier segments may be read, later ones not
  const std::vector<int> y = shuffle(kXor, 8, 8);
  for (int lane = 0; lane < 32; ++lane) {
    const int src = lane ^ 8;
    EXPECT_EQ(y[lane], src < lane ? 100 + src : 100 + lane) << lane;
  }
}

__global__ void warp_sum_kernel(const float* in, float* out) {  // (64) -> (2) one sum per warp
  float v = in[blockIdx.x * blockDim.x + threadIdx.x];
  for (int offset = 16; offset > 0; offset /= 2) v += __shfl_xor_sync(0xffffffffu, v, offset);
  if (threadIdx.x % 32 == 0) out[(blockIdx.x * blockDim.x + threadIdx.x) / 32] = v;
}

TEST_F(EmulatorTest, ButterflyReductionSumsEachWarp) {
  std::vector<float> in(64);
  for (int i = 0; i < 64; ++i) in[i] = static_cast<float>(i);
  auto d_in = upload(in);
  cuda::DeviceBuffer<float> d_out(2);
  ASSERT_EQ(run(warp_sum_kernel, dim3(1), dim3(64), 0, d_in.data(), d_out.data()), cudaSuccess);
  EXPECT_EQ(download(d_out), (std::vector<float>{496.0f, 1520.0f}));
}

__global__ void vote_kernel(unsigned* out) {  // (4): ballot, any, all over the even lanes; ballot of all
  const int lane = static_cast<int>(threadIdx.x);
  const unsigned even = 0x55555555u;
  if (lane % 2 == 0) {
    const int pred = lane < 8;  // true for lanes 0, 2, 4, 6 (odd lanes are outside the mask and would say 1)
    const unsigned b = __ballot_sync(even, pred);
    const int any = __any_sync(even, pred);
    const int all = __all_sync(even, pred);
    if (lane == 0) {
      out[0] = b;
      out[1] = static_cast<unsigned>(any);
      out[2] = static_cast<unsigned>(all);
    }
  }
  const unsigned full = __ballot_sync(0xffffffffu, lane % 3 == 0);
  if (lane == 0) out[3] = full;
}

TEST_F(EmulatorTest, VotesCountOnlyTheLanesOfTheirMask) {
  cuda::DeviceBuffer<unsigned> out(4);
  ASSERT_EQ(run(vote_kernel, dim3(1), dim3(32), 0, out.data()), cudaSuccess);
  const std::vector<unsigned> r = download(out);
  EXPECT_EQ(r[0], 0x55u);  // lanes 0, 2, 4, 6
  EXPECT_EQ(r[1], 1u);
  EXPECT_EQ(r[2], 0u);
  unsigned want = 0;
  for (int l = 0; l < 32; l += 3) want |= 1u << l;
  EXPECT_EQ(r[3], want);
}

__global__ void active_mask_kernel(unsigned* out) {
  if (threadIdx.x >= 20) return;  // lanes 20..31 exit at once
  __syncwarp(0x000fffffu);
  const unsigned active = __activemask();
  __syncwarp(0x000fffffu);
  if (threadIdx.x == 0) out[0] = active;
  out[1] = static_cast<unsigned>(__popc(0xf0f0u));
}

TEST_F(EmulatorTest, ActiveMaskLeavesOutExitedLanes) {
  cuda::DeviceBuffer<unsigned> out(2);
  ASSERT_EQ(run(active_mask_kernel, dim3(1), dim3(32), 0, out.data()), cudaSuccess);
  const std::vector<unsigned> r = download(out);
  EXPECT_EQ(r[0], 0x000fffffu);
  EXPECT_EQ(r[1], 8u);
}

__global__ void block_reverse_kernel(const int* in, int* out, int* counter) {  // (n) -> (n) reversed per block
  __shared__ int tile[256];
  const unsigned t = threadIdx.x;
  tile[t] = in[blockIdx.x * blockDim.x + t];
  __syncthreads();  // every write above is visible to every thread below
  out[blockIdx.x * blockDim.x + t] = tile[blockDim.x - 1 - t];
  atomicAdd(counter, 1);
}

TEST_F(EmulatorTest, SyncthreadsMakesSharedWritesVisibleAcrossTheBlock) {
  std::vector<int> in(512);
  for (int i = 0; i < 512; ++i) in[i] = i * 7;
  auto d_in = upload(in);
  cuda::DeviceBuffer<int> d_out(512);
  auto counter = upload(std::vector<int>{0});
  ASSERT_EQ(run(block_reverse_kernel, dim3(2), dim3(256), 0, d_in.data(), d_out.data(), counter.data()), cudaSuccess);
  const std::vector<int> out = download(d_out);
  for (int b = 0; b < 2; ++b) {
    for (int t = 0; t < 256; ++t) ASSERT_EQ(out[b * 256 + t], in[b * 256 + 255 - t]) << b << " " << t;
  }
  EXPECT_EQ(download(counter)[0], 512);
}

__global__ void atomics_kernel(double* sum, unsigned long long* count, int* maximum, int* cas) {
  atomicAdd(sum, 0.5);
  atomicAdd(count, 1ull);
  atomicMax(maximum, static_cast<int>(threadIdx.x + blockIdx.x * blockDim.x));
  atomicCAS(cas, 0, static_cast<int>(threadIdx.x) + 1);  // only the first thread finds 0
}

TEST_F(EmulatorTest, AtomicsAccumulateOverEveryThread) {
  auto sum = upload(std::vector<double>{0.0});
  auto count = upload(std::vector<unsigned long long>{0});
  auto maximum = upload(std::vector<int>{-1});
  auto cas = upload(std::vector<int>{0});
  ASSERT_EQ(run(atomics_kernel, dim3(3), dim3(100), 0, sum.data(), count.data(), maximum.data(), cas.data()), cudaSuccess);
  EXPECT_EQ(download(sum)[0], 150.0);
  EXPECT_EQ(download(count)[0], 300u);
  EXPECT_EQ(download(maximum)[0], 299);
  EXPECT_EQ(download(cas)[0], 1);
}

}  // namespace
}  // namespace logreg::test
