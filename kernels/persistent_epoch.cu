// The persistent small-batch epoch: ONE launch runs every SGD step of an epoch on one SM (1024 threads),
// with W, b (and the momentum buffers) held in shared memory from the first step to the last, the uint8
// rows of the next batch copied in while the current batch computes, and W written back once
// at the end. Per step: forward (a warp per pair of rows and slice of pixels), loss/dz (loss_grad_row,
// every head), db and the bias update, dW = dzᵀ·x fused with the weight update (sgd_param_step, a thread
// per 4 pixels and 5 classes), three barriers and no launch. The next batch's rows are copied into
// shared memory by cp.async while the current one computes. The
// cuBLAS path needs six dependent launches per step (gather, GEMM, split-K reduce, loss, GEMM, update),
// about 22 µs on an H200 at batch 32; launch latency, not arithmetic, bounds it (BENCHMARKS.md).
//
// The per-row and per-parameter maths are the shared bodies (row_math, sgd_math, step_bodies): the sums
// are in another order than the cuBLAS path's, so results agree with the reference within the tolerance
// of the epoch tests, not bit for bit with `--kernel cublas`. Bit-reproducible run to run: every sum has a
// fixed order and there are no atomics.
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "epoch_parts.cuh"
#include "kernel_launch.cuh"
#include "kernels.hpp"

