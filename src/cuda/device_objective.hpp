// DeviceObjective: the CUDA backend's full-batch objective (TrainerBackend::full_batch_objective) over the
// uint8 training set on the device, in chunks of kChunkRows rows: gather + ToTensor (the resident path's
// kernel), forward GEMM, the loss kernel with scale 1/n (loss sum, dz, db), backward GEMM. Each chunk's dW
// and db come back and are added on the host in double, chunk by chunk in order, and the penalty is added
// there too (maths/objective_math.hpp): bit-reproducible run to run. Float32 on the device, as the SGD step.
// Not here: the solver (solver.hpp), the device's copy of the set (the caller's).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "device_resources.hpp"
#include "device_step.hpp"
#include "kernels.hpp"

namespace logreg::cuda {

class DeviceObjective {
 public:
  static constexpr std::size_t kChunkRows = 8192;  // bounds the float copy of the rows on the device

  // f at params (C*D + C, W then b, double) over rows `rows` of the device set (pixels (N, D), labels (N),
  // each row < N, checked) with l2 = l2_strength(C, n); grad (C*D + C) receives df/dparams. Uses `step`'s
  // stream and cuBLAS handle; the step's own parameters are not touched.
  double evaluate(const std::uint8_t* pixels, const std::uint8_t* labels, std::size_t set_rows,
                  const std::vector<std::uint32_t>& rows, const double* params, double l2, double* grad,
                  DeviceStep& step, LossHead head);

 private:
  void reserve(std::size_t chunk, const DeviceStep& step);

  DeviceBuffer<float> params_;                    // (C*D + C) the float parameters asked about
  DeviceBuffer<float> x_;                         // (chunk, D)
  DeviceBuffer<std::uint8_t> y_;                  // (chunk)
  DeviceBuffer<float> logits_;                    // (chunk, C), then dz in place of nothing: see dz_
  DeviceBuffer<float> dz_;                        // (chunk, C)
  DeviceBuffer<float> grads_;                     // (C*D + C) one chunk's dW then db
  DeviceBuffer<std::uint32_t> rows_;              // (n) the rows, uploaded when they change
  DeviceBuffer<kernels::DeviceStepState> state_;  // (1) start 0: each chunk passes its slice of rows_
  DeviceBuffer<kernels::DeviceTotals> totals_;    // (1)
  LossPartialsBuffer partials_;
  std::vector<std::uint32_t> uploaded_rows_;      // what rows_ holds
  std::size_t chunk_capacity_ = 0;
};

}  // namespace logreg::cuda
