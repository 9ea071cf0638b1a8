// ResidentInput: the input path that uploads the uint8 training set once. Each epoch uploads only its
// shuffled order; a kernel gathers every batch from the resident set and converts it to floats on the
// device. One full-batch step (gather, GEMM, loss, GEMM, update) is captured as a CUDA graph once and
// replayed for every full batch of every epoch: the batch position and the learning rate come from the
// device step state, so the same graph serves every batch and every learning-rate schedule.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "device_resources.hpp"
#include "device_step.hpp"
#include "logreg/dataset.hpp"
#include "streamed_input.hpp"

namespace logreg::cuda {

class ResidentInput {
 public:
  // Uploads the set on `step`'s stream. `graphs`: replay a captured step for full batches.
  ResidentInput(const ImageSet& images, const LabelSet& labels, bool graphs, DeviceStep& step);

  // One epoch over `order` (checked first) in batches of `batch_size`; `recorder` (may be null) sees every
  // gathered batch, and then no graph is used. Returns the rows of the last batch.
  int train_epoch(const std::vector<std::uint32_t>& order, int batch_size, DeviceStep& step, BatchRecorder* recorder);

  bool graphs() const { return graphs_; }
  // Set when capturing a graph failed: what name() should say instead of "CUDA graphs on".
  const std::string& graph_failure() const { return graph_failure_; }
  // The set on the device, for the full-batch objective: pixels (N, D) uint8 row-major, labels (N).
  const std::uint8_t* pixels() const { return pixels_.data(); }
  const std::uint8_t* labels() const { return labels_.data(); }

 private:
  void step_once(int rows, DeviceStep& step, BatchRecorder* recorder);
  void capture_step_graph(int rows, DeviceStep& step);

  std::size_t rows_;
  std::size_t dim_;
  bool graphs_;
  std::string graph_failure_;
  DeviceBuffer<std::uint8_t> pixels_;  // (N, D) the training set
  DeviceBuffer<std::uint8_t> labels_;  // (N)
  DeviceBuffer<std::uint8_t> y_;       // (capacity) the current batch's labels
  DeviceBuffer<std::uint32_t> order_;  // (epoch rows) the epoch's order
  PinnedBuffer<std::uint32_t> host_order_;
  CudaGraphExec step_graph_;  // one step of step_graph_rows_ rows; invalid = none
  int step_graph_rows_ = 0;
};

}  // namespace logreg::cuda
