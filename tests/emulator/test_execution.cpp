// How the emulator runs a grid: every block once with its blockIdx, every thread with its threadIdx in
// 3-D blocks, blockDim/gridDim as launched, blocks in order (deterministic), and the project's own kernels
// through kernels/kernel_launch.cuh.
#include <cstdint>
#include <vector>

#include "emulator_test.hpp"
#include "kernels.hpp"

namespace logreg::test {
namespace {

__global__ void builtins_kernel(unsigned* out) {  // (grid threads, 4): linear block, linear thread, dims
  const unsigned block = blockIdx.x + gridDim.x * (blockIdx.y + gridDim.y * blockIdx.z);
  const unsigned thread = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
  const unsigned per_block = blockDim.x * blockDim.y * blockDim.z;
  unsigned* row = out + 4 * (block * per_block + thread);
  row[0] = block;
  row[1] = thread;
  row[2] = per_block;
  row[3] = gridDim.x * gridDim.y * gridDim.z;
}

TEST_F(EmulatorTest, EveryThreadOfEveryBlockRunsOnceWithItsIndices) {
  const dim3 grid(3, 2, 2);
  const dim3 block(4, 3, 2);
  const unsigned blocks = 12, per_block = 24;
  auto out = upload(std::vector<unsigned>(4 * blocks * per_block, 0xffffffffu));
  ASSERT_EQ(run(builtins_kernel, grid, block, 0, out.data()), cudaSuccess);
  const std::vector<unsigned> r = download(out);
  for (unsigned b = 0; b < blocks; ++b) {
    for (unsigned t = 0; t < per_block; ++t) {
      const unsigned* row = r.data() + 4 * (b * per_block + t);
      ASSERT_EQ(row[0], b);
      ASSERT_EQ(row[1], t);
      ASSERT_EQ(row[2], per_block);
      ASSERT_EQ(row[3], blocks);
    }
  }
}

__global__ void order_kernel(unsigned* log, unsigned* next) {  // log (blocks): the order blocks ran in
  if (threadIdx.x == 0) log[(*next)++] = blockIdx.x;
}

TEST_F(EmulatorTest, BlocksRunOneAfterAnotherInOrder) {
  auto log = upload(std::vector<unsigned>(5, 0));
  auto next = upload(std::vector<unsigned>{0});
  ASSERT_EQ(run(order_kernel, dim3(5), dim3(64), 0, log.data(), next.data()), cudaSuccess);
  EXPECT_EQ(download(log), (std::vector<unsigned>{0, 1, 2, 3, 4}));
}

TEST_F(EmulatorTest, ProjectKernelsRunThroughTheLaunchHelper) {
  std::vector<std::uint8_t> pixels(1000);
  for (std::size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<std::uint8_t>(i % 256);
  auto d_pixels = upload(pixels);
  cuda::DeviceBuffer<float> x(pixels.size());
  kernels::convert_pixels(d_pixels.data(), x.data(), pixels.size(), nullptr);
  const std::vector<float> r = download(x);
  for (std::size_t i = 0; i < pixels.size(); ++i) ASSERT_EQ(r[i], static_cast<float>(pixels[i]) / 255.0f) << i;
  EXPECT_EQ(kernels::kernel_image_status(), cudaSuccess);
}

}  // namespace
}  // namespace logreg::test
