// The grid epoch: ONE cooperative launch runs every SGD step of an epoch of large batches (1024 rows and
// more) over all the blocks the device holds at once. A batch is cut into chunks of grid_epoch_chunk_rows(B)
// rows (a function of B alone); block g takes chunks g, g + G, ... Per step:
//   A. each block stages W and b in its shared memory, then for each of its chunks copies the chunk's uint8
//      rows in (cp.async; a block's first chunk of the next step is copied while the reduction of this one
//      runs), computes its logits (a thread per (row, class), an fmaf chain over the pixels in order), the
//      loss and dz of each row (loss_grad_row, the shared row maths), and writes the chunk's gradient partials
//      to the chunk's own slot in global memory: dW (an fmaf chain over the chunk's rows in order) and db
//      (a float sum over them in order); the rows' losses and correct flags go to the batch's row arrays;
//   grid barrier;
//   B. every parameter, spread over all threads of the grid: its gradient = the slots added in chunk order,
//      then the SGD update (sgd_param_step: momentum, Nesterov, weight decay on the weights only); block 0's
//      warp 0 adds the batch's row losses to the totals (add_batch_totals);
//   grid barrier.
// Every sum has a fixed order and there are no atomics, so the bits depend on the batch size alone, not on
// the number of blocks, the device or the timing; tests/gpu/grid_epoch_model.hpp is a CPU model of exactly
// these sums, which the emulated kernel matches bit for bit. Not here: tensor cores (FP32 FMA only), clusters.
#include "grid_epoch.hpp"

#include <cuda_runtime.h>
#if !defined(LOGREG_CUDA_EMULATED)
#include <cuda_pipeline.h>  // __pipeline_memcpy_async (cp.async); the emulator provides its own
#endif
#include <cooperative_groups.h>

#include <cstddef>
#include <cstdint>
#include <stdexcept>

#include "epoch_parts.cuh"
#include "kernel_launch.cuh"

