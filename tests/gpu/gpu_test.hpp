// What the GPU test files share. GpuTest: the fixture every GPU test derives from; it probes for a usable
// CUDA device and skips the test with the reason when there is none, or fails it when LOGREG_REQUIRE_GPU
// is set (tools/gpu_run.sh sets it on a GPU machine, where a skipped test would hide a broken set-up).
// Plus whether the persistent kernel fits this device and bit-for-bit comparison. The backend's parts, for
// tests that look inside a step, are cuda_parts.hpp.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <cuda_runtime.h>

#include "kernels.hpp"
#include "logreg/backend.hpp"
#include "logreg/cuda_backend.hpp"
#include "logreg/rng.hpp"

namespace logreg::test {

class GpuTest : public ::testing::Test {
 protected:
  void SetUp() override {
    probe_ = probe_cuda();
    if (probe_.usable) return;
    if (std::getenv("LOGREG_REQUIRE_GPU") != nullptr) FAIL() << "LOGREG_REQUIRE_GPU is set but " << probe_.reason;
    GTEST_SKIP() << "no usable CUDA device: " << probe_.reason;
  }
  CudaProbe probe_;
};

// Whether this device's shared memory holds the persistent kernel's epoch for this shape. The emulated device
// can be made smaller (LOGREG_EMU_SMEM_PER_BLOCK, as on a 99 KiB or 64 KiB GPU): there the persistent kernel
// must refuse the shape and auto must take the cuBLAS path, which the tests then check instead.
inline bool PersistentFits(int batch, int dim, int classes, bool momentum) {
  cudaDeviceProp prop{};
  if (cudaGetDeviceProperties(&prop, 0) != cudaSuccess) return false;
  const std::size_t bytes = kernels::persistent_epoch_shared_bytes(batch, dim, classes, momentum);
  return bytes > 0 && bytes <= prop.sharedMemPerBlockOptin;
}

inline bool bit_identical(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

}  // namespace logreg::test
