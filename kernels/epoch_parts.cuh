// Device pieces that the one-launch epoch kernels (persistent_epoch.cu, cluster_epoch.cu, grid_epoch.cu) and the
// FP64 objective share: the warp sums with a fixed butterfly pairing (every lane ends with the same bits, run to
// run); the 16-byte alignment of their shared-memory layouts, the step's buffers at a layout's offsets, and the
// cp.async copy of a batch's rows (or a slice of each) into shared memory; the logit of a (row, class) over uint8
// pixels and the weight gradient of a pixel for a group of classes, each in the order the kernels' CPU models
// repeat; and the end of an SGD step that the epoch kernels run the same way: the batch's loss and correct
// count, and the bias update over the batch's rows in row order. Not here: the layouts themselves.
#pragma once

#include <cuda_runtime.h>
#if !defined(LOGREG_CUDA_EMULATED)
#include <cuda_pipeline.h>  // __pipeline_memcpy_async (cp.async); the emulator provides its own
#endif

#include <cstddef>
#include <cstdint>

#include "kernels.hpp"
#include "logreg/maths/sgd_math.hpp"

namespace logreg::kernels {

template <typename T>
__device__ __forceinline__ T warp_sum(T v) {
#pragma unroll
  for (int offset = 16; offset > 0; offset /= 2) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

// Each part of a shared-memory layout 16-byte aligned, so float4/uint4 accesses stay aligned.
LOGREG_HD inline std::size_t align16(std::size_t n) { return (n + 15) / 16 * 16; }

// The shared-memory buffers of an SGD step that both epoch kernels hold, at the offsets of their layout
// (PersistentLayout, ClusterLayout: each has members w, v, b, vb, x, y, dz, row_loss, row_correct and unit).
struct StepBuffers {
  float* w;            // W, or this block's slice of it
  float* v;            // its velocity, or empty
  float* b;            // (C) bias
  float* vb;           // (C) bias velocity, or empty
  std::uint8_t* x;     // (2, B, row bytes) uint8: this batch and the next
  std::uint8_t* y;     // (2, B) labels
  float* dz;           // (B, C) dloss/dz / rows
  float* row_loss;     // (B) loss of each row
  int* row_correct;    // (B) 1 when the row was predicted right
  float* unit;         // (256) pixel_to_unit<float>(p)
};

template <class Layout>
__device__ __forceinline__ StepBuffers step_buffers(unsigned char* smem, const Layout& l) {
  return {reinterpret_cast<float*>(smem + l.w),        reinterpret_cast<float*>(smem + l.v),
          reinterpret_cast<float*>(smem + l.b),        reinterpret_cast<float*>(smem + l.vb),
          smem + l.x,                                  smem + l.y,
          reinterpret_cast<float*>(smem + l.dz),       reinterpret_cast<float*>(smem + l.row_loss),
          reinterpret_cast<int*>(smem + l.row_correct), reinterpret_cast<float*>(smem + l.unit)};
}

// Issues the asynchronous copies (cp.async, 16 bytes each) of `width` bytes at pixel `offset` of batch rows
// [first, first + rows) of the order into s_x, (rows, width) row-major, over the kThreads threads of the block,
// and returns this thread's label of the batch (loaded now, stored by the caller once the copies are waited
// for). Nothing waits here: the copies land while the current batch computes. offset and width: multiples of 16.
template <int kThreads>
__device__ __forceinline__ std::uint8_t issue_batch_copy(const PersistentEpochArgs& a, std::size_t first, int rows,
                                                         std::size_t offset, int width, std::uint8_t* s_x) {
  const int chunks_per_row = width / 16;
  const int chunks = rows * chunks_per_row;
  const int t = static_cast<int>(threadIdx.x);
  for (int chunk = t; chunk < chunks; chunk += kThreads) {
    const int i = chunk / chunks_per_row;
    const int c = chunk - i * chunks_per_row;
    const std::size_t row = a.order[first + static_cast<std::size_t>(i)];
    __pipeline_memcpy_async(reinterpret_cast<uint4*>(s_x) + chunk,
                            reinterpret_cast<const uint4*>(a.pixels + row * static_cast<std::size_t>(a.dim) + offset) + c,
                            16);
  }
  __pipeline_commit();
  return t < rows ? a.labels[a.order[first + static_cast<std::size_t>(t)]] : std::uint8_t{0};
}

// The logit sum of one (row, class) over `quads` groups of 4 uint8 pixels: unit[pixel] * w, one fmaf each in
// pixel order, from 0 (the bias is added by the row maths). xr: the row's pixels; wr: the class's weights.
__device__ __forceinline__ float uchar4_dot(const uchar4* xr, const float4* wr, int quads, const float* unit) {
  float acc = 0.0f;
  for (int q = 0; q < quads; ++q) {
    const uchar4 px = xr[q];
    const float4 w = wr[q];
    acc = fmaf(unit[px.x], w.x, acc);
    acc = fmaf(unit[px.y], w.y, acc);
    acc = fmaf(unit[px.z], w.z, acc);
    acc = fmaf(unit[px.w], w.w, acc);
  }
  return acc;
}

// The weight gradient of pixel j for the kGroup classes c0, c0 + 1, ... (a class >= C gets 0): g[k] = the sum over
// rows i in row order of dz[i, c0 + k] * unit[x[i, j]], one fmaf each. x: (rows, stride) uint8; dz: (rows, C).
template <int kGroup>
__device__ __forceinline__ void pixel_grad_group(const std::uint8_t* x, int stride, const float* dz, int rows, int C,
                                                 int j, int c0, const float* unit, float (&g)[kGroup]) {
#pragma unroll
  for (int k = 0; k < kGroup; ++k) g[k] = 0.0f;
  for (int i = 0; i < rows; ++i) {
    const float xv = unit[x[static_cast<std::size_t>(i) * stride + j]];
    const float* dz_row = dz + i * C;
#pragma unroll
    for (int k = 0; k < kGroup; ++k) {
      const float d = c0 + k < C ? dz_row[c0 + k] : 0.0f;
      g[k] = fmaf(d, xv, g[k]);
    }
  }
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
