// StreamedInput (streamed_input.hpp): host gather into pinned ring slots, upload on the copy stream,
// convert on the compute stream.
#include "streamed_input.hpp"

#include "kernels.hpp"
#include "nvtx_range.hpp"

namespace logreg::cuda {

StreamedInput::StreamedInput(const ImageSet& images, const LabelSet& labels, int ring_slots, cudaStream_t copy_stream)
    : images_(images), labels_(labels), ring_slots_(ring_slots), copy_(copy_stream) {
  schedule_ = std::make_unique<BatchRingSchedule>(ring_slots);  // throws for fewer than 2 slots
}

StreamedInput::~StreamedInput() {
  // Pending uploads read the pinned slots that are about to be freed.
  log_release_failure(cudaStreamSynchronize(copy_), "cudaStreamSynchronize(copy)");
}

void StreamedInput::reserve(std::size_t rows, std::size_t dim) {
  if (capacity_ >= rows) return;
  CUDA_CHECK(cudaStreamSynchronize(copy_));
  slots_.clear();
  slots_.reserve(static_cast<std::size_t>(ring_slots_));
  for (int s = 0; s < ring_slots_; ++s) slots_.emplace_back(rows, dim);
  issued_ = 0;
  capacity_ = rows;
}

bool StreamedInput::begin_epoch(const std::vector<std::uint32_t>& order, std::size_t max_rows, DeviceStep& step) {
  order_ = &order;
  if (capacity_ < max_rows) {
    CUDA_CHECK(cudaStreamSynchronize(step.stream()));  // no kernel still reads a slot about to be freed
    reserve(max_rows, images_.dim());
  }
  return false;
}

// 1. Gather batch k into a pinned slot and upload it on the copy stream; 2. the compute stream waits for it
// and converts it. The host runs ahead, so the upload of batch k + 1 overlaps the compute of batch k.
DeviceBatch StreamedInput::next_batch(std::size_t start, int rows, DeviceStep& step) {
  RingSlot& slot = slots_[static_cast<std::size_t>(upload_batch(start, rows))];
  CUDA_CHECK(cudaStreamWaitEvent(step.stream(), slot.uploaded.get(), 0));
  {
    NvtxRange range("convert");
    kernels::convert_pixels(slot.pixels.data(), step.x(), static_cast<std::size_t>(rows) * images_.dim(), step.stream());
  }
  // The last readers of the device slot: pixels in convert, labels in the loss kernel (recorded by the step).
  return DeviceBatch{slot.labels.data(), &slot.consumed};
}

int StreamedInput::upload_batch(std::size_t start, int rows) {
  NvtxRange range("h2d");
  const std::int64_t k = issued_++;
  const int s = schedule_->slot_of(k);
  RingSlot& slot = slots_[static_cast<std::size_t>(s)];
  const bool reused = schedule_->must_complete_before_reuse(k) >= 0;
  if (reused) slot.uploaded.synchronize();  // the pinned slot is free once its last upload is done
  gather_batch(images_, labels_, order_->data(), start, rows, slot.host_pixels.data(), slot.host_labels.data());
  // The device slot is free once the compute stream has run the last kernel that reads it.
  if (reused) CUDA_CHECK(cudaStreamWaitEvent(copy_, slot.consumed.get(), 0));
  const std::size_t pixel_bytes = static_cast<std::size_t>(rows) * images_.dim();
  CUDA_CHECK(cudaMemcpyAsync(slot.pixels.data(), slot.host_pixels.data(), pixel_bytes, cudaMemcpyHostToDevice, copy_));
  CUDA_CHECK(cudaMemcpyAsync(slot.labels.data(), slot.host_labels.data(), static_cast<std::size_t>(rows),
                             cudaMemcpyHostToDevice, copy_));
  slot.uploaded.record(copy_);
  return s;
}

}  // namespace logreg::cuda
