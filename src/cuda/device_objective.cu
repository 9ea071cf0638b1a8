// DeviceObjective (device_objective.hpp): the full-batch objective chunk by chunk on the device, the sums
// over chunks on the host in double.
#include "device_objective.hpp"

#include <algorithm>
#include <string>

#include "cuda_check.hpp"
#include "logreg/errors.hpp"
#include "logreg/maths/gemm_plan.hpp"
#include "logreg/maths/objective_math.hpp"
#include "nvtx_range.hpp"

namespace logreg::cuda {

void DeviceObjective::reserve(std::size_t chunk, const DeviceStep& step) {
  if (chunk <= chunk_capacity_) return;
  CUDA_CHECK(cudaStreamSynchronize(step.stream()));  // buffers in use by enqueued work are about to be freed
  const std::size_t dim = static_cast<std::size_t>(step.dim());
  const std::size_t classes = static_cast<std::size_t>(step.classes());
  x_ = DeviceBuffer<float>(chunk * dim);
  y_ = DeviceBuffer<std::uint8_t>(chunk);
  logits_ = DeviceBuffer<float>(chunk * classes);
  dz_ = DeviceBuffer<float>(chunk * classes);
  partials_ = LossPartialsBuffer(chunk, step.classes());
  chunk_capacity_ = chunk;
}

double DeviceObjective::evaluate(const std::uint8_t* pixels, const std::uint8_t* labels, std::size_t set_rows,
                                 const std::vector<std::uint32_t>& rows, const double* params, double l2,
                                 double* grad, DeviceStep& step, LossHead head) {
  NvtxRange range("full_batch_objective");
  const std::size_t n = rows.size();
  if (n == 0) throw UsageError("full_batch_objective: no rows");
  for (const std::uint32_t r : rows) {
    if (r >= set_rows) {
      throw UsageError("full_batch_objective: row " + std::to_string(r) + " is past the " + std::to_string(set_rows) +
                       " training rows");
    }
  }
  const int C = step.classes();
  const int D = step.dim();
  const std::size_t n_weights = static_cast<std::size_t>(C) * static_cast<std::size_t>(D);
  const std::size_t n_params = n_weights + static_cast<std::size_t>(C);
  const cudaStream_t stream = step.stream();
  if (params_.size() != n_params) {
    CUDA_CHECK(cudaStreamSynchronize(stream));
    params_ = DeviceBuffer<float>(n_params);
    grads_ = DeviceBuffer<float>(n_params);
    state_ = DeviceBuffer<kernels::DeviceStepState>(1);
    totals_ = DeviceBuffer<kernels::DeviceTotals>(1);
    const kernels::DeviceStepState zero{0, 0.0f};
    CUDA_CHECK(cudaMemcpyAsync(state_.data(), &zero, sizeof zero, cudaMemcpyHostToDevice, stream));
  }
  reserve(std::min(n, kChunkRows), step);
  if (rows != uploaded_rows_) {
    CUDA_CHECK(cudaStreamSynchronize(stream));
    if (rows_.size() < n) rows_ = DeviceBuffer<std::uint32_t>(n);
    CUDA_CHECK(cudaMemcpyAsync(rows_.data(), rows.data(), n * sizeof(std::uint32_t), cudaMemcpyHostToDevice, stream));
    uploaded_rows_ = rows;
  }
  // 1. The parameters as float (the host vector lives until the synchronisation below).
  std::vector<float> p(n_params);
  for (std::size_t j = 0; j < n_params; ++j) p[j] = static_cast<float>(params[j]);
  CUDA_CHECK(cudaMemcpyAsync(params_.data(), p.data(), n_params * sizeof(float), cudaMemcpyHostToDevice, stream));
  CUDA_CHECK(cudaMemsetAsync(totals_.data(), 0, sizeof(kernels::DeviceTotals), stream));

  const float inv_n = static_cast<float>(1.0 / static_cast<double>(n));
  const float* w = params_.data();
  const float* b = params_.data() + n_weights;
  std::fill(grad, grad + n_params, 0.0);
  std::vector<float> chunk_grads(n_params);
  for (std::size_t start = 0; start < n; start += kChunkRows) {
    const int chunk = static_cast<int>(std::min(kChunkRows, n - start));
    // 2. x, y of the chunk's rows; Z = X·Wᵀ (forward_logits_gemm); loss, dz = dloss/dz / n, db; dW = dZᵀ·X.
    kernels::gather_convert(pixels, labels, rows_.data() + start, state_.data(), static_cast<std::size_t>(chunk),
                            static_cast<std::size_t>(D), x_.data(), y_.data(), stream);
    gemm(step.cublas(), forward_logits_gemm(chunk, D, C), w, x_.data(), logits_.data());
    kernels::loss_grad(head, chunk, C, inv_n, logits_.data(), b, y_.data(), dz_.data(), grads_.data() + n_weights,
                       totals_.data(), partials_.view(), stream);
    gemm(step.cublas(), backward_weights_gemm(chunk, D, C), x_.data(), dz_.data(), grads_.data());
    // 3. The chunk's gradient, added on the host in double, in chunk order.
    CUDA_CHECK(cudaMemcpyAsync(chunk_grads.data(), grads_.data(), n_params * sizeof(float), cudaMemcpyDeviceToHost,
                               stream));
    CUDA_CHECK(cudaStreamSynchronize(stream));
    for (std::size_t j = 0; j < n_params; ++j) grad[j] += static_cast<double>(chunk_grads[j]);
  }
  kernels::DeviceTotals totals{};
  CUDA_CHECK(cudaMemcpyAsync(&totals, totals_.data(), sizeof totals, cudaMemcpyDeviceToHost, stream));
  CUDA_CHECK(cudaStreamSynchronize(stream));
  const double penalty = add_weight_penalty(params, grad, n_weights, l2);
  return totals.loss_sum / static_cast<double>(n) + penalty;
}

}  // namespace logreg::cuda
