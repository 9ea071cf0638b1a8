// The fast CPU backend's full-batch objective loop (TrainerBackend::full_batch_objective): one fused pass over
// a range of rows, tile by tile. Per tile of kObjectiveTileRows rows: the pixels copied into a zero-padded
// tile, the logits against W summed densely over the pixels in double SIMD, the per-row loss and dz from the
// shared objective_row (maths/objective_math.hpp), then, while the tile is still in L1, its weight gradient
// added into the range's own double buffer. Double throughout: the solver needs an objective smooth in its
// parameters to ~1e-16 (float32 logits stall the line search near the optimum). hessian_vector_rows is the
// same pass over a direction (the Newton-CG solver's Hessian-vector product). Not here: the fixed row
// parts over the thread team and their sum in part order, the penalty (full_batch_objective.cpp).
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
// kObjectiveTileRows x Dp bytes.
struct ObjectiveScratch {
  std::uint8_t* tile;  // (kObjectiveTileRows, Dp) the tile's pixels, zero-padded
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

// Rows [r0, r1) of the full batch, in order: for each row i (pixels rows[i], label labels[i]),
//   s = sum_d p_d w[c, d] over the uint8 pixels p (0..255),  z_c = b_c + s_c / 255,
//   loss_i = objective_row(head, z, C, y_i, inv_n, dz),  g[c, d] += dz_c p_d,  gb[c] += dz_c
// (so the weight gradient is g / 255). Returns the sum of the rows' losses in row order.
//   rows (n) pixel rows of D bytes; labels (n); w (Ck, Dp) zero-padded; b (C); g (Ck, Dp) and gb (C)
//   accumulated; probs (n, C), when not null (softmax head only), receives rows r0..r1's probabilities
//   (objective_row_probs: the same loss and dz), for hessian_vector_rows.
// `simd` (resolved, not kAuto) picks the loops compiled for AVX-512, AVX2 + FMA or the baseline; the results
// differ between those in the last bits (FMA, lane count), never with the thread count.
double objective_rows(CpuSimd simd, const std::uint8_t* const* rows, const std::uint8_t* labels, int r0, int r1,
                      LossHead head, const ObjectiveShape& shape, const double* w, const double* b, double inv_n,
                      double* g, double* gb, double* probs, const ObjectiveScratch& scratch);

// The softmax head's Hessian-vector product over rows [r0, r1), in order, the same tiles as objective_rows: for
// each row i, with the direction's pixel sums s = sum_d p_d v[c, d] and u_c = vb_c + s_c / 255,
//   r = hessian_row(probs_i, u, C, inv_n),  g[c, d] += r_c p_d,  gb[c] += r_c
// (so the weights' product is g / 255). No exp: probs (n, C) are the rows' probabilities at the parameters
// of the Hessian, from objective_rows. v (Ck, Dp) zero-padded; vb (C); g (Ck, Dp) and gb (C) accumulated.
void hessian_vector_rows(CpuSimd simd, const std::uint8_t* const* rows, int r0, int r1, const ObjectiveShape& shape,
                         const double* v, const double* vb, const double* probs, double inv_n, double* g, double* gb,
                         const ObjectiveScratch& scratch);

}  // namespace logreg::cpu
