// FullBatchObjective: the fast CPU backend's full_batch_objective (the L-BFGS solver's function and gradient,
// objective_math.hpp) over a set of training rows (IDX images, or the rows of a feature file in any layout of
// ObjectiveRows, with per-row weights), in double: one fused pass per evaluation (objective_rows,
// objective_loops.hpp) over kObjectiveParts fixed row ranges run on the backend's ThreadTeam, each into its own
// gradient buffer (CSR rows: each row's dz, the gradient then summed column by column with the same part order,
// csr_gradient_columns), and their sums added in part order, so the result does not depend on the thread count (nor on
// the number of MPI ranks: each rank computes some of the parts and all of them are exchanged, ranks.hpp); and
// the Newton-CG solver's Hessian-vector product, one more such pass, from the probabilities an evaluation kept.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "logreg/cpu_fast.hpp"
#include "logreg/dataset.hpp"
#include "logreg/maths/row_math.hpp"
#include "logreg/ranks.hpp"
#include "csr_columns.hpp"
#include "objective_loops.hpp"
#include "logreg/thread_team.hpp"

namespace logreg::cpu {

class FullBatchObjective {
 public:
  // Fixed row ranges of every evaluation (results independent of the threads that run them).
  static constexpr int kObjectiveParts = kFullBatchParts;

  // Objective at `params` ((C*D + C): weights (C, D) row-major, then the bias) over rows `rows` of the set,
  // with L2 strength `l2` on the weights; `grad` (C*D + C) receives its gradient. `simd` (resolved) picks the
  // loops. Throws UsageError for no rows or 2^31 and more, DataError for a row past the set or a label that
  // is not below C.
  double evaluate(const ImageSet& images, const LabelSet& labels, const std::vector<std::uint32_t>& rows,
                  const double* params, double l2, double* grad, LossHead head, int C, int D, CpuSimd simd,
                  ThreadTeam& team);

  // hv (C*D + C) = the Hessian of the same objective at `params` times v (C*D + C), softmax head only
  // (UsageError otherwise): one pass over the rows with the probabilities kept by the evaluation at `params`
  // (the last two evaluated points are kept; another point costs one evaluation first). Bit-identical for
  // any thread count, as evaluate.
  void hessian_vector(const ImageSet& images, const LabelSet& labels, const std::vector<std::uint32_t>& rows,
                      const double* params, double l2, const double* v, double* hv, LossHead head, int C, int D,
                      CpuSimd simd, ThreadTeam& team);

  // The same two over n rows given in any layout (the feature files' objective): the objective is
  //   sum_i a_i loss_i / S + penalty   (a_i = rows.weights[i] or 1, 1/S = rows.inv_total),
  // with l2 = l2_strength(C, S). The caller keeps the rows alive and unchanged between calls (the kept
  // probabilities are of them); labels below C are the caller's to check.
  double evaluate_rows(const ObjectiveRows& rows, std::size_t n, const double* params, double l2, double* grad,
                       LossHead head, int C, int D, CpuSimd simd, ThreadTeam& team);
  void hessian_vector_rows(const ObjectiveRows& rows, std::size_t n, const double* params, double l2, const double* v,
                           double* hv, LossHead head, int C, int D, CpuSimd simd, ThreadTeam& team);

