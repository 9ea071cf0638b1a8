// What the GPU test files share. GpuTest: the fixture every GPU test derives from; it probes for a usable
// CUDA device and skips the test with the reason when there is none, or fails it when LOGREG_REQUIRE_GPU
// is set (tools/gpu_run.sh sets it on a GPU machine, where a skipped test would hide a broken set-up).
// Plus whether the persistent kernel fits this device, bit-for-bit comparison, the end of a one-launch
// kernel's epoch test (ExpectEpochTotalsAgree, ExpectModelAndReferenceAgree) and ScopedEnv (the emulated device's shape for one
// test). The backend's parts, for tests that look inside a step, are cuda_parts.hpp.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include <cuda_runtime.h>

#include "kernels.hpp"
#include "logreg/backend.hpp"
#include "logreg/cuda_backend.hpp"
#include "logreg/model.hpp"
#include "logreg/rng.hpp"
#include "test_support.hpp"

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

// One epoch of a one-launch kernel's test: the backend's totals `got` against its kernel's CPU model (the
// correct count; on the emulated device the loss sums bit for bit; ModelTotals: loss_sum, correct,
// last_batch_loss_sum) and against the CPU reference's `want` (mean and last-batch loss within 1e-4 + 1e-3
// relative, accuracy within one row of `rows`). last_rows: the rows of the epoch's last batch.
template <class ModelTotals>
void ExpectEpochTotalsAgree(const Totals& got, const ModelTotals& model, const Totals& want, int last_rows,
                            std::uint32_t rows, int epoch) {
  EXPECT_EQ(got.count, want.count);
  EXPECT_EQ(got.correct, static_cast<std::int64_t>(model.correct)) << "epoch " << epoch;
#if defined(LOGREG_CUDA_EMULATED)
  EXPECT_EQ(got.loss_sum, model.loss_sum) << "epoch " << epoch;
  EXPECT_EQ(got.last_batch_loss, model.last_batch_loss_sum / last_rows) << "epoch " << epoch;
#else
  (void)last_rows;
#endif
  EXPECT_NEAR(got.mean_loss(), want.mean_loss(), 1e-4 + 1e-3 * want.mean_loss()) << "epoch " << epoch;
  EXPECT_NEAR(got.accuracy_percent(), want.accuracy_percent(), 100.0 / rows + 0.01) << "epoch " << epoch;
  EXPECT_NEAR(got.last_batch_loss, want.last_batch_loss, 1e-4 + 1e-3 * want.last_batch_loss) << "epoch " << epoch;
}

// The end of a one-launch epoch kernel's test: the backend's parameters (and momentum buffers) against its
// kernel's CPU model, `params` (C*D weights, then C biases) and `velocity` (empty without momentum): bit for
// bit on the emulated device, within relative L2 1e-5 on a GPU (whose expf and contracted multiply-adds differ
// from the host's in the last bits); and against the CPU reference backend within relative L2 1e-3.
inline void ExpectModelAndReferenceAgree(TrainerBackend& gpu, TrainerBackend& cpu, const std::vector<float>& params,
                                         const std::vector<float>& velocity) {
  const Model got = gpu.model();
  const auto weights = static_cast<std::ptrdiff_t>(got.weights.size());
  const std::vector<float> model_weights(params.begin(), params.begin() + weights);
  const std::vector<float> model_bias(params.begin() + weights, params.end());
#if defined(LOGREG_CUDA_EMULATED)
  EXPECT_TRUE(bit_identical(got.weights, model_weights));
  EXPECT_TRUE(bit_identical(got.bias, model_bias));
  if (!velocity.empty()) EXPECT_TRUE(bit_identical(gpu.optimizer_state(), velocity));
#else
  EXPECT_LE(RelativeL2(model_weights, got.weights), 1e-5);
  EXPECT_LE(RelativeL2(model_bias, got.bias), 1e-5);
#endif
  const Model want = cpu.model();
  EXPECT_LE(RelativeL2(want.weights, got.weights), 1e-3);
  EXPECT_LE(RelativeL2(want.bias, got.bias), 1e-3);
  if (!velocity.empty()) {
    const std::vector<float> want_v = cpu.optimizer_state();
    const std::vector<float> got_v = gpu.optimizer_state();
    ASSERT_EQ(got_v.size(), want_v.size());
    EXPECT_LE(RelativeL2(want_v, got_v), 1e-3);
  }
}

// Sets an environment variable for the test's lifetime (the emulated device reads its shape from the
// environment at every query), restoring the old value after.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    setenv(name, value, 1);
  }
  ~ScopedEnv() {
    if (old_) {
      setenv(name_.c_str(), old_->c_str(), 1);
    } else {
      unsetenv(name_.c_str());
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::string name_;
  std::optional<std::string> old_;
};

}  // namespace logreg::test
