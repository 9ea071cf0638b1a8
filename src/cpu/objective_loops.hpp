// The fast CPU backend's full-batch objective loops (TrainerBackend::full_batch_objective): logits and loss in
// double, since the solver needs an objective smooth in its parameters to ~1e-16, which float32 logits are not
// (the line search stalls near the optimum); the weight gradient summed in float over blocks of 256 rows, then
// in double (its error, ~1e-7 relative, is far below the solver's tolerances). Each row's nonzero pixels are
// read straight from the uint8 set; the per-row loss is objective_row (maths/objective_math.hpp). Not here: the
// order of the parts over the thread team, the penalty (cpu_fast_backend.cpp).
#pragma once

#include <cstddef>
#include <cstdint>

#include "logreg/maths/row_math.hpp"

namespace logreg::cpu {

// Classes padded to a multiple of this many doubles (one AVX-512 vector).
constexpr int kObjectiveClassLanes = 8;

// The nonzero pixels of n rows, listed once for many evaluations over the same rows: row i's are
// cols[offsets[i] .. offsets[i + 1]) with their values in pixels[...], in column order.
struct SparseRows {
  const std::size_t* offsets;   // (n + 1)
  const std::uint32_t* cols;    // (nonzeros)
  const std::uint8_t* pixels;   // (nonzeros), each > 0
};

// Rows [r0, r1) of the full batch: for each row i, z = b + sum_d x_d wt[d] with x_d = pixel / 255 over the
// row's nonzero pixels, loss_i = objective_row(head, z, C, y_i, inv_n, dz); then gwt[d] += x_d dz and
// gb += dz (accumulated, rows in order). Returns the sum of the rows' losses (in row order).
//   rows (n) pixel rows, D each; labels (n); wt (D, Cp) the weights transposed, zero-padded to
//   Cp = C rounded up to kObjectiveClassLanes; b (Cp); gwt (D, Cp) and gb (Cp) accumulated.
// Compiled for AVX-512, AVX2 and the baseline (the CPU picks at load time), without FMA contraction, so the
// result does not depend on which.
// `sparse` lists the same rows' nonzero pixels (rows[i]'s at index i), which the loops for up to 16 classes
// read; the general class loop (Cp > 16) reads `rows`.
double objective_rows(const std::uint8_t* const* rows, const SparseRows* sparse, const std::uint8_t* labels, int r0,
                      int r1, LossHead head, int C, int Cp, int D, const double* wt, const double* b, double inv_n,
                      double* gwt, double* gb);

}  // namespace logreg::cpu
