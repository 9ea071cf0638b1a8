// DeviceStep: the CUDA backend's parameters and the maths of one SGD step on a batch already on the device
// as floats: forward GEMM, fused loss/gradient kernel, backward GEMM, update. Owns the cuBLAS handle and
// workspace, the per-batch buffers and the step state {start, lr} that both input paths share: the host
// writes it once per epoch (begin_epoch), the update kernel reads lr from it and advances start. Where the
// batches come from is the input paths' business (streamed_input.hpp, resident_input.hpp), which kernels run
// an epoch the epoch plan's (epoch_plan.hpp).
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "device_resources.hpp"
#include "kernels.hpp"
#include "logreg/model.hpp"
#include "logreg/maths/sgd_math.hpp"

namespace logreg::cuda {

// The last training step's device buffers, copied back (DeviceStep::last_step). B = rows of that batch.
struct StepIntermediates {
  int batch = 0;
  std::vector<float> logits;  // (B, C) X·Wᵀ + b, row-major
  std::vector<float> dz;      // (B, C) dloss/dz / B, row-major
  std::vector<float> dw;      // (C, D) row-major
  std::vector<float> db;      // (C)
};

// The device buffers of kernels::LossPartials for batches of up to `rows` rows of `classes` classes.
class LossPartialsBuffer {
 public:
  LossPartialsBuffer() = default;
  LossPartialsBuffer(std::size_t rows, int classes) {
    const int blocks = kernels::loss_blocks(static_cast<int>(rows));
    if (blocks <= 1) return;
    loss_ = DeviceBuffer<double>(static_cast<std::size_t>(blocks));
    correct_ = DeviceBuffer<unsigned long long>(static_cast<std::size_t>(blocks));
    db_ = DeviceBuffer<double>(static_cast<std::size_t>(blocks) * static_cast<std::size_t>(classes));
  }
  kernels::LossPartials view() { return kernels::LossPartials{loss_.data(), correct_.data(), db_.data()}; }

 private:
  DeviceBuffer<double> loss_;
  DeviceBuffer<unsigned long long> correct_;
  DeviceBuffer<double> db_;
};

class DeviceStep {
 public:
  // Uploads `initial` (and `velocity`, when momentum is on and a saved state is given) on `stream`. Without
  // `fit_intercept` the update leaves the biases as `initial` has them (a feature file's --no-intercept: 0).
  DeviceStep(const cudaDeviceProp& prop, const Model& initial, const OptimizerConfig& optimizer,
             const std::vector<float>& velocity, cudaStream_t stream, bool fit_intercept = true);

  int dim() const { return dim_; }
  int classes() const { return classes_; }
  std::size_t param_count() const { return static_cast<std::size_t>(classes_) * dim_ + classes_; }
  cudaStream_t stream() const { return stream_; }
  cublasHandle_t cublas() const { return cublas_.get(); }
  const float* weights() const { return params_.data(); }                                        // (C, D)
  const float* bias() const { return params_.data() + static_cast<std::size_t>(classes_) * dim_; }  // (C)

  // Per-batch buffers for batches of up to `rows` rows; true when they were reallocated (which invalidates
  // a captured graph that used them). Synchronises the stream before reallocating.
  bool reserve(std::size_t rows);
  std::size_t capacity() const { return capacity_; }
  float* x() { return x_.data(); }  // (capacity, D) the batch as floats, what the GEMMs read

  kernels::DeviceStepState* state() { return state_.data(); }
  // Enqueues {start = 0, lr} into the step state and zeroes the training totals.
  void begin_epoch(float lr);
  kernels::DeviceTotals* train_totals() { return totals_.data(); }
  kernels::DeviceTotals* eval_totals() { return totals_.data() + 1; }
  // Copies `totals` back (synchronises).
  kernels::DeviceTotals read_totals(const kernels::DeviceTotals* totals);

  // Forward GEMM, loss/gradient kernel, backward GEMM on the `rows` rows in x(); `labels_consumed` (may be
  // null) is recorded after the last reader of `labels`. `row_weights` (rows) on the device, or null: each row's
  // a_i in the loss kernel (kernels::loss_grad), the feature engine's weighted batch mean.
  void forward_backward(const std::uint8_t* labels, int rows, const CudaEvent* labels_consumed,
                        const double* row_weights = nullptr);
  // The SGD update with lr from the step state; advances the state's start by `rows`.
  void update(int rows);

  bool momentum() const { return velocity_.size() > 0; }
  // The arguments of a one-launch epoch (an epoch kernel of the plan, epoch_plan.hpp) over `rows` rows of the
  // device order: these parameters and momentum buffers, lr from the step state, totals into train_totals(),
  // the state's start advanced by `rows`. Such an epoch does not use the per-step buffers (x(), logits, dz,
  // grads), so last_step() does not describe it.
  kernels::PersistentEpochArgs epoch_args(const std::uint8_t* pixels, const std::uint8_t* labels,
                                          const std::uint32_t* order, std::size_t rows, int batch);
  // Device scratch of at least `floats` floats for a one-launch epoch that needs some (its row's
  // scratch_floats); kept between epochs, grown (after synchronising the stream) when too small.
  float* epoch_scratch(std::size_t floats);

  Model model(LossHead head) const;               // synchronises
  // Replaces the parameters with m's (weights (C, D), bias (C): the same shape; the momentum buffers are kept):
  // after the work already enqueued, synchronises.
  void set_model(const Model& m);
  std::vector<float> optimizer_state() const;     // synchronises; empty without momentum
  // The intermediates of the latest step of `rows` rows taken step by step (synchronises); the tests read them.
  StepIntermediates last_step(int rows) const;

 private:
  kernels::SgdStepParams sgd_params() const;
  template <class T>
  void copy_to_host(T* dst, const T* src, std::size_t count) const;

  int dim_;
  int classes_;
  LossHead head_;
  OptimizerConfig optimizer_;
  bool fit_intercept_;  // false: sgd_params() updates the C*D weights alone
  cudaStream_t stream_;
  DeviceBuffer<std::uint8_t> cublas_workspace_;  // set on cublas_ (cublasSetWorkspace); outlives the handle
  CublasHandle cublas_;                           // bound to stream_

  DeviceBuffer<float> params_;    // (C*D + C) weights (C, D) row-major, then bias (C)
  DeviceBuffer<float> grads_;     // (C*D + C) dW, then db
  DeviceBuffer<float> velocity_;  // (C*D + C) momentum buffers; empty without momentum
  DeviceBuffer<kernels::DeviceTotals> totals_;       // [0] training epoch, [1] evaluation
  PinnedBuffer<kernels::DeviceTotals> host_totals_;  // read-back staging
  DeviceBuffer<kernels::DeviceStepState> state_;     // (1)
  PinnedBuffer<kernels::DeviceStepState> host_state_;

  std::size_t capacity_ = 0;
  DeviceBuffer<float> x_;       // (capacity, D)
  DeviceBuffer<float> logits_;  // (capacity, C)
  DeviceBuffer<float> dz_;      // (capacity, C)
  LossPartialsBuffer partials_;  // the many-block loss kernel's per-block sums, for `capacity` rows
  DeviceBuffer<float> epoch_scratch_;  // a one-launch epoch's scratch (epoch_scratch)
};

// cuBLAS's recommended workspace: 32 MiB on Hopper (cc 9.x) and later, 4 MiB before.
std::size_t cublas_workspace_bytes(const cudaDeviceProp& prop);

}  // namespace logreg::cuda
