// objective_rows_kernel + objective_combine_kernel: the L-BFGS objective's data term in double on the device,
// some of its fixed row parts (maths/row_parts.hpp) in two launches, over rows of uint8 (IDX pixels, uint8
// feature files), float32 or float64 elements, each row weighted or not. Each part's rows are cut into a fixed
// number of row blocks, each summing the loss and the gradient of its own rows into its own slot; the second
// kernel adds each part's slots in slot order into the part's sums (the parts are added on the host, in part
// order, after the MPI ranks' exchange: part_sums.hpp). The per-row loss and dz are
// objective_row (maths/objective_math.hpp) scaled by the row's weight, the uint8 elements pixel_to_unit<double>,
// as in the CPU reference.
// Not here: the penalty (added on the host by add_weight_penalty, as every backend does), the host side
// (src/cuda/device_objective.cu).
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "epoch_parts.cuh"
#include "kernel_launch.cuh"
#include "kernels.hpp"
#include "logreg/maths/launch_sizes.hpp"
#include "logreg/maths/objective_math.hpp"
#include "logreg/maths/row_parts.hpp"

namespace logreg::kernels {
namespace {

constexpr int kWarps = kObjectiveThreads / 32;
constexpr int kMicroRows = 2;     // a warp's logits: 2 rows x 5 classes, each W value used twice,
constexpr int kMicroClasses = 5;  // each pixel value five times

// Block b of the launch: its part (first_part + b / blocks per part), and within the part's rows the
// (b % blocks per part)-th even share; positions [first, last) of the n rows, fixed by n alone (not by the
// device or the launch's first part).
__device__ inline void block_rows(const ObjectiveArgs& a, int block, int* first, int* last) {
  const int parts = full_batch_parts(static_cast<std::size_t>(a.n));
  const int per_part = objective_blocks_per_part(static_cast<std::size_t>(a.n));
  const int part = a.first_part + block / per_part;
  const int k = block % per_part;
  const int p0 = part_start(a.n, part, parts);
  const int rows = part_start(a.n, part + 1, parts) - p0;
  *first = p0 + part_start(rows, k, per_part);
  *last = p0 + part_start(rows, k + 1, per_part);
}

// The row of the set at position i of the objective's rows (first_row <= i).
__device__ inline std::size_t tile_row(const ObjectiveArgs& a, int i) {
  const int local = i - a.first_row;
  return a.rows != nullptr ? a.rows[local] : static_cast<std::size_t>(local);
}

// words[r] = pixels 4t .. 4t+3 of row first + r of the rows, for the rows of the tile [first, min(first + R,
// last)); uint8 rows only, D a multiple of 4 (so every row starts on a 4-byte boundary) and 4t < D.
__device__ inline void load_tile_words(const ObjectiveArgs& a, int first, int last, int R, int t,
                                       std::uint32_t* words) {
  for (int r = 0; r < kObjectiveMaxTileRows; ++r) {
    if (r < R && first + r < last) {
      const std::uint8_t* px = static_cast<const std::uint8_t*>(a.x) + tile_row(a, first + r) * static_cast<std::size_t>(a.dim);
      words[r] = reinterpret_cast<const std::uint32_t*>(px)[t];
    }
  }
}

// A row's element as the model reads it: uint8 through the 256-entry table of pixel_to_unit<double>, floats as
// stored (float32 widened exactly).
__device__ inline double unit_value(const double* lut, std::uint8_t v) { return lut[v]; }
__device__ inline double unit_value(const double*, float v) { return static_cast<double>(v); }
__device__ inline double unit_value(const double*, double v) { return v; }

// One block of kObjectiveThreads threads over its rows (elements of type T), a tile of up to plan.tile_rows rows
// at a time:
//   1. the tile's elements as doubles in shared memory (each read once; uint8 through a 256-entry table of
//      pixel_to_unit<double>); for uint8 rows with D <= 1024, a multiple of 4, each thread's 4-byte words of the
//      next tile are loaded into registers while this tile computes, so the set's latency is hidden;
//   2. logits z = W x + b: each warp a micro-tile of 2 rows x 5 classes, lanes striding the pixels, then a
//      fixed butterfly over the lanes;
//   3. per row objective_row: loss and dz = (a_i / S) dloss/dz, a_i the row's weight (1 without weights); the
//      block's a_i loss added in row order by thread 0;
//   4. the gradient g[c][d] += dz[r][c] x[r][d] over the tile's rows in order: thread t owns pixels t, t + T,
//      ... for every class (and the bias of class t), so each g element has one owner and one order.
// g lives in shared memory when the plan says so (copied into the slot at the end), else in the slot itself.
// Every thread reaches every barrier: no early return.
template <class T>
__global__ void __launch_bounds__(kObjectiveThreads, 1) objective_rows_kernel(ObjectiveArgs a, ObjectivePlan plan) {
  LOGREG_DYNAMIC_SHARED(double, smem);
  const T* rows_x = static_cast<const T*>(a.x);
  const int t = static_cast<int>(threadIdx.x);
  const int C = a.classes;
  const int D = a.dim;
  const int n_weights = C * D;
  const int P = n_weights + C;
  const int R = plan.tile_rows;
  double* lut = smem;            // (256) pixel_to_unit<double>(p)
  double* xs = lut + 256;        // (R, D) the tile's pixels
  double* zs = xs + R * D;       // (R, C) logits
  double* dzs = zs + R * C;      // (R, C) dz
  double* next = dzs + R * C;
  const double* w = a.params;    // (C*D + C) W then b
  if (plan.w_shared) {
    double* ws = next;
    next += P;
    for (int j = t; j < P; j += kObjectiveThreads) ws[j] = a.params[j];
    w = ws;
  }
  const double* bias = w + n_weights;
  double* slot = a.partials + static_cast<std::size_t>(blockIdx.x) * static_cast<std::size_t>(P + 1);
  double* g = plan.g_shared ? next : slot;  // (C*D + C) this block's data gradient
  for (int j = t; j < P; j += kObjectiveThreads) g[j] = 0.0;
  for (int p = t; p < 256; p += kObjectiveThreads) lut[p] = pixel_to_unit<double>(static_cast<std::uint8_t>(p));
  int r0 = 0;
  int r1 = 0;
  block_rows(a, static_cast<int>(blockIdx.x), &r0, &r1);
  const int warp = t / 32;
  const int lane = t % 32;
  double loss = 0.0;  // thread 0's: the block's loss sum
  // Rows of 4-byte words that one pass of the threads covers (D <= 1024 pixels, D a multiple of 4): thread t
  // loads pixels 4t .. 4t+3 of each row of the next tile into registers while the current tile computes.
  const bool prefetch = std::is_same<T, std::uint8_t>::value && D % 4 == 0 && D <= 4 * kObjectiveThreads;
  const bool loads_words = prefetch && t < D / 4;
  std::uint32_t words[kObjectiveMaxTileRows] = {};
  if (loads_words) load_tile_words(a, r0, r1, R, t, words);
  __syncthreads();

  for (int i0 = r0; i0 < r1; i0 += R) {
    const int nt = r1 - i0 < R ? r1 - i0 : R;
    // 1. The tile's elements: from the words loaded during the previous tile (then the next tile's words are
    //    requested), or, for other shapes and element types, from the set now.
    if (loads_words) {
      for (int r = 0; r < kObjectiveMaxTileRows; ++r) {
        if (r < nt) {
          for (int k = 0; k < 4; ++k) xs[r * D + 4 * t + k] = lut[(words[r] >> (8 * k)) & 0xffu];
        }
      }
      if (i0 + R < r1) load_tile_words(a, i0 + R, r1, R, t, words);
    } else if (!prefetch) {
      for (int r = 0; r < nt; ++r) {
        const T* px = rows_x + tile_row(a, i0 + r) * static_cast<std::size_t>(D);
        for (int d = t; d < D; d += kObjectiveThreads) xs[r * D + d] = unit_value(lut, px[d]);
      }
    }
    __syncthreads();

    // 2. Logits, a warp per micro-tile; classes past C and a missing second row are computed on clamped
    //    indices and dropped.
    const int row_pairs = (nt + kMicroRows - 1) / kMicroRows;
    const int class_blocks = (C + kMicroClasses - 1) / kMicroClasses;
    for (int q = warp; q < row_pairs * class_blocks; q += kWarps) {
      const int r = (q / class_blocks) * kMicroRows;
      const int c0 = (q % class_blocks) * kMicroClasses;
      const double* x0 = xs + r * D;
      const double* x1 = r + 1 < nt ? x0 + D : x0;
      const double* wc[kMicroClasses];
      for (int k = 0; k < kMicroClasses; ++k) wc[k] = w + (c0 + k < C ? c0 + k : C - 1) * D;
      double acc0[kMicroClasses] = {};
      double acc1[kMicroClasses] = {};
      for (int d = lane; d < D; d += 32) {
        const double u0 = x0[d];
        const double u1 = x1[d];
        for (int k = 0; k < kMicroClasses; ++k) {
          const double wv = wc[k][d];
          acc0[k] += wv * u0;
          acc1[k] += wv * u1;
        }
      }
      for (int k = 0; k < kMicroClasses; ++k) {
        acc0[k] = warp_sum(acc0[k]);
        acc1[k] = warp_sum(acc1[k]);
      }
      if (lane == 0) {
        for (int k = 0; k < kMicroClasses && c0 + k < C; ++k) {
          zs[r * C + c0 + k] = bias[c0 + k] + acc0[k];
          if (r + 1 < nt) zs[(r + 1) * C + c0 + k] = bias[c0 + k] + acc1[k];
        }
      }
    }
    __syncthreads();

    // 3. The rows' loss and dz, one thread per row, each scaled by the row's weight; the loss in row order.
    if (t < nt) {
      const std::size_t row = tile_row(a, i0 + t);
      const double weight = a.weights != nullptr ? a.weights[row] : 1.0;
      const double scale = a.weights != nullptr ? weight * a.inv_n : a.inv_n;
      const double row_loss = objective_row<double>(a.head, zs + t * C, C, a.labels[row], scale, dzs + t * C);
      zs[t * C] = a.weights != nullptr ? weight * row_loss : row_loss;  // the logits are no longer needed
    }
    __syncthreads();
    if (t == 0) {
      for (int r = 0; r < nt; ++r) loss += zs[r * C];
    }

    // 4. The gradient: each owned element adds the tile's rows in row order; two classes at a time, so two
    //    independent chains of multiply-adds are in flight.
    for (int d = t; d < D; d += kObjectiveThreads) {
      double x[kObjectiveMaxTileRows];
      for (int r = 0; r < kObjectiveMaxTileRows; ++r) x[r] = r < nt ? xs[r * D + d] : 0.0;
      for (int c = 0; c < C; c += 2) {
        const int c1 = c + 1 < C ? c + 1 : c;  // an odd last class is computed twice, stored once
        double s0 = g[c * D + d];
        double s1 = g[c1 * D + d];
        for (int r = 0; r < kObjectiveMaxTileRows; ++r) {
          if (r < nt) {
            s0 += dzs[r * C + c] * x[r];
            s1 += dzs[r * C + c1] * x[r];
          }
        }
        g[c1 * D + d] = s1;
        g[c * D + d] = s0;
      }
    }
    for (int c = t; c < C; c += kObjectiveThreads) {
      double s = g[n_weights + c];
      for (int r = 0; r < nt; ++r) s += dzs[r * C + c];
      g[n_weights + c] = s;
    }
    __syncthreads();  // before the next tile overwrites xs, zs and dzs
  }

  // The block's slot: its data gradient, then its loss sum.
  if (plan.g_shared) {
    for (int j = t; j < P; j += kObjectiveThreads) slot[j] = g[j];
  }
  if (t == 0) slot[P] = loss;
}

// out[q][j] = sum over the blocks of part q of the launch of partials[b][j], b in order; j < C*D + C + 1 (the
// last entry: the loss sum).
__global__ void objective_combine_kernel(int entries,
                                         int part_count,
                                         int per_part,
                                         const double* __restrict__ partials,  // (part_count * per_part, entries)
                                         double* __restrict__ out) {          // (part_count, entries)
  const std::size_t i = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const std::size_t E = static_cast<std::size_t>(entries);
  if (i >= static_cast<std::size_t>(part_count) * E) return;
  const std::size_t q = i / E;
  const std::size_t j = i % E;
  double s = 0.0;
  for (int k = 0; k < per_part; ++k) s += partials[(q * static_cast<std::size_t>(per_part) + static_cast<std::size_t>(k)) * E + j];
  out[i] = s;
}

// Enqueues objective_rows_kernel<T> over part_count parts of per_part row blocks.
template <class T>
void launch_rows(const ObjectiveArgs& a, const ObjectivePlan& plan, int part_count, int per_part, cudaStream_t stream) {
  CUDA_CHECK(cudaFuncSetAttribute(objective_rows_kernel<T>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                  static_cast<int>(plan.shared_bytes)));
  const LaunchShape rows_shape{static_cast<unsigned>(part_count * per_part), static_cast<unsigned>(kObjectiveThreads),
                               plan.shared_bytes, kObjectiveThreads};
  launch_kernel("objective_rows_kernel", objective_rows_kernel<T>, rows_shape, stream, a, plan);
}

// Shared bytes of one block for this plan.
std::size_t plan_bytes(int tile_rows, bool w_shared, bool g_shared, int classes, int dim) {
  const std::size_t C = static_cast<std::size_t>(classes);
  const std::size_t D = static_cast<std::size_t>(dim);
  const std::size_t R = static_cast<std::size_t>(tile_rows);
  const std::size_t P = C * D + C;
  std::size_t doubles = 256 + R * D + 2 * R * C;
  if (w_shared) doubles += P;
  if (g_shared) doubles += P;
  return doubles * sizeof(double);
}

}  // namespace

ObjectivePlan objective_plan(int classes, int dim, std::size_t shared_optin) {
  // W and g in shared memory, then g alone, then neither; within each the largest tile that fits. A tile of
  // fewer than 4 rows is taken only when nothing else fits.
  const bool options[3][2] = {{true, true}, {false, true}, {false, false}};
  for (int pass = 0; pass < 2; ++pass) {
    const int min_rows = pass == 0 ? 4 : 1;
    for (const auto& o : options) {
      for (int r = kObjectiveMaxTileRows; r >= min_rows; --r) {
        const std::size_t bytes = plan_bytes(r, o[0], o[1], classes, dim);
        if (bytes <= shared_optin) return ObjectivePlan{r, o[0], o[1], bytes};
      }
    }
  }
  return ObjectivePlan{0, false, false, 0};
}

void objective_evaluate(const ObjectiveArgs& a, const ObjectivePlan& plan, int part_count, double* out,
                        cudaStream_t stream) {
  if (a.n <= 0 || part_count <= 0 || plan.tile_rows <= 0) return;
  const int per_part = objective_blocks_per_part(static_cast<std::size_t>(a.n));
  switch (a.element) {
    case FeatureDtype::kUint8: launch_rows<std::uint8_t>(a, plan, part_count, per_part, stream); break;
    case FeatureDtype::kFloat32: launch_rows<float>(a, plan, part_count, per_part, stream); break;
    case FeatureDtype::kFloat64: launch_rows<double>(a, plan, part_count, per_part, stream); break;
  }
  const int entries = a.classes * a.dim + a.classes + 1;
  launch_kernel("objective_combine_kernel", objective_combine_kernel,
                elementwise_shape(static_cast<std::size_t>(entries) * static_cast<std::size_t>(part_count)), stream,
                entries, part_count, per_part, static_cast<const double*>(a.partials), out);
}

}  // namespace logreg::kernels
