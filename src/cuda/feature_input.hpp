// FeatureInput: the CUDA feature engine's input path (cuda_feature_backend.cu). A feature file's dense float32
// rows (FeatureRows, feature_sgd.hpp), their class indices and, when the fit has them, their row weights are
// uploaded once; each epoch uploads its order, and each batch is gathered on the device by the gather kernel of
// the pixel path, over float32 rows (no conversion) and the rows' weights too, reading the batch's position from
// the device step state so that the epoch runner replays one captured step graph. No streamed form: the rows
// must fit the device (FeatureInput::device_bytes).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "batch_source.hpp"
#include "device_resources.hpp"
#include "device_step.hpp"
#include "logreg/feature_sgd.hpp"
#include "resident_input.hpp"

namespace logreg::cuda {

class FeatureInput final : public BatchSource {
 public:
  // Uploads the rows on `step`'s stream (synchronises).
  FeatureInput(const FeatureRows& rows, DeviceStep& step);

  // The device bytes the rows take here: x (count, dim) float32, the labels, the row weights (double) when
  // `weighted`, and the epoch order (uint32 per row).
  static std::size_t device_bytes(std::size_t count, std::size_t dim, bool weighted);

  bool begin_epoch(const std::vector<std::uint32_t>& order, std::size_t max_rows, DeviceStep& step) override;
  // The gather kernel: batch rows from state->start on (`start` is not read, so the step can be replayed).
  DeviceBatch next_batch(std::size_t start, int rows, DeviceStep& step) override;
  bool capturable() const override { return true; }

 private:
  std::size_t dim_;
  DeviceBuffer<float> x_;              // (N, D) the training rows, row-major
  DeviceBuffer<std::uint8_t> labels_;  // (N) class indices
  DeviceBuffer<double> weights_;       // (N) a_i, or empty when every row weighs 1
  DeviceBuffer<std::uint8_t> y_;       // (capacity) the current batch's labels
  DeviceBuffer<double> w_;             // (capacity) the current batch's weights, or empty
  DeviceOrder order_;                  // the epoch's order
};

}  // namespace logreg::cuda
