// What the emulator's tests share: a fixture that leaves a clean device behind (a test may provoke a
// sticky fault on purpose), device buffers filled from and read back into vectors, run(), which
// launches a kernel through the emulator and synchronises, and the configuration of a cluster launch.
#pragma once

#include <gtest/gtest.h>

#include <cstddef>
#include <string>
#include <vector>

#include "device_resources.hpp"

namespace logreg::test {

class EmulatorTest : public ::testing::Test {
 protected:
  void SetUp() override { cuda_emu::reset_device(); }
  void TearDown() override { cuda_emu::reset_device(); }
};

template <class T>
cuda::DeviceBuffer<T> upload(const std::vector<T>& host) {
  cuda::DeviceBuffer<T> d(host.size());
  if (!host.empty()) EXPECT_EQ(cudaMemcpy(d.data(), host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice), cudaSuccess);
  return d;
}

template <class T>
std::vector<T> download(const cuda::DeviceBuffer<T>& d) {
  std::vector<T> host(d.size());
  if (!host.empty()) EXPECT_EQ(cudaMemcpy(host.data(), d.data(), d.bytes(), cudaMemcpyDeviceToHost), cudaSuccess);
  return host;
}

// kernel<<<grid, block, shared>>>(args...) on the legacy stream, then a device synchronisation; returns
// the launch's error, else the synchronisation's.
template <class... Params, class... Args>
cudaError_t run(void (*kernel)(Params...), dim3 grid, dim3 block, std::size_t shared, Args&&... args) {
  const cudaError_t launched = cuda_emu::launch("test_kernel", kernel, grid, block, shared, nullptr, 0,
                                                std::forward<Args>(args)...);
  if (launched != cudaSuccess) return launched;
  return cudaDeviceSynchronize();
}

// The configuration of a cudaLaunchKernelEx launch in clusters of cluster_x blocks; `attribute` holds the
// cluster dimension and must outlive the launch.
inline cudaLaunchConfig_t cluster_config(dim3 grid, dim3 block, std::size_t shared, unsigned cluster_x,
                                         cudaLaunchAttribute* attribute) {
  attribute->id = cudaLaunchAttributeClusterDimension;
  attribute->val.clusterDim.x = cluster_x;
  attribute->val.clusterDim.y = 1;
  attribute->val.clusterDim.z = 1;
  cudaLaunchConfig_t config = {};
  config.gridDim = grid;
  config.blockDim = block;
  config.dynamicSmemBytes = shared;
  config.attrs = attribute;
  config.numAttrs = 1;
  return config;
}

}  // namespace logreg::test
