// The training maths over a feature matrix (feature_data.hpp: dense uint8/float32/float64 rows or CSR): the
// full-batch objective of the L-BFGS solver (maths/objective_math.hpp, scikit-learn's). Not here: inference
// (the logits and the evaluation report of feature rows are evaluation.hpp's, as for IDX images), the IDX
// image path (backend.hpp, engine.hpp).
#pragma once

#include <cstdint>
#include <vector>

#include "logreg/feature_data.hpp"
#include "logreg/model.hpp"
#include "logreg/thread_team.hpp"

namespace logreg {

// f and df/dparams over every row of `x` (labels y, class indices < num_classes), in double: the rows are cut
// into `parts` fixed ranges, each summed in row order into its own loss and gradient, and the parts are added
// in part order, so the result depends on `parts` only, never on the threads. parts = 1 is the reference
// (--device reference: one pass in row order); the cpu device runs 8 parts on the shared thread team. CSR rows
// touch only their nonzeros.
class FeatureObjective {
 public:
  FeatureObjective(const FeatureMatrix& x, const std::vector<std::uint32_t>& y, LossHead head, int num_classes,
                   int parts, cpu::ThreadTeam* team);

  // params, grad: (C*D + C), W (C, D) row-major then b (C); l2 = l2_strength(C, n). Returns f.
  double operator()(const double* params, double l2, double* grad);

  std::size_t parameter_count() const { return (x_.cols + 1) * static_cast<std::size_t>(C_); }

 private:
  void part(int p, const double* wt, const double* b, double* gt, double* loss) const;

  const FeatureMatrix& x_;
  const std::vector<std::uint32_t>& y_;
  LossHead head_;
  int C_;
  int parts_;
  cpu::ThreadTeam* team_;
  std::vector<double> wt_;                       // W transposed, (D, C)
  std::vector<std::vector<double>> part_grads_;  // per part: (D, C) weights' gradient transposed, then (C) bias
  std::vector<double> part_losses_;
};

}  // namespace logreg
