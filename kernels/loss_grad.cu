// loss_grad_kernel: the fused bias + loss + dloss/dz step of one batch for every loss head, plus the
// batch's loss sum, correct count and bias gradient, reduced in a fixed order inside one block so the
// results are bit-reproducible. Large batches (and evaluation chunks) use many blocks instead:
// loss_grad_blocks_kernel (one row per thread, partial sums per block) and loss_grad_combine_kernel (the
// partials added in block order). The per-row maths is loss_grad_row (step_bodies.hpp -> row_math.hpp); with row
// weights (a feature file's sample x class weights) each row's loss counts a_i times and its dz is scaled by
// weighted_row_scale(a_i, B).
#include <cstdint>

#include "kernel_launch.cuh"
#include "kernels.hpp"
#include "logreg/maths/launch_sizes.hpp"
#include "logreg/maths/step_bodies.hpp"

namespace logreg::kernels {

// The row's loss weighted by a_i (1 without weights: the unweighted sums exactly) and its correct flag.
struct WeightedRow {
  double loss;
  int correct;
};

// loss_grad_row of row i with its weight: dz scaled by `scale` (1/B) without weights (kWeighted false: the
// unweighted kernels compile to what they were before weights existed, no register spent on them), by a_i / B
// with them.
template <bool kWeighted>
__device__ inline WeightedRow weighted_loss_grad_row(int i, LossHead head, int batch, int classes, float scale,
                                                     float* z, const float* bias, const std::uint8_t* labels,
                                                     const double* row_weights, float* dz) {
  if constexpr (kWeighted) {
    const double a = row_weights[i];
    const RowOutcome r = loss_grad_row(i, head, z, bias, labels, classes, weighted_row_scale(a, batch), z, dz);
    return WeightedRow{a * static_cast<double>(r.loss), r.correct};
  } else {
    const RowOutcome r = loss_grad_row(i, head, z, bias, labels, classes, scale, z, dz);
    return WeightedRow{static_cast<double>(r.loss), r.correct};
  }
}

// Tree reduction of the block's per-thread loss and correct count, fixed pairing (bit-reproducible); the
// sums end in s_loss[0] and s_correct[0]. Every thread of the block must call it (it has barriers).
__device__ inline void reduce_loss_and_correct(double* s_loss,  // (kLossThreads) shared
                                               int* s_correct,  // (kLossThreads) shared
                                               int t) {
  for (int stride = kLossThreads / 2; stride > 0; stride /= 2) {
    if (t < stride) {
      s_loss[t] += s_loss[t + stride];
      s_correct[t] += s_correct[t + stride];
    }
    __syncthreads();
  }
}

// One block of kLossThreads threads; thread t handles rows t, t + kLossThreads, ... There is no
// `if (i >= n) return;`: every thread must reach the barriers, the row loop does the bounds check.
template <bool kWeighted>
__global__ void __launch_bounds__(kLossThreads) loss_grad_kernel(
    LossHead head,
    int batch,
    int classes,
    float scale,
    float* z,                                 // (B, C) in: X·Wᵀ, out: X·Wᵀ + b, row-major
    const float* __restrict__ bias,           // (C)
    const std::uint8_t* __restrict__ labels,  // (B)
    const double* __restrict__ row_weights,   // (B) a_i (kWeighted), else unused
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
    const WeightedRow r = weighted_loss_grad_row<kWeighted>(i, head, batch, classes, scale, z, bias, labels, row_weights, dz);
    loss += r.loss;
    correct += r.correct;
  }
  s_loss[t] = loss;
  s_correct[t] = correct;
  __syncthreads();  // also makes every thread's dz rows visible to the whole block for step 3