namespace logreg::kernels {
namespace {

namespace cg = cooperative_groups;

LOGREG_HD inline std::size_t align16(std::size_t n) { return (n + 15) / 16 * 16; }

// W's rows in shared memory are D + 4 floats apart: with D = 784 the float4 reads of 8 consecutive classes
// (a quarter warp) fall in 8 different bank groups.
LOGREG_HD inline int w_stride(int dim) { return dim + 4; }

struct GridLayout {
  std::size_t w, b, x, y, z, dz, unit, totals, bytes;
};

LOGREG_HD inline GridLayout grid_layout(int chunk_rows, int dim, int classes) {
  const std::size_t R = static_cast<std::size_t>(chunk_rows);
  const std::size_t C = static_cast<std::size_t>(classes);
  GridLayout l{};
  l.w = 0;                                                                             // (C, D + 4) W
  l.b = align16(l.w + C * static_cast<std::size_t>(w_stride(dim)) * sizeof(float));   // (C) bias
  l.x = align16(l.b + C * sizeof(float));                                             // (R, D) uint8 chunk rows
  l.y = align16(l.x + R * static_cast<std::size_t>(dim));                             // (R) labels
  l.z = align16(l.y + R);                                                             // (R, C) logits
  l.dz = align16(l.z + R * C * sizeof(float));                                        // (R, C) dz
  l.unit = align16(l.dz + R * C * sizeof(float));                                     // (256) pixel_to_unit
  l.totals = align16(l.unit + 256 * sizeof(float));                                   // block 0's running totals
  l.bytes = align16(l.totals + sizeof(DeviceTotals));
  return l;
}

// Where the scratch's parts start (floats): the slots (chunks, C*D + C), the row losses (B), the correct
// flags (B, as int).
struct GridScratch {
  std::size_t slot_floats, row_loss, row_correct, floats;
};

LOGREG_HD inline GridScratch grid_scratch(int batch, int dim, int classes, int chunks) {
  GridScratch s{};
  s.slot_floats = static_cast<std::size_t>(classes) * static_cast<std::size_t>(dim) + static_cast<std::size_t>(classes);
  s.row_loss = static_cast<std::size_t>(chunks) * s.slot_floats;
  s.row_correct = s.row_loss + static_cast<std::size_t>(batch);
  s.floats = s.row_correct + static_cast<std::size_t>(batch);
  return s;
}

// Issues the cp.async copies of `rows` rows (positions [first, first + rows) of the order) into s_x, (rows, D)
// row-major, as one commit group. Nothing waits here.
__device__ __forceinline__ void issue_rows_copy(const PersistentEpochArgs& a, std::size_t first, int rows,
                                                std::uint8_t* s_x) {
  const int chunks_per_row = a.dim / 16;
  const int copies = rows * chunks_per_row;
  for (int k = static_cast<int>(threadIdx.x); k < copies; k += kGridThreads) {
    const int i = k / chunks_per_row;
    const int c = k - i * chunks_per_row;
    const std::size_t row = a.order[first + static_cast<std::size_t>(i)];
    __pipeline_memcpy_async(reinterpret_cast<uint4*>(s_x) + k,
                            reinterpret_cast<const uint4*>(a.pixels + row * static_cast<std::size_t>(a.dim)) + c, 16);
  }
  __pipeline_commit();
}

__global__ void __launch_bounds__(kGridThreads) grid_epoch_kernel(PersistentEpochArgs a) {
  LOGREG_DYNAMIC_SHARED(unsigned char, smem);
  const cg::grid_group grid = cg::this_grid();
  const int C = a.classes;
  const int D = a.dim;
  const int WS = w_stride(D);
  const int chunk_rows = grid_epoch_chunk_rows(a.batch);
  const GridLayout l = grid_layout(chunk_rows, D, C);
  float* s_w = reinterpret_cast<float*>(smem + l.w);
  float* s_b = reinterpret_cast<float*>(smem + l.b);
  std::uint8_t* s_x = smem + l.x;
  std::uint8_t* s_y = smem + l.y;
  float* s_z = reinterpret_cast<float*>(smem + l.z);
  float* s_dz = reinterpret_cast<float*>(smem + l.dz);
  float* s_unit = reinterpret_cast<float*>(smem + l.unit);
  // Block 0's running totals of the epoch: in shared memory rather than registers held across the whole step
  // loop (which ptxas spilled around the calls of the row maths).
  DeviceTotals* s_totals = reinterpret_cast<DeviceTotals*>(smem + l.totals);

  const int t = static_cast<int>(threadIdx.x);
  const int lane = t % 32;
  const int warp = t / 32;
  const int block = static_cast<int>(blockIdx.x);
  const int blocks = static_cast<int>(gridDim.x);
  const std::size_t B = static_cast<std::size_t>(a.batch);
  const std::size_t n = a.rows;
  const std::size_t steps = (n + B - 1) / B;
  const std::size_t weights = static_cast<std::size_t>(C) * static_cast<std::size_t>(D);
  const GridScratch sc = grid_scratch(a.batch, D, C, grid_epoch_chunks(a.batch, a.batch));
  float* slots = a.scratch;                                             // (chunks, C*D + C)
  float* row_loss = a.scratch + sc.row_loss;                            // (B)
  int* row_correct = reinterpret_cast<int*>(a.scratch + sc.row_correct);  // (B)
  const float lr = a.state->lr;
  const std::size_t start = a.state->start;  // read before the first grid barrier; block 0 moves it at the end
  const SgdStepParams& p = a.sgd;
  const bool momentum = a.velocity != nullptr;
  const int groups = (C + kGridClassGroup - 1) / kGridClassGroup;

  if (t < 256) s_unit[t] = pixel_to_unit<float>(static_cast<std::uint8_t>(t));
  if (t == 0) *s_totals = DeviceTotals{0.0, 0, 0.0};
  // This block's first chunk of step 0 (the chunks of later steps are issued while the reduction runs).
  if (n > 0 && block < grid_epoch_chunks(static_cast<int>(n < B ? n : B), a.batch)) {
    const std::size_t rows0 = n < B ? n : B;
    const int r0 = static_cast<int>(rows0 - static_cast<std::size_t>(block) * chunk_rows);
    issue_rows_copy(a, start + static_cast<std::size_t>(block) * chunk_rows, r0 < chunk_rows ? r0 : chunk_rows, s_x);
  }

  for (std::size_t s = 0; s < steps; ++s) {
    const std::size_t first = s * B;
    const int rows = static_cast<int>(n - first < B ? n - first : B);
    const int chunks = grid_epoch_chunks(rows, a.batch);
    const float scale = 1.0f / static_cast<float>(rows);

    // A. W and b of this step (written by the previous step's reduction, behind its grid barrier).
    // (One loop over W then b: a separate bias load's address, hoisted out of the step loop, was spilled.)
    if (block < chunks) {
      for (int k = t; k < C * D + C; k += kGridThreads) {
        const float v = a.params[k];
        if (k < C * D) {
          const int c = k / D;
          s_w[c * WS + (k - c * D)] = v;
        } else {
          s_b[k - C * D] = v;
        }
      }
    }
    for (int chunk = block; chunk < chunks; chunk += blocks) {
      const int c_first = chunk * chunk_rows;
      const int c_rows = rows - c_first < chunk_rows ? rows - c_first : chunk_rows;
      const std::size_t pos = start + first + static_cast<std::size_t>(c_first);  // the chunk's place in the order
      if (chunk != block) issue_rows_copy(a, pos, c_rows, s_x);  // a block's first chunk was issued earlier
      if (t < c_rows) s_y[t] = a.labels[a.order[pos + static_cast<std::size_t>(t)]];
      __pipeline_wait_prior(0);
      __syncthreads();  // the rows, labels, W and b are everyone's

      // Forward: a thread per (row, class), the pixels in order.
      for (int item = t; item < c_rows * C; item += kGridThreads) {
        const int i = item / C;
        const int c = item - i * C;
        s_z[item] = uchar4_dot(reinterpret_cast<const uchar4*>(s_x + static_cast<std::size_t>(i) * D),
                               reinterpret_cast<const float4*>(s_w + c * WS), D / 4, s_unit);
      }
      __syncthreads();
      // Loss and dz of each row (the shared row maths adds the bias), scaled by 1/rows of the batch.
      for (int i = t; i < c_rows; i += kGridThreads) {
        const RowOutcome o = loss_grad_row(i, a.head, s_z, s_b, s_y, C, scale, s_z, s_dz);
        row_loss[c_first + i] = o.loss;
        row_correct[c_first + i] = o.correct;
      }
      __syncthreads();
      // The chunk's partials into its slot: dW, a thread per (pixel j, group of kGridClassGroup classes) with
      // the rows in order (consecutive threads, consecutive pixels); db, a thread per class.
      float* slot = slots + static_cast<std::size_t>(chunk) * sc.slot_floats;
      for (int item = t; item < D * groups; item += kGridThreads) {
        const int j = item % D;
        const int c0 = kGridClassGroup * (item / D);
        float g[kGridClassGroup];
        pixel_grad_group(s_x, D, s_dz, c_rows, C, j, c0, s_unit, g);
#pragma unroll
        for (int k = 0; k < kGridClassGroup; ++k) {
          if (c0 + k < C) slot[static_cast<std::size_t>(c0 + k) * D + j] = g[k];
        }
      }
      if (t < C) {
        float db = 0.0f;
        for (int i = 0; i < c_rows; ++i) db += s_dz[i * C + t];
        slot[weights + static_cast<std::size_t>(t)] = db;
      }
      __syncthreads();  // the rows and dz are read before the next chunk overwrites them
    }
    // The next step's first chunk of this block, copied while the reduction runs (s_x is not read there).
    if (s + 1 < steps) {
      const std::size_t next_first = first + B;
      const int next_rows = static_cast<int>(n - next_first < B ? n - next_first : B);
      if (block < grid_epoch_chunks(next_rows, a.batch)) {
        const int r = next_rows - block * chunk_rows;
        issue_rows_copy(a, start + next_first + static_cast<std::size_t>(block) * chunk_rows,
                        r < chunk_rows ? r : chunk_rows, s_x);
      }
    }
    grid.sync();  // every chunk's slot and row results are written

    // B. Every parameter: the slots in chunk order, then its update.
    for (std::size_t k = static_cast<std::size_t>(block) * kGridThreads + static_cast<std::size_t>(t);
         k < sc.slot_floats; k += static_cast<std::size_t>(blocks) * kGridThreads) {
      float g = slots[k];
      for (int chunk = 1; chunk < chunks; ++chunk) g += slots[static_cast<std::size_t>(chunk) * sc.slot_floats + k];
      const float decay = k < weights ? p.weight_decay : 0.0f;
      a.params[k] = sgd_param_step<float>(a.params[k], g, momentum ? a.velocity + k : nullptr, lr, p.momentum, decay,
                                          p.nesterov);
    }
    if (block == 0 && warp == 0) {
      DeviceTotals sum = *s_totals;  // every lane the same values
      add_batch_totals(row_loss, row_correct, rows, lane, sum.loss_sum, sum.correct, sum.last_batch_loss_sum);
      __syncwarp();
      if (lane == 0) *s_totals = sum;
    }
    grid.sync();  // the parameters are updated, and the slots and row arrays read
  }

  if (block == 0 && t == 0) {
    a.totals->loss_sum += s_totals->loss_sum;
    a.totals->correct += s_totals->correct;
    a.totals->last_batch_loss_sum = s_totals->last_batch_loss_sum;
    a.state->start = start + n;
  }
}

}  // namespace

std::size_t grid_epoch_shared_bytes(int batch, int dim, int classes) {
  if (batch < 1 || dim < 16 || dim % 16 != 0 || classes < 1 || classes > kGridMaxClasses) return 0;
  return grid_layout(grid_epoch_chunk_rows(batch), dim, classes).bytes;
}

std::size_t grid_epoch_scratch_floats(int batch, int dim, int classes) {
  if (batch < 1) return 0;
  return grid_scratch(batch, dim, classes, grid_epoch_chunks(batch, batch)).floats;
}

int grid_epoch_blocks(int batch, std::size_t shared_bytes) {
  if (batch < 1 || shared_bytes == 0) return 0;
  int device = 0;
  int cooperative = 0;
  int sms = 0;
  if (cudaGetDevice(&device) != cudaSuccess ||
      cudaDeviceGetAttribute(&cooperative, cudaDevAttrCooperativeLaunch, device) != cudaSuccess ||
      cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device) != cudaSuccess ||
      cudaFuncSetAttribute(grid_epoch_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                           static_cast<int>(shared_bytes)) != cudaSuccess) {
    (void)cudaGetLastError();
    return 0;
  }
  int per_sm = 0;
  if (cooperative == 0 ||
      cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, grid_epoch_kernel, kGridThreads, shared_bytes) !=
          cudaSuccess) {
    (void)cudaGetLastError();
    return 0;
  }
  const int resident = per_sm * sms;
  const int chunks = grid_epoch_chunks(batch, batch);
  return resident < chunks ? resident : chunks;
}

void grid_epoch(const PersistentEpochArgs& a, std::size_t shared_bytes, cudaStream_t stream) {
  if (a.rows == 0) return;
  const int blocks = grid_epoch_blocks(a.batch, shared_bytes);
  if (blocks < 1) throw std::logic_error("grid_epoch: the device cannot launch it (the epoch plan checks first)");
  CUDA_CHECK(cudaFuncSetAttribute(grid_epoch_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                  static_cast<int>(shared_bytes)));
  const LaunchShape shape =
      cooperative(bounded(LaunchShape{static_cast<unsigned>(blocks), static_cast<unsigned>(kGridThreads), shared_bytes},
                          kGridThreads));
  launch_kernel("grid_epoch_kernel", grid_epoch_kernel, shape, stream, a);
}

}  // namespace logreg::kernels
