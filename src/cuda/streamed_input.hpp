// StreamedInput: the input path that keeps the training set on the host. Each batch is gathered into the
// next slot of a ring of pinned staging buffers and uploaded on a copy stream while the previous batch
// computes; the compute stream waits for each upload (event) and converts the uint8 batch to floats.
// The slot schedule itself (which slot, which earlier batch must be done with it) is batch_ring.hpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "batch_ring.hpp"
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

// Called with each batch as the compute stream sees it, before it is used (tests record them).
class BatchRecorder {
 public:
  virtual ~BatchRecorder() = default;
  virtual void record_pixels(const std::uint8_t* pixels, const std::uint8_t* labels, int rows) = 0;  // (rows, D)
  virtual void record_floats(const float* x, const std::uint8_t* labels, int rows) = 0;              // (rows, D)
};

class StreamedInput {
 public:
  StreamedInput(const ImageSet& images, const LabelSet& labels, int ring_slots, cudaStream_t copy_stream);
  ~StreamedInput();
  StreamedInput(const StreamedInput&) = delete;
  StreamedInput& operator=(const StreamedInput&) = delete;

  // One epoch over `order` (rows of the set, checked first) in batches of `batch_size`, each an SGD step
  // of `step`; `recorder` (may be null) sees every batch. Returns the rows of the last batch.
  int train_epoch(const std::vector<std::uint32_t>& order, int batch_size, DeviceStep& step, BatchRecorder* recorder);

 private:
  int upload_batch(const std::vector<std::uint32_t>& order, std::size_t start, int rows);
  void reserve(std::size_t rows, std::size_t dim);

  const ImageSet& images_;
  const LabelSet& labels_;
  int ring_slots_;
  cudaStream_t copy_;
  std::size_t capacity_ = 0;
  std::unique_ptr<BatchRingSchedule> schedule_;
  std::vector<RingSlot> slots_;
  std::int64_t issued_ = 0;  // batches uploaded through the ring so far
};

// Throws when a row of `order` is outside a set of `rows` images (before any step is taken).
void check_order(const std::vector<std::uint32_t>& order, std::size_t rows);

}  // namespace logreg::cuda
