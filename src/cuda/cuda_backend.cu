// The CUDA engines: CudaBackend (the SGD engine, a TrainerBackend) and make_cuda_backend(); and CudaFullBatch (the
// full-batch engine: DeviceObjective alone) and make_cuda_full_batch_engine(). CudaBackend selects the device,
// resolves the residency and ties the parts together: DeviceStep (parameters and the maths of a step), one input
// path (ResidentInput: the set on the device; or StreamedInput: pinned ring slots uploaded on a copy stream), the
// EpochRunner (which kernels run an epoch, epoch_plan.hpp) and the Evaluator. The SGD engine of a feature file's
// float32 rows is cuda_feature_backend.cu.
#include "logreg/cuda_backend.hpp"

#include <cuda_profiler_api.h>
#include <cuda_runtime.h>
#include <nvtx3/nvToolsExt.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "cuda_check.hpp"
#include "cuda_probe.hpp"
#include "device_objective.hpp"
#include "device_resources.hpp"
#include "device_step.hpp"
#include "engine_setup.hpp"
#include "epoch_plan.hpp"
#include "epoch_runner.hpp"
#include "evaluator.hpp"
#include "logreg/errors.hpp"
#include "logreg/part_sums.hpp"
#include "resident_input.hpp"
#include "streamed_input.hpp"

namespace logreg {
namespace cuda {
namespace {

// The training set has `dim` pixels per image and one label per image (DataError naming the images otherwise).
void check_training_set(const ImageSet& images, const LabelSet& labels, int dim) {
  if (images.dim() != static_cast<std::size_t>(dim) || labels.count() != images.count) {
    throw DataError(images.path, "training images (" + std::to_string(images.count) + " x " +
                                     std::to_string(images.dim()) + ") do not match " + std::to_string(labels.count()) +
                                     " labels and input dim " + std::to_string(dim));
  }
}

class CudaBackend final : public TrainerBackend {
 public:
  CudaBackend(const ImageSet& train_images, const LabelSet& train_labels, const Model& initial,
              const CudaOptions& options)
      : prop_(select_device(options)),
        options_(options),
        train_images_(train_images),
        train_labels_(train_labels),
        head_(checked_model(initial).head),
        step_(prop_, initial, options.optimizer, options.velocity, compute_.get()),
        runner_(options.kernel, options.cuda_graphs, prop_.sharedMemPerBlockOptin) {
    check_training_set(train_images_, train_labels_, step_.dim());
    if (options_.ring_slots < 2) {
      throw UsageError("ring_slots must be at least 2 (got " + std::to_string(options_.ring_slots) + ")");
    }
    check_labels(train_labels_, step_.classes());
    std::size_t free_bytes = 0;
    std::size_t total_bytes = 0;
    CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
    const Residency residency = resolve_residency(
        options_.residency,
        resident_bytes(train_images_.count, static_cast<std::size_t>(step_.dim()), step_.classes(),
                       cublas_workspace_bytes(prop_)),
        free_bytes);
    check_residency(options_.kernel, residency == Residency::kDevice);
    if (residency == Residency::kDevice) {
      resident_ = std::make_unique<ResidentInput>(train_images_, train_labels_, step_);
    } else {
      streamed_ = std::make_unique<StreamedInput>(train_images_, train_labels_, options_.ring_slots, copy_.get());
    }
    compute_.synchronize();
  }

  ~CudaBackend() override {
    // Pending kernels write buffers that are about to be freed.
    log_release_failure(cudaStreamSynchronize(compute_.get()), "cudaStreamSynchronize(compute)");
    if (epoch_range_open_) nvtxRangePop();
  }

  std::string name() const override {
    std::string where;
    if (resident_ == nullptr) {
      where = "data streamed from pinned host memory";
    } else if (!runner_.graph_failure().empty()) {
      where = "data on device, " + runner_.graph_failure();
    } else {
      where = std::string("data on device, CUDA graphs ") + (runner_.graphs() ? "on" : "off");
    }
    if (resident_ != nullptr) where += std::string(", kernel ") + cuda_kernel_name(runner_.kernel());
    return "cuda (" + std::string(prop_.name) + ", cc " + compute_capability(prop_) + "; " + where + ")";
  }

  BackendTraits traits() const override { return cuda_traits(); }

  Totals train_epoch(const std::vector<std::uint32_t>& order, int batch_size, float lr) override {
    BatchSource& source = resident_ != nullptr ? static_cast<BatchSource&>(*resident_) : *streamed_;
    return train_sgd_epoch(runner_, step_, source, train_images_.count, order, batch_size, lr);
  }

  Totals evaluate(const ImageSet& images, const LabelSet& labels) override {
    return evaluator_.evaluate(images, labels, step_, head_);
  }

  Model model() const override { return step_.model(head_); }
  void set_model(const Model& m) override { step_.set_model(m); }
  std::vector<float> optimizer_state() const override { return step_.optimizer_state(); }

  void begin_epoch(int epoch) override {
    nvtxRangePushA("epoch");
    epoch_range_open_ = true;
    if (options_.profile_epoch > 0 && epoch == options_.profile_epoch) {
      CUDA_CHECK(cudaDeviceSynchronize());  // earlier epochs stay out of the capture
      CUDA_CHECK(cudaProfilerStart());
      profiling_ = true;
    }
  }

  void end_epoch(int epoch) override {
    if (profiling_ && epoch == options_.profile_epoch) {
      CUDA_CHECK(cudaDeviceSynchronize());  // the whole epoch inside the capture
      CUDA_CHECK(cudaProfilerStop());
      profiling_ = false;
    }
    if (epoch_range_open_) {
      nvtxRangePop();
      epoch_range_open_ = false;
    }
  }