  // 2. Tree reduction of the loss and correct count, fixed pairing; thread 0 adds into the totals
  //    (one block per launch, launches ordered on the stream: no atomics needed).
  reduce_loss_and_correct(s_loss, s_correct, t);
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

// Block b handles rows [b * kLossThreads, min((b + 1) * kLossThreads, B)), one row per thread, and writes
// its loss sum, correct count and per-class dz sums (the same two-stage fixed-order reduction as above)
// to partials[b]. Every thread reaches every barrier: the row check is an if, not a return.
template <bool kWeighted>
__global__ void __launch_bounds__(kLossThreads) loss_grad_blocks_kernel(
    LossHead head,
    int batch,
    int classes,
    float scale,
    float* z,                                 // (B, C)
    const float* __restrict__ bias,           // (C)
    const std::uint8_t* __restrict__ labels,  // (B)
    const double* __restrict__ row_weights,   // (B) a_i (kWeighted), else unused
    float* __restrict__ dz,                   // (B, C), or nullptr
    LossPartials partials) {                  // (blocks) loss, correct; (blocks, C) db
  __shared__ double s_loss[kLossThreads];
  __shared__ int s_correct[kLossThreads];
  __shared__ double s_db[kLossThreads];
  const int t = static_cast<int>(threadIdx.x);
  const int first = static_cast<int>(blockIdx.x) * kLossThreads;
  const int rows = batch - first < kLossThreads ? batch - first : kLossThreads;
  double loss = 0.0;
  int correct = 0;
  if (t < rows) {
    const WeightedRow r =
        weighted_loss_grad_row<kWeighted>(first + t, head, batch, classes, scale, z, bias, labels, row_weights, dz);
    loss = r.loss;
    correct = r.correct;
  }
  s_loss[t] = loss;
  s_correct[t] = correct;
  __syncthreads();
  reduce_loss_and_correct(s_loss, s_correct, t);
  if (t == 0) {
    partials.loss[blockIdx.x] = s_loss[0];
    partials.correct[blockIdx.x] = static_cast<unsigned long long>(s_correct[0]);
  }
  if (dz == nullptr) return;  // uniform over the block
  const int groups = bias_grad_groups(kLossThreads, classes);
  const float* block_dz = dz + static_cast<std::size_t>(first) * classes;
  if (t < groups * classes) s_db[t] = bias_grad_partial(t, block_dz, rows, classes, groups);
  __syncthreads();
  if (t < classes) {
    double s = 0.0;
    for (int g = 0; g < groups; ++g) s += s_db[g * classes + t];
    partials.db[static_cast<std::size_t>(blockIdx.x) * classes + t] = s;
  }
}

// One block: the partials of `blocks` blocks added in block order.
__global__ void __launch_bounds__(kLossThreads) loss_grad_combine_kernel(
    int blocks,
    int classes,
    LossPartials partials,
    float* __restrict__ db,                // (C), or nullptr
    DeviceTotals* __restrict__ totals) {   // (1)
  const int t = static_cast<int>(threadIdx.x);
  if (t == 0) {
    double loss = 0.0;
    unsigned long long correct = 0;
    for (int b = 0; b < blocks; ++b) {
      loss += partials.loss[b];
      correct += partials.correct[b];
    }
    totals->loss_sum += loss;
    totals->last_batch_loss_sum = loss;
    totals->correct += correct;
  }
  if (db != nullptr && t < classes) {
    double s = 0.0;
    for (int b = 0; b < blocks; ++b) s += partials.db[static_cast<std::size_t>(b) * classes + t];
    db[t] = static_cast<float>(s);
  }
}

void loss_grad(LossHead head, int batch, int classes, float scale, float* z, const float* bias,
               const std::uint8_t* labels, const double* row_weights, float* dz, float* db, DeviceTotals* totals,
               const LossPartials& partials, cudaStream_t stream) {
  if (batch <= 0) return;
  const int blocks = loss_blocks(batch);
  if (blocks == 1) {
    launch_kernel("loss_grad_kernel", row_weights != nullptr ? loss_grad_kernel<true> : loss_grad_kernel<false>, bounded(single_block_shape(kLossThreads), kLossThreads), stream,
                  head, batch, classes, scale, z, bias, labels, row_weights, dz, db, totals);
    return;
  }
  const LaunchShape many{static_cast<unsigned>(blocks), static_cast<unsigned>(kLossThreads), 0, kLossThreads};
  launch_kernel("loss_grad_blocks_kernel",
                row_weights != nullptr ? loss_grad_blocks_kernel<true> : loss_grad_blocks_kernel<false>, many, stream, head, batch, classes, scale, z, bias,
                labels, row_weights, dz, partials);
  launch_kernel("loss_grad_combine_kernel", loss_grad_combine_kernel, bounded(single_block_shape(kLossThreads), kLossThreads),
                stream, blocks, classes, partials, dz == nullptr ? nullptr : db, totals);
}

}  // namespace logreg::kernels
