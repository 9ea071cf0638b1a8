// ResidentInput: the input path that uploads the uint8 training set once. Each epoch uploads only its
// shuffled order; each batch is gathered from the resident set and converted to floats on the device by one
// kernel that reads the batch's position from the device step state, so the step can be captured as a graph
// and replayed (the epoch runner decides that, epoch_runner.hpp). The set and the order on the device also
// serve the one-launch epoch kernels and the full-batch objective.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "batch_source.hpp"
#include "device_resources.hpp"
#include "device_step.hpp"
#include "logreg/dataset.hpp"

namespace logreg::cuda {

// An epoch's order (rows of the set) on the device, uploaded through a pinned staging buffer; the order of the
// resident input paths (this one and FeatureInput, feature_input.hpp).
class DeviceOrder {
 public:
  // Enqueues the copy of `order` on `stream`, after synchronising it (no copy from the staging buffer is still
  // in flight). True when the device buffer was reallocated.
  bool upload(const std::vector<std::uint32_t>& order, cudaStream_t stream);
  const std::uint32_t* data() const { return order_.data(); }  // (epoch rows)

 private:
  DeviceBuffer<std::uint32_t> order_;
  PinnedBuffer<std::uint32_t> host_order_;
};

class ResidentInput final : public BatchSource {
 public:
  // Uploads the set on `step`'s stream.
  ResidentInput(const ImageSet& images, const LabelSet& labels, DeviceStep& step);

  // Uploads the epoch's order. True when the order or label buffers were reallocated.
  bool begin_epoch(const std::vector<std::uint32_t>& order, std::size_t max_rows, DeviceStep& step) override;
  // The gather kernel: batch rows from state->start on (`start` is not read, so the step can be replayed).
  DeviceBatch next_batch(std::size_t start, int rows, DeviceStep& step) override;
  bool capturable() const override { return true; }
  const ResidentInput* resident() const override { return this; }

  // The set on the device, for the full-batch objective and the one-launch epochs: pixels (N, D) uint8
  // row-major, labels (N); and the current epoch's order (rows of the set).
  const std::uint8_t* pixels() const { return pixels_.data(); }
  const std::uint8_t* labels() const { return labels_.data(); }
  const std::uint32_t* order() const { return order_.data(); }

 private:
  std::size_t dim_;
  DeviceBuffer<std::uint8_t> pixels_;  // (N, D) the training set
  DeviceBuffer<std::uint8_t> labels_;  // (N)
  DeviceBuffer<std::uint8_t> y_;       // (capacity) the current batch's labels
  DeviceOrder order_;                  // the epoch's order
};

}  // namespace logreg::cuda