 private:
  cudaDeviceProp prop_;
  CudaOptions options_;
  const ImageSet& train_images_;
  const LabelSet& train_labels_;
  LossHead head_;
  CudaStream compute_;  // every kernel and GEMM
  CudaStream copy_;     // the streamed path's uploads
  DeviceStep step_;     // bound to compute_
  std::unique_ptr<ResidentInput> resident_;  // one of the two input paths
  std::unique_ptr<StreamedInput> streamed_;
  EpochRunner runner_;  // which kernels run an epoch, and the step graph
  Evaluator evaluator_;

  bool epoch_range_open_ = false;
  bool profiling_ = false;
};

// The full-batch engine: the device, one stream and DeviceObjective; no DeviceStep (no SGD parameters, momentum
// or step graphs), no cuBLAS handle, no evaluator. With the set on the device (residency device, or auto when it
// fits in half the free memory) the pixels and labels of the rows the set holds (all of them, or an MPI rank's
// window) are uploaded once, here; streamed, DeviceObjective reads the rows it gathers into pinned host memory.
// The objective is its row parts' sums, this process's parts computed here and the others' received through
// options.parts (part_sums.hpp).
class CudaFullBatch final : public FullBatchEngine {
 public:
  CudaFullBatch(const ImageSet& train_images, const LabelSet& train_labels, const Model& shape,
                const CudaOptions& options)
      : prop_(select_device(options)),
        train_images_(train_images),
        train_labels_(train_labels),
        head_(checked_model(shape).head),
        classes_(shape.num_classes),
        share_(options.parts),
        objective_(shape.num_classes, shape.input_dim, prop_.sharedMemPerBlockOptin) {
    check_training_set(train_images_, train_labels_, shape.input_dim);
    check_labels(train_labels_, shape.num_classes);
    std::size_t free_bytes = 0;
    std::size_t total_bytes = 0;
    CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
    const std::size_t count = train_images_.loaded();  // the rows held, from row train_images_.first
    const std::size_t on_device = count * train_images_.dim() + count +
                                  objective_device_bytes(count, train_images_.dim(), shape.num_classes);
    if (resolve_residency(options.residency, on_device, free_bytes) == Residency::kDevice && count > 0) {
      pixels_ = DeviceBuffer<std::uint8_t>(count * train_images_.dim());
      labels_ = DeviceBuffer<std::uint8_t>(count);
      CUDA_CHECK(cudaMemcpyAsync(pixels_.data(), train_images_.pixels.data(), pixels_.bytes(), cudaMemcpyHostToDevice,
                                 stream_.get()));
      CUDA_CHECK(cudaMemcpyAsync(labels_.data(), train_labels_.labels.data() + train_images_.first, labels_.bytes(),
                                 cudaMemcpyHostToDevice, stream_.get()));
      stream_.synchronize();
    }
  }

  ~CudaFullBatch() override {
    log_release_failure(cudaStreamSynchronize(stream_.get()), "cudaStreamSynchronize(full batch)");
  }

  std::string name() const override {
    return "cuda (" + std::string(prop_.name) + ", cc " + compute_capability(prop_) + "; " +
           (pixels_.size() > 0 ? "data on device" : "data streamed from pinned host memory") + ", full batch)";
  }

  BackendTraits traits() const override { return cuda_traits(); }

  // In double on the device (DeviceObjective): this process's row parts over the set uploaded above, or over
  // the rows gathered once into pinned host memory that the kernel reads in place; then every part's sums
  // (exchanged when MPI ranks share the parts) added in part order on the host, and the penalty.
  double full_batch_objective(const std::vector<std::uint32_t>& rows, const double* params, double l2,
                              double* grad) override {
    const bool resident = pixels_.size() > 0;
    const std::size_t n_weights = static_cast<std::size_t>(classes_) * train_images_.dim();
    const std::size_t n_params = n_weights + static_cast<std::size_t>(classes_);
    auto compute = [&](int first, int last, double* sums) {
      objective_.part_sums(train_images_, train_labels_, resident ? pixels_.data() : nullptr,
                           resident ? labels_.data() : nullptr, rows, first, last, params, head_, stream_.get(), sums);
    };
    return objective_from_parts(rows.size(), static_cast<double>(rows.size()), n_params, n_weights, share_, part_sums_,
                                compute, params, l2, grad);
  }

 private:
  cudaDeviceProp prop_;
  const ImageSet& train_images_;
  const LabelSet& train_labels_;
  LossHead head_;
  int classes_;
  PartShare share_;                    // the parts this process computes, the exchange of the others'
  std::vector<double> part_sums_;      // (parts, C*D + C + 1) every part's sums
  CudaStream stream_;
  DeviceBuffer<std::uint8_t> pixels_;  // (loaded rows, D) the set (or a rank's window) on the device, or empty
  DeviceBuffer<std::uint8_t> labels_;  // (loaded rows)
  DeviceObjective objective_;
};

}  // namespace
}  // namespace cuda

std::unique_ptr<TrainerBackend> make_cuda_backend(const ImageSet& train_images, const LabelSet& train_labels,
                                                  const Model& initial, const CudaOptions& options) {
  return std::make_unique<cuda::CudaBackend>(train_images, train_labels, initial, options);
}

std::unique_ptr<FullBatchEngine> make_cuda_full_batch_engine(const ImageSet& train_images,
                                                             const LabelSet& train_labels, const Model& shape,
                                                             const CudaOptions& options) {
  return std::make_unique<cuda::CudaFullBatch>(train_images, train_labels, shape, options);
}

}  // namespace logreg
