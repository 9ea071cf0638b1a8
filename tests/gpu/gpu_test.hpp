// What the GPU test files share. GpuTest: the fixture every GPU test derives from; it probes for a usable
// CUDA device and skips the test with the reason when there is none, or fails it when LOGREG_REQUIRE_GPU
// is set (tools/gpu_run.sh sets it on a GPU machine, where a skipped test would hide a broken set-up).
// Plus whether the persistent kernel fits this device, bit-for-bit comparison, what the one-launch epoch
// kernels' tests share (their cases, options, comparisons with their CPU models and with the CPU reference)
// and ScopedEnv (the emulated device's shape for one test). The backend's parts, for tests that look inside a
// step, are cuda_parts.hpp.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <ostream>
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

// max_j |x_j - ref_j| / max_j |ref_j| (the objective tests' gradient error); infinite for a non-finite x.
inline double RelativeMaxError(const std::vector<double>& ref, const std::vector<double>& x) {
  double worst = 0.0;
  double scale = 0.0;
  for (std::size_t j = 0; j < ref.size(); ++j) {
    if (!std::isfinite(x[j])) return INFINITY;
    worst = std::max(worst, std::fabs(x[j] - ref[j]));
    scale = std::max(scale, std::fabs(ref[j]));
  }
  return scale > 0.0 ? worst / scale : worst;
}

inline bool bit_identical(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// Options that run `kernel` with the set on the device.
inline CudaOptions KernelOptions(CudaKernel kernel, const OptimizerConfig& opt = {}) {
  CudaOptions o;
  o.residency = Residency::kDevice;
  o.kernel = kernel;
  o.optimizer = opt;
  return o;
}

// The epoch kernels' tests' optimizer: plain SGD, or momentum 0.9, Nesterov and weight decay 1e-3.
inline OptimizerConfig EpochOptimizer(bool momentum) {
  OptimizerConfig opt;
  if (momentum) {
    opt.momentum = 0.9f;
    opt.nesterov = true;
    opt.weight_decay = 1e-3f;
  }
  return opt;
}

// The kernels' step parameters of `opt` (their lr stays 0: the epoch kernels read it from the step state).
inline kernels::SgdStepParams SgdParams(const OptimizerConfig& opt) {
  kernels::SgdStepParams p;
  p.momentum = opt.momentum;
  p.weight_decay = opt.weight_decay;
  p.nesterov = opt.nesterov;
  return p;
}

// One case of an epoch kernel's parameterised trajectory test.
struct EpochCase {
  LossHead head;
  int batch;
  bool momentum;  // momentum 0.9, Nesterov, weight decay 1e-3

  OptimizerConfig optimizer() const { return EpochOptimizer(momentum); }
  std::string name() const {  // a test name: letters, digits and _
    std::string h = loss_head_name(head);
    std::replace(h.begin(), h.end(), '-', '_');
    return h + "_B" + std::to_string(batch) + (momentum ? "_momentum" : "_sgd");
  }
};

inline void PrintTo(const EpochCase& c, std::ostream* os) {
  *os << loss_head_name(c.head) << ", B=" << c.batch << (c.momentum ? ", momentum" : ", sgd");
}

inline std::string EpochCaseName(const ::testing::TestParamInfo<EpochCase>& info) {
  return info.param.name();
}

// The epoch kernels' trajectory set: 300 separable 28x28 rows of 10 classes (96 at LOGREG_TEST_SIZE=small),
// the epochs to run (3, or 2) and the model they start from (init_model seed 11, the case's loss head).
struct TrajectorySet {
  explicit TrajectorySet(LossHead head) {
    SeparableSet(rows, 10, 28, 31, &images, &labels);
    initial = init_model(28 * 28, 10, head, 11);
  }
  std::uint32_t rows = TestSize(300u, 96u);
  int epochs = TestSize(3, 2);
  ImageSet images;
  LabelSet labels;
  Model initial;
};

// An epoch's totals against the double-precision reference's: the same rows, the mean loss and the last batch's
// within 1e-4 + 1e-3 relative, the accuracy within one row of `rows`.
inline void ExpectTotalsNearReference(const Totals& got, const Totals& want, std::uint32_t rows, int epoch) {
  const double one_row_percent = 100.0 / rows + 0.01;
  EXPECT_EQ(got.count, want.count);
  EXPECT_NEAR(got.mean_loss(), want.mean_loss(), 1e-4 + 1e-3 * want.mean_loss()) << "epoch " << epoch;
  EXPECT_NEAR(got.accuracy_percent(), want.accuracy_percent(), one_row_percent) << "epoch " << epoch;
  EXPECT_NEAR(got.last_batch_loss, want.last_batch_loss, 1e-4 + 1e-3 * want.last_batch_loss) << "epoch " << epoch;
}

// The trained weights, bias and (with momentum) velocities within 1e-3 relative L2 of the reference's.
inline void ExpectModelNearReference(TrainerBackend& reference, TrainerBackend& gpu, bool momentum) {
  const Model want_model = reference.model();
  const Model got_model = gpu.model();
  EXPECT_LE(RelativeL2(want_model.weights, got_model.weights), 1e-3);
  EXPECT_LE(RelativeL2(want_model.bias, got_model.bias), 1e-3);
  if (momentum) {
    const std::vector<float> want_v = reference.optimizer_state();
    const std::vector<float> got_v = gpu.optimizer_state();
    ASSERT_EQ(got_v.size(), want_v.size());
    EXPECT_LE(RelativeL2(want_v, got_v), 1e-3);
  }
}

// One epoch of a one-launch kernel's test: the backend's totals `got` against its kernel's CPU model (the
// correct count; on the emulated device the loss sums bit for bit; ModelTotals: loss_sum, correct,
// last_batch_loss_sum) and against the CPU reference's `want` (ExpectTotalsNearReference). last_rows: the rows
// of the epoch's last batch.
template <class ModelTotals>
void ExpectEpochTotalsAgree(const Totals& got, const ModelTotals& model, const Totals& want, int last_rows,
                            std::uint32_t rows, int epoch) {
  EXPECT_EQ(got.correct, static_cast<std::int64_t>(model.correct)) << "epoch " << epoch;
#if defined(LOGREG_CUDA_EMULATED)
  EXPECT_EQ(got.loss_sum, model.loss_sum) << "epoch " << epoch;
  EXPECT_EQ(got.last_batch_loss, model.last_batch_loss_sum / last_rows) << "epoch " << epoch;
#else
  (void)last_rows;
#endif
  ExpectTotalsNearReference(got, want, rows, epoch);
}

// The end of a one-launch epoch kernel's test: the backend's parameters (and momentum buffers) against its
// kernel's CPU model, `params` (C*D weights, then C biases) and `velocity` (empty without momentum): bit for
// bit on the emulated device, within relative L2 1e-5 on a GPU (whose expf and contracted multiply-adds differ
// from the host's in the last bits); and against the CPU reference backend (ExpectModelNearReference).
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
  ExpectModelNearReference(cpu, gpu, !velocity.empty());
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