 private:
  // This rank's rows' probabilities at one point, kept by evaluate for hessian_vector: the rows of its parts
  // (ranks::rows_of; all n in a single process), so that under N ranks each keeps about n / N of them.
  struct KeptProbabilities {
    std::vector<double> params;  // the point (empty: nothing kept)
    std::vector<double> probs;   // (rows of this rank's parts, C), its first part's first row first
    std::uint64_t used = 0;      // when it was last written or read, for least-recently-used replacement
  };
  // Checks and keeps rows' pixel pointers and labels (when the rows changed).
  void take_rows(const ImageSet& images, const LabelSet& labels, const std::vector<std::uint32_t>& rows, int classes);
  // Sizes parts_ for `parts` parts of (Ck, Dp) value sums (none for CSR rows), C bias sums and a loss (each
  // part's job zeroes its own, on its thread), and each part's scratch and tile of the rows' values; returns the
  // stride of parts_.
  std::size_t start_parts(int parts, const ObjectiveShape& shape, const ObjectiveRows& rows);
  // Where part `part` (first row r0) accumulates its weight gradient: its (Ck, Dp) sums in parts_, or for CSR
  // rows the address at which row i's dz slot is the result + i * Ck (csr_dz_).
  double* part_gradient(std::size_t part, const ObjectiveRows& rows, int r0, const ObjectiveShape& shape);
  // CSR rows: builds columns_ when they are of other rows, sizes csr_dz_. Other layouts: nothing.
  void start_columns(const ObjectiveRows& rows, std::size_t n, int parts, const ObjectiveShape& shape);
  // CSR rows, after the parts ran: gives every rank every part's dz, then writes the weights' gradient (C, D) of
  // out from them column by column (csr_gradient_columns) on the team. Other layouts: nothing.
  void sum_columns(const ObjectiveRows& rows, const ObjectiveShape& shape, CpuSimd simd, ThreadTeam& team,
                   double* out);
  // params (C*D + C) into w_ (Ck, Dp) zero-padded, or (D, Ck) when transposed.
  static void pad_weights(const double* params, const ObjectiveShape& shape, bool transposed, std::vector<double>& out);
  // Part `part`'s scratch and pixel tile (start_parts sized them).
  ObjectiveScratch scratch_of(std::size_t part, const ObjectiveShape& shape);
  // Runs job(part) for this rank's parts (all of them in a single process) on the team, then gives every rank
  // every part's sums.
  template <typename Job>
  void run_my_parts(int parts, Job& job, ThreadTeam& team) {
    const std::pair<int, int> mine = ranks::parts_of(parts);
    auto run_part = [&](int k) { job(mine.first + k); };
    team.run(mine.second - mine.first, run_part, true);
    ranks::allgather_parts(parts_.data(), parts, stride_);
  }
  // Adds the parts' sums in part order: the gradient into out (C*D + C) (pixel rows: the weights' sums / 255;
  // CSR: the bias only, sum_columns wrote the weights); returns the loss sum.
  double sum_parts(std::size_t parts, const ObjectiveShape& shape, const ObjectiveRows& rows, double* out) const;
  // rows_ of the IDX images taken by take_rows, as ObjectiveRows.
  ObjectiveRows pixel_rows() const;

  // Kept between evaluations (the solver asks about the same rows every iteration):
  std::vector<std::uint32_t> rows_;          // the rows the two below are of
  std::vector<const std::uint8_t*> pixels_;  // (n) their pixel rows
  std::vector<std::uint8_t> labels_;         // (n) their labels
  std::vector<double> w_;                    // (Ck, Dp) the weights, zero-padded (CSR: (D, Ck))
  std::size_t tile_bytes_ = 1;               // bytes of a tile's value (start_parts)
  std::vector<double> parts_;                // (parts, stride_): each part's (Ck, Dp) pixel sums, C bias sums, loss
  std::size_t stride_ = 0;
  std::vector<double> scratch_;              // (parts, ObjectiveScratch::size) each part's sums and dz
  std::vector<std::uint8_t> tiles_;          // (parts, kObjectiveTileRows, Dp) each part's tile of values
  std::vector<double> v_;                    // (Ck, Dp) hessian_vector's direction, zero-padded (CSR: (D, Ck))
  CsrColumns columns_;                       // CSR rows: their entries by column, built on the first pass
  std::vector<double> csr_dz_;               // CSR rows: (parts, part_rows, Ck) each row's dz, at its slot
  KeptProbabilities kept_[2];                // the last two points evaluated (softmax head)
  bool keep_probabilities_ = false;          // from the first Hessian-vector product on
  std::uint64_t clock_ = 0;
};

// "cpu (float32, avx512, 2 threads)": the name of the fast CPU engines (SGD and full-batch) on `threads` threads
// with the loops of `simd` (resolved).
std::string fast_engine_name(CpuSimd simd, int threads);

}  // namespace logreg::cpu
