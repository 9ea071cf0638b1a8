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
#include "logreg/cuda_backend.hpp"
#include "logreg/dataset.hpp"
#include "streamed_input.hpp"

namespace logreg::cuda {

class ResidentInput {
 public:
  // Uploads the set on `step`'s stream. `graphs`: replay a captured step for full batches. `kernel`: which
  // kernels run the steps (CudaKernel, logreg/cuda_backend.hpp).
  ResidentInput(const ImageSet& images, const LabelSet& labels, bool graphs, CudaKernel kernel, DeviceStep& step);

  // One epoch over `order` (checked first) in batches of `batch_size`: the persistent kernel (one launch) when
  // chosen for this batch size, else step by step; `recorder` (may be null) sees every gathered batch, and
  // then the steps run one by one without a graph. Returns the rows of the last batch. Throws UsageError when
  // the kernel is kPersistent and cannot run this batch size.
  int train_epoch(const std::vector<std::uint32_t>& order, int batch_size, DeviceStep& step, BatchRecorder* recorder);

  // True when epochs of `batch_size` rows run on the persistent kernel.
  bool persistent(int batch_size, const DeviceStep& step) const;
  CudaKernel kernel() const { return kernel_; }
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
  CudaKernel kernel_;
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
