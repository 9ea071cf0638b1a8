// StreamedInput: the input path that keeps the training set on the host. Each batch is gathered into the
// next slot of a ring of pinned staging buffers and uploaded on a copy stream while the previous batch
// computes; the compute stream waits for each upload (event) and converts the uint8 batch to floats.
// The slot schedule itself (which slot, which earlier batch must be done with it) is batch_ring.hpp. Each
// batch's position is the host's, so its steps are not captured as a graph.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "batch_ring.hpp"
#include "batch_source.hpp"
#include "device_resources.hpp"
#include "device_step.hpp"
#include "logreg/dataset.hpp"

namespace logreg::cuda {

// One slot of the ring: a pinned staging buffer the host gathers into, the device buffer it is uploaded
// to, `uploaded` (recorded on the copy stream after the upload) and `consumed` (recorded on the compute
// stream after the last kernel that reads the device buffer).
struct RingSlot {
  PinnedBuffer<std::uint8_t> host_pixels;  // (capacity, D)
  PinnedBuffer<std::uint8_t> host_labels;  // (capacity)
  DeviceBuffer<std::uint8_t> pixels;       // (capacity, D)
  DeviceBuffer<std::uint8_t> labels;       // (capacity)
  CudaEvent uploaded;
  CudaEvent consumed;

  RingSlot(std::size_t capacity, std::size_t dim)
      : host_pixels(capacity * dim), host_labels(capacity), pixels(capacity * dim), labels(capacity) {}
};

class StreamedInput final : public BatchSource {
 public:
  StreamedInput(const ImageSet& images, const LabelSet& labels, int ring_slots, cudaStream_t copy_stream);
  ~StreamedInput();
  StreamedInput(const StreamedInput&) = delete;
  StreamedInput& operator=(const StreamedInput&) = delete;

  // Sizes the ring for batches of up to `max_rows` rows and keeps `order` for the epoch's batches (the
  // caller keeps it alive until they are enqueued). Returns false: nothing a step graph uses changes.
  bool begin_epoch(const std::vector<std::uint32_t>& order, std::size_t max_rows, DeviceStep& step) override;
  // Gathers the batch on the host into the next ring slot, uploads it on the copy stream; the compute stream
  // waits for the upload and converts it into step.x().
  DeviceBatch next_batch(std::size_t start, int rows, DeviceStep& step) override;
  bool capturable() const override { return false; }

 private:
  int upload_batch(std::size_t start, int rows);
  void reserve(std::size_t rows, std::size_t dim);

  const ImageSet& images_;
  const LabelSet& labels_;
  const std::vector<std::uint32_t>* order_ = nullptr;  // the current epoch's
  int ring_slots_;
  cudaStream_t copy_;
  std::size_t capacity_ = 0;
  std::unique_ptr<BatchRingSchedule> schedule_;
  std::vector<RingSlot> slots_;
  std::int64_t issued_ = 0;  // batches uploaded through the ring so far
};

}  // namespace logreg::cuda
