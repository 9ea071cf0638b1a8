// What an input path supplies to the epoch runner (epoch_runner.hpp): the batches of an epoch, each enqueued
// as floats into the step's x() with its labels on the device. The input paths (resident_input.hpp,
// streamed_input.hpp) implement BatchSource and choose no kernels.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "device_resources.hpp"

namespace logreg::cuda {

class DeviceStep;
class ResidentInput;

struct DeviceBatch {
  const std::uint8_t* labels;             // (rows) on the device
  const CudaEvent* labels_consumed;       // recorded after the last reader of `labels`; may be null
  const double* row_weights = nullptr;    // (rows) on the device: each row's weight in the loss, or null (all 1)
};

class BatchSource {
 public:
  virtual ~BatchSource() = default;
  // Before the epoch's batches of up to `max_rows` rows over `order` (checked by the caller); the step's
  // buffers are reserved. True when buffers a captured step graph may use were reallocated.
  virtual bool begin_epoch(const std::vector<std::uint32_t>& order, std::size_t max_rows, DeviceStep& step) = 0;
  // Enqueues the `rows` rows at `start` of the order into step.x(), in stream order before the step.
  virtual DeviceBatch next_batch(std::size_t start, int rows, DeviceStep& step) = 0;
  // True when next_batch may be captured into a step graph and replayed: it reads the batch's position
  // from the device step state, not from `start`.
  virtual bool capturable() const = 0;
  // The set and the epoch's order on the device, for one-launch epochs; null when the set is streamed.
  virtual const ResidentInput* resident() const { return nullptr; }
};

}  // namespace logreg::cuda
