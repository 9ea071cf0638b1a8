// FullBatchObjective: the fast CPU backend's full_batch_objective (the L-BFGS solver's function and gradient,
// objective_math.hpp) over a set of training rows, in double: one fused pass per evaluation (objective_rows,
// objective_loops.hpp) over kObjectiveParts fixed row ranges run on the backend's ThreadTeam, each into its own
// gradient buffer, and their sums added in part order, so the result does not depend on the thread count.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "logreg/cpu_fast.hpp"
#include "logreg/dataset.hpp"
#include "logreg/maths/row_math.hpp"
#include "logreg/thread_team.hpp"

namespace logreg::cpu {

class FullBatchObjective {
 public:
  // Fixed row ranges of every evaluation (results independent of the threads that run them).
  static constexpr int kObjectiveParts = 8;

  // Objective at `params` ((C*D + C): weights (C, D) row-major, then the bias) over rows `rows` of the set,
  // with L2 strength `l2` on the weights; `grad` (C*D + C) receives its gradient. `simd` (resolved) picks the
  // loops. Throws UsageError for no rows or 2^31 and more, DataError for a row past the set or a label that
  // is not below C.
  double evaluate(const ImageSet& images, const LabelSet& labels, const std::vector<std::uint32_t>& rows,
                  const double* params, double l2, double* grad, LossHead head, int C, int D, CpuSimd simd,
                  ThreadTeam& team);

 private:
  // Kept between evaluations (the solver asks about the same rows every iteration):
  std::vector<std::uint32_t> rows_;          // the rows the two below are of
  std::vector<const std::uint8_t*> pixels_;  // (n) their pixel rows
  std::vector<std::uint8_t> labels_;         // (n) their labels
  std::vector<double> w_;                    // (Ck, Dp) the weights, zero-padded
  std::vector<double> g_;                    // (parts, Ck, Dp) each part's pixel-sum gradient
  std::vector<double> gb_;                   // (parts, C) each part's bias gradient
  std::vector<double> scratch_;              // (parts, ObjectiveScratch::size) each part's sums and dz
  std::vector<std::uint8_t> tiles_;          // (parts, kObjectiveTileRows, Dp) each part's pixel tile
};

}  // namespace logreg::cpu
