// What the GPU test files share. GpuTest: the fixture every GPU test derives from; it probes for a usable
// CUDA device and skips the test with the reason when there is none, or fails it when LOGREG_REQUIRE_GPU
// is set (tools/gpu_run.sh sets it on a GPU machine, where a skipped test would hide a broken set-up).
// Plus the step probe of a CUDA backend, bit-for-bit comparison and the batch-order check.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include <cuda_runtime.h>

#include "cuda_step_probe.hpp"
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

inline cuda::CudaStepProbe& step_probe(TrainerBackend& backend) {
  auto* probe = dynamic_cast<cuda::CudaStepProbe*>(&backend);
  if (probe == nullptr) throw std::runtime_error("the CUDA backend does not implement CudaStepProbe");
  return *probe;
}

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

// Trains two epochs (the second reuses what the first filled) of `batch` rows in epoch_order(order_seed, e)
// and checks that the batches the GEMMs read are the images and labels of that order, byte for byte.
// `what` names the configuration in failure messages.
inline void ExpectBatchesInShuffledOrder(TrainerBackend& backend, const ImageSet& images, const LabelSet& labels,
                                         int batch, std::uint64_t order_seed, const std::string& what) {
  const auto n = static_cast<std::uint32_t>(images.count);
  const std::size_t dim = images.dim();
  cuda::CudaStepProbe& probe = step_probe(backend);
  probe.set_batch_recording(true);
  for (int epoch = 1; epoch <= 2; ++epoch) {
    const std::vector<std::uint32_t> order = epoch_order(order_seed, epoch, n);
    backend.train_epoch(order, batch, 0.01f);
    const cuda::RecordedBatches captured = probe.recorded_batches();
    ASSERT_EQ(captured.pixels.size(), static_cast<std::size_t>(n) * dim);
    ASSERT_EQ(captured.labels.size(), n);
    for (std::uint32_t j = 0; j < n; ++j) {
      ASSERT_EQ(0, std::memcmp(captured.pixels.data() + static_cast<std::size_t>(j) * dim, images.image(order[j]), dim))
          << what << ", epoch " << epoch << ": device row " << j << " (batch " << j / static_cast<std::uint32_t>(batch)
          << ") is not image " << order[j];
      ASSERT_EQ(captured.labels[j], labels.labels[order[j]]) << what << ", epoch " << epoch << ": label of row " << j;
    }
  }
}

}  // namespace logreg::test
