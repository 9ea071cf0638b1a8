// loss_grad_kernel: the fused bias + loss + dloss/dz step of one batch for every loss head, plus the
// batch's loss sum, correct count and bias gradient, reduced in a fixed order inside one block so the
// results are bit-reproducible. The per-row maths is loss_grad_row (step_bodies.hpp -> row_math.hpp).
#include <cstdint>

#include "kernel_launch.cuh"
#include "kernels.hpp"
#include "step_bodies.hpp"

namespace logreg::kernels {

// One block of kLossThreads threads; thread t handles rows t, t + kLossThreads, ... There is no
// `if (i >= n) return;`: every thread must reach the barriers, the row loop does the bounds check.
__global__ void __launch_bounds__(kLossThreads) loss_grad_kernel(
    LossHead head,
    int batch,
    int classes,
    float scale,
    float* z,                                 // (B, C) in: X·Wᵀ, out: X·Wᵀ + b, row-major
    const float* __restrict__ bias,           // (C)
    const std::uint8_t* __restrict__ labels,  // (B)
    float* __restrict__ dz,                   // (B, C) row-major, or nullptr (evaluation)
    float* __restrict__ db,                   // (C), or nullptr (evaluation)
    DeviceTotals* __restrict__ totals) {      // (1) running sums
  __shared__ double s_loss[kLossThreads];
  __shared__ int s_correct[kLossThreads];
  __shared__ double s_db[kLossThreads];  // (groups, C) bias-gradient partials
  const int t = static_cast<int>(threadIdx.x);

  // 1. Rows: z += b, loss, dz, argmax.
  double loss = 0.0;
  int correct = 0;
  for (int i = t; i < batch; i += kLossThreads) {
    const RowOutcome r = loss_grad_row(i, head, z, bias, labels, classes, scale, z, dz);
    loss += static_cast<double>(r.loss);
    correct += r.correct;
  }
  s_loss[t] = loss;
  s_correct[t] = correct;
  __syncthreads();  // also makes every thread's dz rows visible to the whole block for step 3

  // 2. Tree reduction of the loss and correct count, fixed pairing; thread 0 adds into the totals
  //    (one block per launch, launches ordered on the stream: no atomics needed).
  for (int stride = kLossThreads / 2; stride > 0; stride /= 2) {
    if (t < stride) {
      s_loss[t] += s_loss[t + stride];
      s_correct[t] += s_correct[t + stride];
    }
    __syncthreads();
  }
  if (t == 0) {
    totals->loss_sum += s_loss[0];
    totals->last_batch_loss_sum = s_loss[0];
    totals->correct += static_cast<unsigned long long>(s_correct[0]);
  }
  if (dz == nullptr) return;  // uniform over the block: evaluation has no gradient

  // 3. db[c] = sum_i dz[i, c]: strided partials per (group, class), then the groups in order.
  const int groups = bias_grad_groups(kLossThreads, classes);
  if (t < groups * classes) s_db[t] = bias_grad_partial(t, dz, batch, classes, groups);
  __syncthreads();
  if (t < classes) db[t] = bias_grad_combine(t, s_db, classes, groups);
}

void loss_grad(LossHead head, int batch, int classes, float scale, float* z, const float* bias,
               const std::uint8_t* labels, float* dz, float* db, DeviceTotals* totals, cudaStream_t stream) {
  if (batch <= 0) return;
  launch_kernel("loss_grad_kernel", loss_grad_kernel, bounded(single_block_shape(kLossThreads), kLossThreads), stream, head, batch,
                classes, scale, z, bias, labels, dz, db, totals);
}

}  // namespace logreg::kernels
