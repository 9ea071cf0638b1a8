// ResidentInput (resident_input.hpp): the uploaded training set, the per-epoch order (DeviceOrder) and the
// on-device gather.
#include "resident_input.hpp"

#include <algorithm>

#include "cuda_check.hpp"
#include "kernels.hpp"
#include "nvtx_range.hpp"

namespace logreg::cuda {

ResidentInput::ResidentInput(const ImageSet& images, const LabelSet& labels, DeviceStep& step) : dim_(images.dim()) {
  // The host vectors are read here and never again.
  const std::size_t pixel_bytes = images.count * dim_;
  pixels_ = DeviceBuffer<std::uint8_t>(pixel_bytes);
  labels_ = DeviceBuffer<std::uint8_t>(labels.count());
  if (pixel_bytes > 0) {
    CUDA_CHECK(cudaMemcpyAsync(pixels_.data(), images.pixels.data(), pixel_bytes, cudaMemcpyHostToDevice, step.stream()));
    CUDA_CHECK(cudaMemcpyAsync(labels_.data(), labels.labels.data(), labels.count(), cudaMemcpyHostToDevice,
                               step.stream()));
  }
  CUDA_CHECK(cudaStreamSynchronize(step.stream()));
}

bool DeviceOrder::upload(const std::vector<std::uint32_t>& order, cudaStream_t stream) {
  bool reallocated = false;
  CUDA_CHECK(cudaStreamSynchronize(stream));  // no copy from the pinned order is still in flight
  if (order_.size() < order.size()) {
    order_ = DeviceBuffer<std::uint32_t>(order.size());
    host_order_ = PinnedBuffer<std::uint32_t>(order.size());
    reallocated = true;
  }
  std::copy(order.begin(), order.end(), host_order_.data());
  CUDA_CHECK(cudaMemcpyAsync(order_.data(), host_order_.data(), order.size() * sizeof(std::uint32_t),
                             cudaMemcpyHostToDevice, stream));
  return reallocated;
}

bool ResidentInput::begin_epoch(const std::vector<std::uint32_t>& order, std::size_t max_rows, DeviceStep& step) {
  bool reallocated = false;
  if (y_.size() < max_rows) {
    y_ = DeviceBuffer<std::uint8_t>(step.capacity());
    reallocated = true;
  }
  return order_.upload(order, step.stream()) || reallocated;
}

DeviceBatch ResidentInput::next_batch(std::size_t /*start*/, int rows, DeviceStep& step) {
  NvtxRange range("gather");
  kernels::gather_convert(pixels_.data(), labels_.data(), order_.data(), step.state(), static_cast<std::size_t>(rows),
                          dim_, step.x(), y_.data(), step.stream());
  return DeviceBatch{y_.data(), nullptr};
}

}  // namespace logreg::cuda
