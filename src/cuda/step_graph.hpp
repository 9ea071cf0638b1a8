// StepGraph: one training step captured as a CUDA graph and replayed for every full batch of every epoch.
// The step reads its batch position and learning rate from the device step state (step_state.hpp), so one
// graph of a given batch size serves every batch. Should a capture fail (a library call that cannot be
// captured), the graph turns itself off and says why, and the steps run uncaptured. The plumbing only: which
// steps run is the epoch runner's business (epoch_runner.hpp).
#pragma once

#include <cuda_runtime.h>

#include <functional>
#include <string>

#include "device_resources.hpp"

namespace logreg::cuda {

class StepGraph {
 public:
  explicit StepGraph(bool enabled) : enabled_(enabled) {}

  // On, and no capture has failed.
  bool enabled() const { return enabled_; }
  // Set when a capture failed: what the backend's name says instead of "CUDA graphs on".
  const std::string& failure() const { return failure_; }
  // A graph of one step of `rows` rows is ready to replay.
  bool ready(int rows) const { return exec_.valid() && rows_ == rows; }
  // Drops the graph: the buffers it used were reallocated.
  void reset() { exec_.reset(); }

  // Records what `enqueue_step` puts on `stream` as the graph of a step of `rows` rows (nothing runs). On a
  // failed capture the graph is off from then on (a warning on stderr, failure()).
  void capture(cudaStream_t stream, int rows, const std::function<void()>& enqueue_step);
  void launch(cudaStream_t stream) const { exec_.launch(stream); }

 private:
  bool enabled_;
  std::string failure_;
  CudaGraphExec exec_;  // invalid = none
  int rows_ = 0;
};

}  // namespace logreg::cuda
