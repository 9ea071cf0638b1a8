// DeviceStep (device_step.hpp): parameters, per-batch buffers, the step state, and one SGD step: forward
// GEMM, fused loss/gradient kernel, backward GEMM, update kernel.
#include "device_step.hpp"

#include <cstring>
#include <string>

#include "logreg/errors.hpp"
#include "logreg/maths/gemm_plan.hpp"
#include "gemm.hpp"
#include "nvtx_range.hpp"

namespace logreg::cuda {

std::size_t cublas_workspace_bytes(const cudaDeviceProp& prop) {
  return (prop.major >= 9 ? std::size_t{32} : std::size_t{4}) << 20;
}

DeviceStep::DeviceStep(const cudaDeviceProp& prop, const Model& initial, const OptimizerConfig& optimizer,
                       const std::vector<float>& velocity, cudaStream_t stream, bool fit_intercept)
    : dim_(initial.input_dim),
      classes_(initial.num_classes),
      head_(initial.head),
      optimizer_(optimizer),
      fit_intercept_(fit_intercept),
      stream_(stream),
      cublas_workspace_(cublas_workspace_bytes(prop)),
      cublas_(stream),
      params_(param_count()),
      grads_(param_count()),
      totals_(2),
      host_totals_(2),
      state_(1),
      host_state_(1) {
  // Our own cuBLAS workspace, set after cublasSetStream (which resets the handle to cuBLAS's pool): nothing
  // is allocated inside a graph capture, and every GEMM of both input paths sees the same workspace.
  CUBLAS_CHECK(cublasSetWorkspace(cublas_.get(), cublas_workspace_.data(), cublas_workspace_.bytes()));
  // Parameters: weights (C, D) row-major, then the bias, one block so SGD is one launch.
  CUDA_CHECK(cudaMemcpyAsync(params_.data(), initial.weights.data(), initial.weights.size() * sizeof(float),
                             cudaMemcpyHostToDevice, stream_));
  CUDA_CHECK(cudaMemcpyAsync(params_.data() + initial.weights.size(), initial.bias.data(),
                             initial.bias.size() * sizeof(float), cudaMemcpyHostToDevice, stream_));
  CUDA_CHECK(cudaMemsetAsync(grads_.data(), 0, grads_.bytes(), stream_));
  CUDA_CHECK(cudaMemsetAsync(state_.data(), 0, state_.bytes(), stream_));
  // Momentum buffers (C*D + C): the saved state when resuming, else zeros.
  if (optimizer_.momentum != 0.0f) {
    velocity_ = DeviceBuffer<float>(param_count());
    if (velocity.empty()) {
      CUDA_CHECK(cudaMemsetAsync(velocity_.data(), 0, velocity_.bytes(), stream_));
    } else if (velocity.size() != param_count()) {
      throw DataError("", "optimizer state has " + std::to_string(velocity.size()) + " values, the model needs " +
                              std::to_string(param_count()));
    } else {
      CUDA_CHECK(cudaMemcpyAsync(velocity_.data(), velocity.data(), velocity_.bytes(), cudaMemcpyHostToDevice, stream_));
    }
  }
}

bool DeviceStep::reserve(std::size_t rows) {
  if (capacity_ >= rows) return false;
  CUDA_CHECK(cudaStreamSynchronize(stream_));
  x_ = DeviceBuffer<float>(rows * dim_);
  logits_ = DeviceBuffer<float>(rows * classes_);
  dz_ = DeviceBuffer<float>(rows * classes_);
  partials_ = LossPartialsBuffer(rows, classes_);
  capacity_ = rows;
  return true;
}

void DeviceStep::begin_epoch(float lr) {
  // The staging word may still be read by the previous epoch's copy.
  CUDA_CHECK(cudaStreamSynchronize(stream_));
  host_state_.data()->start = 0;
  host_state_.data()->lr = lr;
  CUDA_CHECK(cudaMemcpyAsync(state_.data(), host_state_.data(), state_.bytes(), cudaMemcpyHostToDevice, stream_));
  CUDA_CHECK(cudaMemsetAsync(train_totals(), 0, sizeof(kernels::DeviceTotals), stream_));
}

kernels::DeviceTotals DeviceStep::read_totals(const kernels::DeviceTotals* totals) {
  CUDA_CHECK(cudaMemcpyAsync(host_totals_.data(), totals, sizeof(kernels::DeviceTotals), cudaMemcpyDeviceToHost,
                             stream_));
  CUDA_CHECK(cudaStreamSynchronize(stream_));
  return host_totals_.data()[0];
}

void DeviceStep::forward_backward(const std::uint8_t* labels, int rows, const CudaEvent* labels_consumed,
                                  const double* row_weights) {
  {
    NvtxRange range("forward");
    // cuBLAS is column-major and our buffers row-major, so cuBLAS sees every buffer transposed
    // (gemm_plan.hpp). We want Z (B, C) = X (B, D) · Wᵀ; cuBLAS computes its column-major Zᵀ (C, B)
    // = W · Xᵀ from A = the W buffer (seen as Wᵀ (D, C), ld D, op T -> (C, D)) and B = the X buffer
    // (seen as Xᵀ (D, B), ld D, op N); m = C, n = B, k = D; the result buffer read row-major is Z.
    gemm(cublas_.get(), forward_logits_gemm(rows, dim_, classes_), weights(), x_.data(), logits_.data());
  }
  {
    NvtxRange range("loss_grad");
    kernels::loss_grad(head_, rows, classes_, 1.0f / static_cast<float>(rows), logits_.data(), bias(), labels,
                       row_weights, dz_.data(), grads_.data() + static_cast<std::size_t>(classes_) * dim_, train_totals(),
                       partials_.view(), stream_);
    if (labels_consumed != nullptr) labels_consumed->record(stream_);
  }
  {
    NvtxRange range("backward");
    // dW (C, D) = dZᵀ (C, B) · X (B, D) row-major is the column-major dWᵀ (D, C) = Xᵀ (D, B) · dZ (B, C):
    // A = the X buffer (seen as Xᵀ (D, B), ld D, op N), B = the dZ buffer (seen as dZᵀ (C, B), ld C,
    // op T -> (B, C)); m = D, n = C, k = B (backward_weights_gemm); dW lands at the start of grads_.
    gemm(cublas_.get(), backward_weights_gemm(rows, dim_, classes_), x_.data(), dz_.data(), grads_.data());
  }
}

void DeviceStep::update(int rows) {
  NvtxRange range("sgd_update");
  kernels::sgd_update_from_state(params_.data(), grads_.data(), velocity_.size() > 0 ? velocity_.data() : nullptr,
                                 sgd_params(), state(), static_cast<unsigned long long>(rows), stream_);
}

kernels::PersistentEpochArgs DeviceStep::epoch_args(const std::uint8_t* pixels, const std::uint8_t* labels,
                                                    const std::uint32_t* order, std::size_t rows, int batch) {
  kernels::PersistentEpochArgs a{};
  a.pixels = pixels;
  a.labels = labels;
  a.order = order;
  a.rows = rows;
  a.batch = batch;
  a.dim = dim_;
  a.classes = classes_;
  a.head = head_;
  a.sgd = sgd_params();
  a.params = params_.data();
  a.velocity = velocity_.size() > 0 ? velocity_.data() : nullptr;
  a.state = state();
  a.totals = train_totals();
  return a;
}

float* DeviceStep::epoch_scratch(std::size_t floats) {
  if (epoch_scratch_.size() < floats) {
    CUDA_CHECK(cudaStreamSynchronize(stream_));  // an epoch still enqueued may use the old buffer
    epoch_scratch_ = DeviceBuffer<float>(floats);
  }
  return epoch_scratch_.data();
}

kernels::SgdStepParams DeviceStep::sgd_params() const {
  kernels::SgdStepParams p;  // p.lr stays 0: the update kernel reads the epoch's lr from the step state
  p.momentum = optimizer_.momentum;
  p.weight_decay = optimizer_.weight_decay;
  p.nesterov = optimizer_.nesterov;
  p.n_weights = static_cast<std::size_t>(classes_) * dim_;
  p.n = fit_intercept_ ? param_count() : p.n_weights;  // without an intercept the biases are never updated
  return p;
}

template <class T>
void DeviceStep::copy_to_host(T* dst, const T* src, std::size_t count) const {
  if (count == 0) return;
  CUDA_CHECK(cudaMemcpyAsync(dst, src, count * sizeof(T), cudaMemcpyDeviceToHost, stream_));
}

Model DeviceStep::model(LossHead head) const {
  Model m;
  m.input_dim = dim_;
  m.num_classes = classes_;
  m.head = head;
  m.weights.resize(static_cast<std::size_t>(classes_) * dim_);
  m.bias.resize(static_cast<std::size_t>(classes_));
  copy_to_host(m.weights.data(), params_.data(), m.weights.size());
  copy_to_host(m.bias.data(), params_.data() + m.weights.size(), m.bias.size());
  CUDA_CHECK(cudaStreamSynchronize(stream_));
  return m;
}

void DeviceStep::set_model(const Model& m) {
  if (m.input_dim != dim_ || m.num_classes != classes_ || m.weights.size() + m.bias.size() != param_count()) {
    throw UsageError("set_model: the model's shape is not the backend's");
  }
  CUDA_CHECK(cudaMemcpyAsync(params_.data(), m.weights.data(), m.weights.size() * sizeof(float), cudaMemcpyHostToDevice,
                             stream_));
  CUDA_CHECK(cudaMemcpyAsync(params_.data() + m.weights.size(), m.bias.data(), m.bias.size() * sizeof(float),
                             cudaMemcpyHostToDevice, stream_));
  CUDA_CHECK(cudaStreamSynchronize(stream_));  // m's vectors may go once this returns
}

std::vector<float> DeviceStep::optimizer_state() const {
  std::vector<float> v(velocity_.size());
  if (v.empty()) return v;
  copy_to_host(v.data(), velocity_.data(), v.size());
  CUDA_CHECK(cudaStreamSynchronize(stream_));
  return v;
}

StepIntermediates DeviceStep::last_step(int rows) const {
  StepIntermediates s;
  s.batch = rows;
  const std::size_t bc = static_cast<std::size_t>(rows) * classes_;
  const std::size_t cd = static_cast<std::size_t>(classes_) * dim_;
  s.logits.resize(bc);
  s.dz.resize(bc);
  s.dw.resize(cd);
  s.db.resize(static_cast<std::size_t>(classes_));
  copy_to_host(s.logits.data(), logits_.data(), bc);
  copy_to_host(s.dz.data(), dz_.data(), bc);
  copy_to_host(s.dw.data(), grads_.data(), cd);
  copy_to_host(s.db.data(), grads_.data() + cd, s.db.size());
  CUDA_CHECK(cudaStreamSynchronize(stream_));
  return s;
}

}  // namespace logreg::cuda
