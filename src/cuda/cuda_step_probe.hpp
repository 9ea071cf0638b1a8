// Test hooks of the CUDA backend: the intermediates of its last training step, a recording of every
// batch as it arrived on the device, and how often the evaluator uploaded a set. make_cuda_backend()'s object implements CudaStepProbe; tests reach
// it with dynamic_cast. Host-only (no CUDA types); not used by the trainer itself.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace logreg::cuda {

// The last training step's device buffers, copied back. B = rows of that batch.
struct StepIntermediates {
  int batch = 0;
  std::vector<float> logits;  // (B, C) X·Wᵀ + b, row-major
  std::vector<float> dz;      // (B, C) dloss/dz / B, row-major
  std::vector<float> dw;      // (C, D) row-major
  std::vector<float> db;      // (C)
};

// Every batch of the most recent train_epoch call made while recording, in order, as the compute
// stream saw them (after waiting for their upload).
struct RecordedBatches {
  std::vector<std::uint8_t> pixels;  // (rows, D) row-major, batches back to back
  std::vector<std::uint8_t> labels;  // (rows)
};

class CudaStepProbe {
 public:
  virtual ~CudaStepProbe() = default;

  // Copies back the intermediates of the most recent training step (synchronises).
  virtual StepIntermediates last_step() const = 0;

  // While enabled, each train_epoch also copies every device batch (right after the compute stream
  // waited for its upload) into a device recording buffer, replacing the previous recording; no CUDA
  // graph is replayed then. ("Capture" means CUDA graph capture only.)
  virtual void set_batch_recording(bool enabled) = 0;
  virtual RecordedBatches recorded_batches() const = 0;

  // How many image sets the evaluator has uploaded so far (each set is uploaded once and cached).
  virtual std::size_t evaluation_uploads() const = 0;
};

}  // namespace logreg::cuda
