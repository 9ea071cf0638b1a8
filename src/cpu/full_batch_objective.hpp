// FullBatchObjective: the fast CPU backend's full_batch_objective (the L-BFGS solver's function and gradient,
// objective_math.hpp) over a set of training rows, in double: the rows' nonzero pixels listed once per set
// of rows (the solver asks about the same rows every iteration), kObjectiveParts fixed row ranges run on the
// backend's ThreadTeam by objective_rows (objective_loops.hpp), and their sums added in part order, so the
// result does not depend on the thread count.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "logreg/dataset.hpp"
#include "logreg/maths/row_math.hpp"
#include "logreg/thread_team.hpp"

namespace logreg::cpu {

class FullBatchObjective {
 public:
  // Objective at `params` ((C*D + C): weights (C, D) row-major, then the bias) over rows `rows` of the set,
  // with L2 strength `l2` on the weights; `grad` (C*D + C) receives its gradient. Throws UsageError for
  // no rows or 2^31 and more, DataError for a row past the set.
  double evaluate(const ImageSet& images, const LabelSet& labels, const std::vector<std::uint32_t>& rows,
                  const double* params, double l2, double* grad, LossHead head, int C, int D, ThreadTeam& team);

 private:
  void list_nonzero_pixels(const std::vector<std::uint32_t>& rows, const std::vector<const std::uint8_t*>& px, int D);

  std::vector<std::uint32_t> sparse_rows_;   // the rows the lists below are of
  std::vector<std::size_t> sparse_offsets_;  // (rows + 1) SparseRows
  std::vector<std::uint32_t> sparse_cols_;   // (nonzeros)
  std::vector<std::uint8_t> sparse_pixels_;  // (nonzeros)
};

}  // namespace logreg::cpu
