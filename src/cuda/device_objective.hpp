// DeviceObjective: the CUDA full-batch engine's objective (FullBatchEngine::full_batch_objective) in double on
// the device: two launches per evaluation (kernels/objective_fp64.cu: fixed row blocks into their own slots,
// then the slots added in slot order), the parameters in and the gradient and loss out through pinned buffers,
// one synchronisation; the penalty added on the host (maths/objective_math.hpp), as every backend does.
// Bit-reproducible run to run and device to device. Not here: the solver (solver.hpp), the device's copy of
// the set (the engine's, with the data on the device).
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "device_resources.hpp"
#include "kernels.hpp"
#include "logreg/dataset.hpp"  // (its device bytes: objective_device_bytes, cuda_backend.hpp)

namespace logreg::cuda {

class DeviceObjective {
 public:
  // C classes of D pixels; shared_optin: the device's sharedMemPerBlockOptin (sizes the kernel's tiles).
  DeviceObjective(int classes, int dim, std::size_t shared_optin);

  // f at params (C*D + C, W then b) over `rows` of the training set with l2 = l2_strength(C, n); grad
  // (C*D + C) receives df/dparams. The set is read where it is: device_pixels / device_labels ((N, D), (N))
  // with the data on the device; nullptr: the rows are gathered once into pinned host memory, which the kernel
  // reads directly (no second copy of the set on the device). Rows are checked (< N) and uploaded or gathered
  // only when they differ from the previous call's. Enqueues on `stream` and waits for it once.
  double evaluate(const ImageSet& images, const LabelSet& labels, const std::uint8_t* device_pixels,
                  const std::uint8_t* device_labels, const std::vector<std::uint32_t>& rows, const double* params,
                  double l2, double* grad, LossHead head, cudaStream_t stream);

 private:
  void set_rows(const ImageSet& images, const LabelSet& labels, bool streamed, const std::vector<std::uint32_t>& rows,
                cudaStream_t stream);

  int classes_;
  int dim_;
  kernels::ObjectivePlan plan_;
  PinnedBuffer<double> params_host_;             // (C*D + C) the parameters asked about
  PinnedBuffer<double> out_host_;                // (C*D + C + 1) data gradient, then the loss sum
  DeviceBuffer<double> params_;                  // (C*D + C)
  DeviceBuffer<double> out_;                     // (C*D + C + 1)
  DeviceBuffer<double> partials_;                // (blocks, C*D + C + 1) the row blocks' slots
  DeviceBuffer<std::uint32_t> rows_;             // (n) data on the device: the rows
  PinnedBuffer<std::uint8_t> streamed_pixels_;   // (n, D) set streamed: the rows' pixels, in row order
  PinnedBuffer<std::uint8_t> streamed_labels_;   // (n)
  std::vector<std::uint32_t> uploaded_rows_;     // the rows the buffers above hold
  bool uploaded_streamed_ = false;               // which of the two they were prepared for
};

}  // namespace logreg::cuda
