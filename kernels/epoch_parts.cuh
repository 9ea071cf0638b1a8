// Device pieces that the one-launch epoch kernels (persistent_epoch.cu, cluster_epoch.cu) and the FP64 objective
// share: the warp sums with a fixed butterfly pairing (every lane ends with the same bits, run to run), and the
// end of an SGD step that both epoch kernels run the same way: the batch's loss and correct count, and the bias
// update over the batch's rows in row order.
#pragma once

#include <cstdint>

#include "logreg/maths/sgd_math.hpp"

namespace logreg::kernels {

template <typename T>
__device__ __forceinline__ T warp_sum(T v) {
#pragma unroll
  for (int offset = 16; offset > 0; offset /= 2) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

// One warp: the batch's loss sum and correct count (lanes over rows, then the fixed xor tree) added to the
// epoch's totals; last_batch_loss receives the batch's loss sum.
__device__ __forceinline__ void add_batch_totals(const float* row_loss, const int* row_correct, int rows, int lane,
                                                 double& loss_sum, unsigned long long& correct,
                                                 double& last_batch_loss) {
  double bl = 0.0;
  unsigned long long bc = 0;
  for (int i = lane; i < rows; i += 32) {
    bl += static_cast<double>(row_loss[i]);
    bc += static_cast<unsigned long long>(row_correct[i]);
  }
  bl = warp_sum(bl);
  bc = warp_sum(bc);
  loss_sum += bl;
  correct += bc;
  last_batch_loss = bl;
}

// Lane c < C of one warp: db[c] = the sum of dz over the batch's rows in row order, then the bias update (SGD
// with momentum and Nesterov as configured, no weight decay on the bias). vb: the bias velocity, or null.
__device__ __forceinline__ void update_bias_lane(float* b, float* vb, const float* dz, int rows, int C, int c,
                                                 float lr, float momentum, bool nesterov) {
  double db = 0.0;
  for (int i = 0; i < rows; ++i) db += static_cast<double>(dz[i * C + c]);
  b[c] = sgd_param_step<float>(b[c], static_cast<float>(db), vb != nullptr ? vb + c : nullptr, lr, momentum, 0.0f,
                               nesterov);
}

}  // namespace logreg::kernels
