// The fast CPU backend's full-batch objective loop (TrainerBackend::full_batch_objective, and the feature files'
// FeatureObjective on --device cpu): one fused pass over a range of rows, tile by tile, written once for every
// row layout (ObjectiveRows: uint8 pixel rows, dense float32 or float64 rows of any width, CSR rows). Per tile
// of kObjectiveTileRows rows: dense rows copied into a zero-padded tile and their logits against W summed
// densely over the values in double SIMD (CSR rows: over their nonzeros, against W transposed); the per-row loss
// and dz from the shared objective_row (maths/objective_math.hpp), scaled by the row's weight; then, while the
// tile is still in L1, its weight gradient added into the range's own double buffer (CSR rows: their dz kept,
// and the gradient summed afterwards column by column, csr_gradient_columns). Double throughout: the
// solver needs an objective smooth in its parameters to ~1e-16 (float32 logits stall the line search near the
// optimum). hessian_vector_rows is the same pass over a direction (the Newton-CG solver's Hessian-vector
// product). Not here: the fixed row parts over the thread team and their sum in part order, the penalty
// (full_batch_objective.cpp).
#pragma once

#include <cstddef>
#include <cstdint>

#include "logreg/cpu_fast.hpp"
#include "logreg/maths/row_math.hpp"

namespace logreg::cpu {

constexpr int kObjectiveTileRows = 16;    // rows whose pixels, logits and dz stay in L1 together
constexpr int kObjectivePixelLanes = 8;   // pixel rows and weight rows padded to a multiple of this (one zmm)
constexpr int kObjectiveClassBlock = 10;  // classes summed together in registers; W's rows padded to a multiple

// The shapes of one objective over C classes of D pixels: W and the gradient are (Ck, Dp) row-major, zero-padded.
struct ObjectiveShape {
  int C = 0;
  int D = 0;
  int Ck = 0;  // C rounded up to kObjectiveClassBlock
  int Dp = 0;  // D rounded up to kObjectivePixelLanes
  static ObjectiveShape of(int C, int D) {
    return {C, D, (C + kObjectiveClassBlock - 1) / kObjectiveClassBlock * kObjectiveClassBlock,
            (D + kObjectivePixelLanes - 1) / kObjectivePixelLanes * kObjectivePixelLanes};
  }
};

// One part's scratch, reused tile after tile: ObjectiveScratch::size(shape) doubles at `p` and a tile of
// kObjectiveTileRows x Dp values (ObjectiveRows::tile_value_bytes each).
struct ObjectiveScratch {
  std::uint8_t* tile;  // (kObjectiveTileRows, Dp) the tile's dense values (of the layout's type), zero-padded
  double* acc;         // (kObjectiveTileRows, Ck, kObjectivePixelLanes) logit accumulators between chunks of pixels
  double* sums;        // (kObjectiveTileRows, Ck) the tile's pixel sums
  double* dz;          // (kObjectiveTileRows, Ck) the tile's dz
  static std::size_t size(const ObjectiveShape& s) {
    return static_cast<std::size_t>(kObjectiveTileRows) * static_cast<std::size_t>(s.Ck) * (kObjectivePixelLanes + 2);
  }
  static ObjectiveScratch in(double* p, std::uint8_t* tile, const ObjectiveShape& s) {
    const std::size_t T = kObjectiveTileRows, Ck = static_cast<std::size_t>(s.Ck);
    return {tile, p, p + T * Ck * kObjectivePixelLanes, p + T * Ck * (kObjectivePixelLanes + 1)};
  }
};

// How the rows of one objective are stored. Dense layouts (pixel rows, float32, float64) are summed densely over
// their D values; CSR rows over their nonzeros.
enum class RowLayout : std::uint8_t {
  kPixels,   // uint8 rows (IDX images, uint8 .npz): values p / 255; W, the gradient (Ck, Dp), sums / 255 once
  kFloat32,  // float32 rows of D values; W, the gradient (Ck, Dp)
  kFloat64,  // float64 rows of D values; W, the gradient (Ck, Dp)
  kCsr,      // CSR rows, float64 values; W, the gradient transposed: (D, Ck)
};

// The rows of one objective: n rows in one layout, their labels and weights. Only the layout's pointers are set.
struct ObjectiveRows {
  RowLayout layout = RowLayout::kPixels;
  const std::uint8_t* const* pixels = nullptr;  // kPixels: (n) rows of D bytes
  const float* const* f32 = nullptr;            // kFloat32: (n) rows of D values
  const double* const* f64 = nullptr;           // kFloat64: (n) rows of D values
  const std::uint64_t* csr_start = nullptr;     // kCsr: (n + 1) row i holds entries [csr_start[i], csr_start[i+1])
  const std::uint32_t* csr_index = nullptr;     // kCsr: (nnz) column of each entry, < D
  const double* csr_values = nullptr;           // kCsr: (nnz)
  const std::uint8_t* labels = nullptr;         // (n) class indices
  const double* weights = nullptr;              // (n) each row's weight a_i (sample x class weight); null: all 1
  double inv_total = 0.0;                       // 1 / S: S = n unweighted, else the sum of the sample weights
  // W and the gradient are (D, Ck) rather than (Ck, Dp).
  bool transposed() const { return layout == RowLayout::kCsr; }
  // Bytes of one value in a dense tile (0: no tile).
  std::size_t tile_value_bytes() const {
    return layout == RowLayout::kPixels ? 1 : layout == RowLayout::kFloat32 ? 4 : layout == RowLayout::kFloat64 ? 8 : 0;
  }
};

// Rows [r0, r1) of the full batch, in order: for each row i (values x, label y_i, weight a_i, 1 without weights),
//   s = sum_d x_d w[c, d],  z_c = b_c + s_c (pixels: b_c + s_c / 255),
//   loss_i = objective_row(head, z, C, y_i, a_i / S, dz),  g[c, d] += dz_c x_d,  gb[c] += dz_c
// (pixels: the weight gradient is g / 255). Returns the sum of a_i loss_i in row order (loss_i without weights).
//   w (Ck, Dp) zero-padded, or (D, Ck) for CSR; b (C); g like w and gb (C) accumulated (CSR: g receives each
//   row i's dz (Ck) at g + i * Ck, for csr_gradient_columns); probs (r1 - r0, C), when not null (softmax head
//   only), receives rows r0..r1's probabilities, row r0's first (softmax_row_from_exps, objective_math.hpp), for
//   hessian_vector_rows.
// `simd` (resolved, not kAuto) picks the loops compiled for AVX-512, AVX2 + FMA or the baseline; the results
// differ between those in the last bits (FMA, lane count), never with the thread count.
double objective_rows(CpuSimd simd, const ObjectiveRows& rows, int r0, int r1, LossHead head,
                      const ObjectiveShape& shape, const double* w, const double* b, double* g, double* gb,
                      double* probs, const ObjectiveScratch& scratch);

// The softmax head's Hessian-vector product over rows [r0, r1), in order, the same tiles as objective_rows: for
// each row i, with the direction's sums s = sum_d x_d v[c, d] and u_c = vb_c + s_c (pixels: s_c / 255),
//   r = hessian_row(probs_i, u, C, a_i / S),  g[c, d] += r_c x_d,  gb[c] += r_c
// No exp: probs (r1 - r0, C), row r0's first, are the rows' probabilities at the parameters of the Hessian, from
// objective_rows.
// v like w of objective_rows; vb (C); g like v and gb (C) accumulated.
void hessian_vector_rows(CpuSimd simd, const ObjectiveRows& rows, int r0, int r1, const ObjectiveShape& shape,
                         const double* v, const double* vb, const double* probs, double* g, double* gb,
                         const ObjectiveScratch& scratch);

struct CsrColumns;  // csr_columns.hpp

// CSR rows' weight gradient g (C, D) row-major, columns [d0, d1) written, from the rows' dz (cols.parts *
// cols.part_rows, Ck) that objective_rows or hessian_vector_rows kept at each row's slot:
//   g[c, d] = sum over parts p in order of (sum over part p's entries (i, d, x) in row order of dz_i,c x),
// the sums per-part gradient buffers added in part order would hold, without the buffers (D Ck doubles per
// part, zeroed and summed every pass, and a scatter into them per entry). Columns are independent, so any
// split of [0, D) over threads gives the same bits; `simd` as objective_rows (FMA or not).
void csr_gradient_columns(CpuSimd simd, const CsrColumns& cols, int d0, int d1, const ObjectiveShape& shape,
                          const double* dz, double* g);

}  // namespace logreg::cpu
