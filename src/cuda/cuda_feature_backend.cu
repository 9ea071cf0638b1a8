// The CUDA SGD engine over a feature file's float32 rows (`train --data FILE --solver sgd --device cuda`,
// make_cuda_feature_backend): CudaFeatureBackend, a TrainerBackend. The rows live on the device (FeatureInput,
// uploaded once; a clear error with the bytes when they do not fit), each step is DeviceStep's (forward GEMM, the
// loss kernel with each row's weight, backward GEMM, the update kernel; the biases left at 0 without an
// intercept), run by the EpochRunner step by step with the full batches replayed as one captured graph. The
// weighted batch mean is the cpu feature engine's (cpu_feature_backend.cpp). Not here: the IDX pixel engines
// (cuda_backend.cu), the one-launch epoch kernels (they read uint8 pixels).
#include <cuda_runtime.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "cuda_check.hpp"
#include "cuda_probe.hpp"
#include "device_resources.hpp"
#include "device_step.hpp"
#include "engine_setup.hpp"
#include "epoch_runner.hpp"
#include "feature_input.hpp"
#include "logreg/cpu_reference.hpp"
#include "logreg/cuda_backend.hpp"
#include "logreg/errors.hpp"
#include "logreg/feature_sgd.hpp"

namespace logreg {
namespace cuda {
namespace {

// The feature engine's choices among the CUDA options: the rows always on the device, the cuBLAS step path (the
// one-launch kernels read uint8 pixels), no profiler brackets. UsageError naming the option otherwise.
CudaKernel feature_kernel(const CudaOptions& options) {
  if (options.profile_epoch > 0) {
    throw UsageError("--profile-epoch: the profiler's epoch brackets are the IDX CUDA engine's, not a feature file's");
  }
  if (options.residency == Residency::kStream) {
    throw UsageError("--residency stream: a feature file's rows train on the CUDA device with the rows on the "
                     "device (--residency auto or device)");
  }
  if (options.kernel != CudaKernel::kAuto && options.kernel != CudaKernel::kCublas) {
    throw UsageError(std::string("--kernel ") + cuda_kernel_name(options.kernel) +
                     ": a feature file's rows train with the cublas step path (--kernel auto or cublas)");
  }
  return CudaKernel::kCublas;
}

// `initial` with the biases at 0 when the fit has no intercept (they are then never updated).
Model feature_initial_model(const Model& initial, const FeatureRows& rows) {
  check_feature_rows_fit_model(checked_model(initial), rows);
  Model m = initial;
  if (!rows.terms.intercept) std::fill(m.bias.begin(), m.bias.end(), 0.0f);
  return m;
}

class CudaFeatureBackend final : public TrainerBackend {
 public:
  CudaFeatureBackend(const FeatureRows& rows, const Model& initial, const CudaOptions& options)
      : prop_(select_device(options)),
        rows_(rows),
        head_(initial.head),
        kernel_(feature_kernel(options)),
        step_(prop_, feature_initial_model(initial, rows), options.optimizer, options.velocity, compute_.get(),
              rows.terms.intercept),
        runner_(kernel_, options.cuda_graphs, prop_.sharedMemPerBlockOptin) {
    check_fits_device();
    input_ = std::make_unique<FeatureInput>(rows_, step_);
    compute_.synchronize();
  }

  ~CudaFeatureBackend() override {
    // Pending kernels write buffers that are about to be freed.
    log_release_failure(cudaStreamSynchronize(compute_.get()), "cudaStreamSynchronize(compute)");
  }

  std::string name() const override {
    const std::string graphs = !runner_.graph_failure().empty()
                                   ? runner_.graph_failure()
                                   : std::string("CUDA graphs ") + (runner_.graphs() ? "on" : "off");
    return "cuda (" + std::string(prop_.name) + ", cc " + compute_capability(prop_) +
           "; float32 feature rows on device, " + graphs + ", kernel " + cuda_kernel_name(kernel_) + ")";
  }

  BackendTraits traits() const override { return cuda_traits(); }

  Totals train_epoch(const std::vector<std::uint32_t>& order, int batch_size, float lr) override {
    return train_sgd_epoch(runner_, step_, *input_, rows_.count, order, batch_size, lr);
  }

  // The host's scores of the current model, as the cpu feature engine gives them (a feature run scores its
  // test rows through TrainingRun::test and the host's feature_logits instead).
  Totals evaluate(const ImageSet& images, const LabelSet& labels) override {
    return reference_evaluate(model(), images, labels);
  }

  Model model() const override { return step_.model(head_); }
  std::vector<float> optimizer_state() const override { return step_.optimizer_state(); }

 private:
  // The rows must fit in the device's free memory (what is left after the step's parameters and cuBLAS
  // workspace; the per-batch buffers are small beside them): else a ResourceError naming the bytes, before
  // anything is uploaded.
  void check_fits_device() const {
    std::size_t free_bytes = 0;
    std::size_t total_bytes = 0;
    CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
    const bool weighted = !rows_.terms.row_weights.empty();
    const std::size_t needed = FeatureInput::device_bytes(rows_.count, rows_.dim, weighted);
    if (needed > free_bytes) {
      throw ResourceError(rows_.path + ": the training rows (" + std::to_string(rows_.count) + " rows x " +
                          std::to_string(rows_.dim) + " features as float32, their labels" +
                          (weighted ? ", row weights" : "") + " and the epoch order) need " + std::to_string(needed) +
                          " bytes on the CUDA device, which has " + std::to_string(free_bytes) + " bytes free of " +
                          std::to_string(total_bytes) + " (train on --device cpu)");
    }
  }

  cudaDeviceProp prop_;
  const FeatureRows& rows_;
  LossHead head_;
  CudaKernel kernel_;
  CudaStream compute_;  // every kernel and GEMM
  DeviceStep step_;     // bound to compute_
  EpochRunner runner_;  // the cuBLAS step path and its step graph
  std::unique_ptr<FeatureInput> input_;
};

}  // namespace
}  // namespace cuda

std::unique_ptr<TrainerBackend> make_cuda_feature_backend(const FeatureRows& rows, const Model& initial,
                                                          const CudaOptions& options) {
  return std::make_unique<cuda::CudaFeatureBackend>(rows, initial, options);
}

}  // namespace logreg
