// FeatureInput (feature_input.hpp): a feature file's float32 rows uploaded once, the per-epoch order and the
// on-device gather of each batch's rows, labels and weights.
#include "feature_input.hpp"

#include "cuda_check.hpp"
#include "kernels.hpp"
#include "nvtx_range.hpp"

namespace logreg::cuda {

std::size_t FeatureInput::device_bytes(std::size_t count, std::size_t dim, bool weighted) {
  return count * dim * sizeof(float) + count * sizeof(std::uint8_t) + (weighted ? count * sizeof(double) : 0) +
         count * sizeof(std::uint32_t);
}

FeatureInput::FeatureInput(const FeatureRows& rows, DeviceStep& step) : dim_(rows.dim) {
  // The host vectors are read here and never again.
  x_ = DeviceBuffer<float>(rows.count * dim_);
  labels_ = DeviceBuffer<std::uint8_t>(rows.count);
  if (!rows.terms.row_weights.empty()) weights_ = DeviceBuffer<double>(rows.count);
  if (rows.count > 0) {
    CUDA_CHECK(cudaMemcpyAsync(x_.data(), rows.x.data(), x_.bytes(), cudaMemcpyHostToDevice, step.stream()));
    CUDA_CHECK(cudaMemcpyAsync(labels_.data(), rows.labels.labels.data(), labels_.bytes(), cudaMemcpyHostToDevice,
                               step.stream()));
    if (weights_.size() > 0) {
      CUDA_CHECK(cudaMemcpyAsync(weights_.data(), rows.terms.row_weights.data(), weights_.bytes(),
                                 cudaMemcpyHostToDevice, step.stream()));
    }
  }
  CUDA_CHECK(cudaStreamSynchronize(step.stream()));
}

bool FeatureInput::begin_epoch(const std::vector<std::uint32_t>& order, std::size_t max_rows, DeviceStep& step) {
  bool reallocated = false;
  if (y_.size() < max_rows) {
    y_ = DeviceBuffer<std::uint8_t>(step.capacity());
    if (weights_.size() > 0) w_ = DeviceBuffer<double>(step.capacity());
    reallocated = true;
  }
  return order_.upload(order, step.stream()) || reallocated;
}

DeviceBatch FeatureInput::next_batch(std::size_t /*start*/, int rows, DeviceStep& step) {
  NvtxRange range("gather");
  const bool weighted = weights_.size() > 0;
  kernels::gather_convert(x_.data(), labels_.data(), weighted ? weights_.data() : nullptr, order_.data(), step.state(),
                          static_cast<std::size_t>(rows), dim_, step.x(), y_.data(), weighted ? w_.data() : nullptr,
                          step.stream());
  return DeviceBatch{y_.data(), nullptr, weighted ? w_.data() : nullptr};
}

}  // namespace logreg::cuda