namespace logreg::kernels {
namespace {

struct PersistentLayout {
  std::size_t w, v, b, vb, x, y, zpart, z, dz, row_loss, row_correct, unit, bytes;
};

// The forward pass gives each warp a pair of rows and a slice of the pixels, with enough slices that the 32
// warps have work at small batch sizes (32 / pairs), but at least 64 groups of 4 pixels per slice (two per
// lane): each slice costs a warp reduction of 2 x C values.
LOGREG_HD inline int forward_slices(int batch, int dim) {
  const int pairs = (batch + 1) / 2;
  int slices = (kPersistentThreads / 32) / pairs;
  const int max_slices = dim / 4 / 64;
  if (slices > max_slices) slices = max_slices;
  return slices > 1 ? slices : 1;
}

LOGREG_HD inline PersistentLayout persistent_layout(int batch, int dim, int classes, bool momentum) {
  const std::size_t B = static_cast<std::size_t>(batch);
  const std::size_t D = static_cast<std::size_t>(dim);
  const std::size_t C = static_cast<std::size_t>(classes);
  PersistentLayout l{};
  l.w = 0;                                                      // (C, D) weights
  l.v = align16(l.w + C * D * sizeof(float));                   // (C, D) weight velocity, or empty
  l.b = align16(l.v + (momentum ? C * D * sizeof(float) : 0));  // (C) bias
  l.vb = align16(l.b + C * sizeof(float));                      // (C) bias velocity, or empty
  l.x = align16(l.vb + (momentum ? C * sizeof(float) : 0));     // (2, B, D) uint8: this batch and the next
  l.y = align16(l.x + 2 * B * D);                               // (2, B) labels
  l.zpart = align16(l.y + 2 * B);                               // (slices, B, C) partial logits
  l.z = align16(l.zpart + static_cast<std::size_t>(forward_slices(batch, dim)) * B * C * sizeof(float));
                                                                // (B, C) logits (bias added in place)
  l.dz = align16(l.z + B * C * sizeof(float));                  // (B, C) dloss/dz / rows
  l.row_loss = align16(l.dz + B * C * sizeof(float));           // (B) loss of each row
  l.row_correct = align16(l.row_loss + B * sizeof(float));      // (B) 1 when the row was predicted right
  l.unit = align16(l.row_correct + B * sizeof(int));            // (256) pixel_to_unit<float>(p)
  l.bytes = align16(l.unit + 256 * sizeof(float));
  return l;
}

// kMaxC: the per-class accumulators of the forward pass are a register array of this size (indexed only
// by unrolled loops); the epoch's classes C <= kMaxC.
template <int kMaxC>
__global__ void __launch_bounds__(kPersistentThreads) persistent_epoch_kernel(PersistentEpochArgs a) {
  LOGREG_DYNAMIC_SHARED(unsigned char, smem);
  const bool momentum = a.velocity != nullptr;
  const PersistentLayout l = persistent_layout(a.batch, a.dim, a.classes, momentum);
  const auto [s_w, s_v, s_b, s_vb, s_x, s_y, s_dz, s_row_loss, s_row_correct, s_unit] = step_buffers(smem, l);
  float* s_zpart = reinterpret_cast<float*>(smem + l.zpart);
  float* s_z = reinterpret_cast<float*>(smem + l.z);

  const int t = static_cast<int>(threadIdx.x);
  const int lane = t % 32;
  const int warp = t / 32;
  const int C = a.classes;
  const int D = a.dim;
  const int quads = D / 4;
  const std::size_t weights = static_cast<std::size_t>(C) * static_cast<std::size_t>(D);
  const std::size_t B = static_cast<std::size_t>(a.batch);
  const float lr = a.state->lr;
  const std::size_t start = a.state->start;
  const std::size_t n = a.rows;
  const std::size_t steps = (n + B - 1) / B;
  const SgdStepParams& p = a.sgd;

  // 1. Stage the parameters, the pixel table and the first batch.
  for (int q = t; q < C * quads; q += kPersistentThreads) {
    reinterpret_cast<float4*>(s_w)[q] = reinterpret_cast<const float4*>(a.params)[q];
    if (momentum) reinterpret_cast<float4*>(s_v)[q] = reinterpret_cast<const float4*>(a.velocity)[q];
  }
  if (t < C) {
    s_b[t] = a.params[weights + static_cast<std::size_t>(t)];
    if (momentum) s_vb[t] = a.velocity[weights + static_cast<std::size_t>(t)];
  }
  if (t < 256) s_unit[t] = pixel_to_unit<float>(static_cast<std::uint8_t>(t));
  {
    const int rows0 = static_cast<int>(n < B ? n : B);
    const std::uint8_t label = issue_batch_copy<kPersistentThreads>(a, start, rows0, 0, D, s_x);
    __pipeline_wait_prior(0);
    if (t < rows0) s_y[t] = label;
  }
  __syncthreads();

  double loss_sum = 0.0;  // warp 0's running totals (every lane holds the same values)
  unsigned long long correct = 0;
  double last_batch_loss = 0.0;

  for (std::size_t s = 0; s < steps; ++s) {
    const std::size_t first = s * B;
    const int rows = static_cast<int>(n - first < B ? n - first : B);
    const std::uint8_t* x = s_x + (s % 2) * B * static_cast<std::size_t>(D);
    const std::uint8_t* y = s_y + (s % 2) * B;

    // 2. The next batch's copies into the other buffer (last read by the previous step, behind its final
    //    barrier) are issued now and waited for at the end of this step.
    const std::size_t next_first = first + B;
    const int next_rows = s + 1 < steps ? static_cast<int>(n - next_first < B ? n - next_first : B) : 0;
    const std::uint8_t next_label =
        issue_batch_copy<kPersistentThreads>(a, start + next_first, next_rows, 0, D,
                                             s_x + ((s + 1) % 2) * B * static_cast<std::size_t>(D));

    // 3. Forward: a warp per (pair of rows, slice of the pixels); each W value read from shared memory
    //    serves both rows. The slices' partial logits are added in slice order by the loss step.
    const int pairs = (rows + 1) / 2;
    const int slices = forward_slices(a.batch, D);
    const int slice_quads = (quads + slices - 1) / slices;
    for (int unit = warp; unit < pairs * slices; unit += kPersistentThreads / 32) {
      const int pair = unit / slices;
      const int slice = unit - pair * slices;
      const int r0 = 2 * pair;
      const bool has_r1 = r0 + 1 < rows;
      const uchar4* x0 = reinterpret_cast<const uchar4*>(x + static_cast<std::size_t>(r0) * D);
      const uchar4* x1 = reinterpret_cast<const uchar4*>(x + static_cast<std::size_t>(has_r1 ? r0 + 1 : r0) * D);
      float acc0[kMaxC];
      float acc1[kMaxC];
#pragma unroll
      for (int c = 0; c < kMaxC; ++c) {
        acc0[c] = 0.0f;
        acc1[c] = 0.0f;
      }
      const int q_end = (slice + 1) * slice_quads < quads ? (slice + 1) * slice_quads : quads;
      for (int q = slice * slice_quads + lane; q < q_end; q += 32) {
        const uchar4 p0 = x0[q];
        const uchar4 p1 = x1[q];
        const float a0 = s_unit[p0.x], a1 = s_unit[p0.y], a2 = s_unit[p0.z], a3 = s_unit[p0.w];
        const float b0 = s_unit[p1.x], b1 = s_unit[p1.y], b2 = s_unit[p1.z], b3 = s_unit[p1.w];
#pragma unroll
        for (int c = 0; c < kMaxC; ++c) {
          if (c < C) {
            const float4 wv = reinterpret_cast<const float4*>(s_w)[c * quads + q];
            acc0[c] += a0 * wv.x + a1 * wv.y + a2 * wv.z + a3 * wv.w;
            acc1[c] += b0 * wv.x + b1 * wv.y + b2 * wv.z + b3 * wv.w;
          }
        }
      }
#pragma unroll
      for (int c = 0; c < kMaxC; ++c) {
        acc0[c] = warp_sum(acc0[c]);
        acc1[c] = warp_sum(acc1[c]);
      }
      if (lane == 0) {
        float* part = s_zpart + (static_cast<std::size_t>(slice) * a.batch + r0) * C;
#pragma unroll
        for (int c = 0; c < kMaxC; ++c) {
          if (c < C) {
            part[c] = acc0[c];
            if (has_r1) part[C + c] = acc1[c];
          }
        }
      }
    }
    __syncthreads();

    // 4. Loss and dz of every row (the shared row maths), scaled by 1/rows as the cuBLAS path's loss kernel.
    const float scale = 1.0f / static_cast<float>(rows);
    for (int i = t; i < rows; i += kPersistentThreads) {
      for (int c = 0; c < C; ++c) {
        float z = s_zpart[static_cast<std::size_t>(i) * C + c];
        for (int sl = 1; sl < slices; ++sl) z += s_zpart[(static_cast<std::size_t>(sl) * a.batch + i) * C + c];
        s_z[i * C + c] = z;
      }
      const RowOutcome r = loss_grad_row(i, a.head, s_z, s_b, y, C, scale, s_z, s_dz);
      s_row_loss[i] = r.loss;
      s_row_correct[i] = r.correct;
    }
    __syncthreads();

    // 5a. Warp 0: the batch's loss sum and correct count, lanes over rows then a fixed xor tree.
    if (warp == 0) add_batch_totals(s_row_loss, s_row_correct, rows, lane, loss_sum, correct, last_batch_loss);
    // 5b. Warp 1: db[c] = sum over rows of dz (row order) and the bias update (no weight decay). Every read
    //     of the old bias (the loss) is behind the barrier above.
    if (warp == 1 && lane < C) {
      update_bias_lane(s_b, momentum ? s_vb : nullptr, s_dz, rows, C, lane, lr, p.momentum, p.nesterov);
    }
    // 5c. dW = dzᵀ·x fused with the weight update: a thread per (4 pixels q, group of kGroup classes), so each
    //     pixel read from shared memory serves kGroup classes; consecutive threads take consecutive q, so
    //     the uchar4 reads of a row are conflict-free and the dz reads broadcast.
    constexpr int kGroup = 5;
    const int groups = (C + kGroup - 1) / kGroup;
    for (int item = t; item < quads * groups; item += kPersistentThreads) {
      const int q = item % quads;
      const int c0 = kGroup * (item / quads);
      float4 g[kGroup];
#pragma unroll
      for (int k = 0; k < kGroup; ++k) g[k] = make_float4(0.f, 0.f, 0.f, 0.f);
#pragma unroll 4
      for (int i = 0; i < rows; ++i) {
        const uchar4 px = reinterpret_cast<const uchar4*>(x + static_cast<std::size_t>(i) * D)[q];
        const float x0 = s_unit[px.x];
        const float x1 = s_unit[px.y];
        const float x2 = s_unit[px.z];
        const float x3 = s_unit[px.w];
        const float* dz_row = s_dz + i * C;
#pragma unroll
        for (int k = 0; k < kGroup; ++k) {
          const float d = c0 + k < C ? dz_row[c0 + k] : 0.0f;
          g[k].x += d * x0; g[k].y += d * x1; g[k].z += d * x2; g[k].w += d * x3;
        }
      }
#pragma unroll
      for (int k = 0; k < kGroup; ++k) {
        if (c0 + k >= C) break;
        const int idx = (c0 + k) * quads + q;  // float4 index of W[c, 4q .. 4q + 3]
        float4 w = reinterpret_cast<float4*>(s_w)[idx];
        float4 v = momentum ? reinterpret_cast<float4*>(s_v)[idx] : make_float4(0.f, 0.f, 0.f, 0.f);
        float* vp = momentum ? &v.x : nullptr;
        w.x = sgd_param_step<float>(w.x, g[k].x, vp, lr, p.momentum, p.weight_decay, p.nesterov);
        w.y = sgd_param_step<float>(w.y, g[k].y, vp ? vp + 1 : nullptr, lr, p.momentum, p.weight_decay, p.nesterov);
        w.z = sgd_param_step<float>(w.z, g[k].z, vp ? vp + 2 : nullptr, lr, p.momentum, p.weight_decay, p.nesterov);
        w.w = sgd_param_step<float>(w.w, g[k].w, vp ? vp + 3 : nullptr, lr, p.momentum, p.weight_decay, p.nesterov);
        reinterpret_cast<float4*>(s_w)[idx] = w;
        if (momentum) reinterpret_cast<float4*>(s_v)[idx] = v;
      }
    }

    // 6. The next batch has landed (this thread's copies; the barrier makes them everyone's).
    __pipeline_wait_prior(0);
    if (t < next_rows) s_y[((s + 1) % 2) * B + static_cast<std::size_t>(t)] = next_label;
    __syncthreads();
  }

  // 7. Write the parameters and the totals back; move the step state's cursor past the epoch.
  for (int q = t; q < C * quads; q += kPersistentThreads) {
    reinterpret_cast<float4*>(a.params)[q] = reinterpret_cast<const float4*>(s_w)[q];
    if (momentum) reinterpret_cast<float4*>(a.velocity)[q] = reinterpret_cast<const float4*>(s_v)[q];
  }
  if (t < C) {
    a.params[weights + static_cast<std::size_t>(t)] = s_b[t];
    if (momentum) a.velocity[weights + static_cast<std::size_t>(t)] = s_vb[t];
  }
  if (t == 0) {
    a.totals->loss_sum += loss_sum;
    a.totals->correct += correct;
    a.totals->last_batch_loss_sum = last_batch_loss;
    a.state->start = start + n;
  }
}

}  // namespace

std::size_t persistent_epoch_shared_bytes(int batch, int dim, int classes, bool momentum) {
  if (batch < 1 || dim < 16 || dim % 16 != 0 || classes < 1 || classes > kPersistentMaxClasses) return 0;
  if (static_cast<std::size_t>(batch) * static_cast<std::size_t>(dim) > kPersistentMaxBatchBytes) return 0;
  return persistent_layout(batch, dim, classes, momentum).bytes;
}

void persistent_epoch(const PersistentEpochArgs& a, std::size_t shared_bytes, cudaStream_t stream) {
  if (a.rows == 0) return;
  const LaunchShape shape = bounded(LaunchShape{1, static_cast<unsigned>(kPersistentThreads), shared_bytes},
                                    kPersistentThreads);
  if (a.classes <= 10) {
    CUDA_CHECK(cudaFuncSetAttribute(persistent_epoch_kernel<10>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                    static_cast<int>(shared_bytes)));
    launch_kernel("persistent_epoch_kernel<10>", persistent_epoch_kernel<10>, shape, stream, a);
  } else {
    CUDA_CHECK(cudaFuncSetAttribute(persistent_epoch_kernel<kPersistentMaxClasses>,
                                    cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(shared_bytes)));
    launch_kernel("persistent_epoch_kernel<16>", persistent_epoch_kernel<kPersistentMaxClasses>, shape, stream, a);
  }
}

}  // namespace logreg::kernels
