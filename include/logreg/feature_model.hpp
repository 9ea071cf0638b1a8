// The training maths over a feature matrix (feature_data.hpp: dense uint8/float32/float64 rows or CSR): the
// full-batch objective of the L-BFGS and Newton-CG solvers (maths/objective_math.hpp, scikit-learn's, with its
// sample and class weights and with or without intercept) and its Hessian-vector product. Not here: inference
// (the logits and the evaluation report of feature rows are evaluation.hpp's, as for IDX images), the IDX
// image path (backend.hpp, engine.hpp), the CUDA device's part sums (behind FeaturePartSums, cuda_backend.hpp).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "logreg/engine.hpp"
#include "logreg/feature_data.hpp"
#include "logreg/model.hpp"
#include "logreg/thread_team.hpp"

namespace logreg {

// The weighting and the intercept of a feature-file fit (scikit-learn's LogisticRegression sample_weight,
// class_weight and fit_intercept).
struct FeatureFitTerms {
  std::vector<double> row_weights;  // (n) a_i = sample weight x class weight of row i's class; empty: all 1
  double weight_total = 0.0;        // S: the sum of the sample weights (n without them); l2 = 1 / (C S)
  bool intercept = true;            // false: no bias parameters (fixed at 0)
};

// The data term of the objective computed elsewhere, part by part (the CUDA module's double objective on the
// device: make_cuda_feature_part_sums, cuda_backend.hpp), over the rows, labels and weights it was made from.
class FeaturePartSums {
 public:
  virtual ~FeaturePartSums() = default;
  // What computes them, for the run's lines.
  virtual std::string name() const = 0;
  // sums ((last - first), C*D + C + 1) at params (C*D + C: W (C, D) row-major, then b, 0 without an intercept):
  // for each of parts [first, last) of the rows' full_batch_parts(n) fixed parts (maths/row_parts.hpp), its rows'
  // data gradient sum_i (a_i / S) dloss_i/dparams and then their loss sum sum_i a_i loss_i.
  virtual void part_sums(int first, int last, const double* params, double* sums) = 0;
};

// Makes the part sums over x's rows (labels y < num_classes, the weights and total of terms); the matrix, the
// labels and terms outlive what it makes.
using FeaturePartsMaker = std::function<std::unique_ptr<FeaturePartSums>(
    const FeatureMatrix& x, const std::vector<std::uint32_t>& y, LossHead head, int num_classes,
    const FeatureFitTerms& terms)>;

// f and df/dparams over every row of `x` (labels y, class indices < num_classes), in double:
//   f = sum_i a_i loss_i / S + ||W||^2 l2 / 2   (a_i, S of FeatureFitTerms; a_i = 1, S = n by default).
// parts = 1 is the reference (--device reference: plain loops over each row's nonzeros, the rows in the fixed
// parts of maths/row_parts.hpp, each in row order, the parts added in part order); parts > 1 (the cpu device) is
// the fused pass of the fast CPU backend (cpu/full_batch_objective.hpp) in its fixed row parts on `team`,
// bit-identical at any thread count. On both, under MPI ranks each rank runs its share of the parts and every
// part's sums are exchanged (ranks.hpp, part_sums.hpp), so the result is also the same at any rank count.
// x may hold a window of its rows (FeatureMatrix::first, an MPI rank's parts: dense rows, no device): row
// indices, the parts and the sums stay those of all x.rows, and only the window's rows are read.
// With a `device` maker (--device cuda) the parts' sums come from what it makes (parts and team are not used),
// and are added here in part order, after the same exchange; no Hessian-vector product there (UsageError).
class FeatureObjective {
 public:
  FeatureObjective(const FeatureMatrix& x, const std::vector<std::uint32_t>& y, LossHead head, int num_classes,
                   int parts, cpu::ThreadTeam* team, FeatureFitTerms terms = {},
                   const FeaturePartsMaker& device = {});
  ~FeatureObjective();
  FeatureObjective(const FeatureObjective&) = delete;
  FeatureObjective& operator=(const FeatureObjective&) = delete;

  // params, grad: parameter_count(): W (C, D) row-major, then b (C) when there is an intercept; l2 =
  // l2_strength(C, weight_total()). Returns f.
  double operator()(const double* params, double l2, double* grad);
  // hv = the Hessian of f at params times v (all parameter_count()), softmax head only (UsageError otherwise).
  void hessian_vector(const double* params, double l2, const double* v, double* hv);

  std::size_t parameter_count() const {
    return (x_.cols + (terms_.intercept ? 1 : 0)) * static_cast<std::size_t>(C_);
  }
  // S: the sum of the sample weights (n without them).
  double weight_total() const { return terms_.weight_total; }
  // One evaluation's work in dense rows (FeatureMatrix::dense_rows of the rows it sums): LbfgsConfig::dense_rows.
  double dense_rows() const { return x_.dense_rows(); }
  // The device's name when a device computes the parts, else "".
  std::string device_name() const { return device_ ? device_->name() : std::string(); }

 private:
  struct Fused;  // the cpu device's rows and FullBatchObjective
  double reference(const double* params, double l2, double* grad) const;
  void reference_hessian_vector(const double* params, double l2, const double* v, double* hv) const;
  // params (parameter_count()) with a zero bias appended when there is no intercept: (C*D + C).
  const double* with_bias(const double* params, std::vector<double>& out) const;

  const FeatureMatrix& x_;
  const std::vector<std::uint32_t>& y_;
  LossHead head_;
  int C_;
  FeatureFitTerms terms_;
  std::unique_ptr<Fused> fused_;  // null: the reference or the device
  std::unique_ptr<FeaturePartSums> device_;  // null: the host computes the parts
  std::vector<double> device_sums_;          // (parts, C*D + C + 1) every part's sums from the device
  std::vector<double> full_params_, full_v_, full_grad_;  // (C*D + C) when there is no intercept
};

// A FullBatchEngine over the rows of x (labels y, class indices) for synchronous SGD over MPI ranks (rank_sgd.hpp):
// full_batch_objective(rows, params, l2, grad) is the FeatureObjective of those rows alone (copied out in the
// order given, FeatureMatrix::copy_rows; parts and team as FeatureObjective's: 1 and null for the reference, else
// the fused pass), each row weighted by its a_i of `terms` and S = rows.size(): sum a_i loss_i / B + the penalty,
// the mean an SGD step takes. params and grad are (C*D + C) with or without an intercept; without one the bias is
// read as 0 and its gradient is 0. Its objective's row parts are shared out over the ranks, so the result is the
// same at any rank count. x and y must outlive it. No Hessian-vector product (UsageError).
std::unique_ptr<FullBatchEngine> make_feature_batch_engine(const FeatureMatrix& x, const std::vector<std::uint32_t>& y,
                                                           LossHead head, int num_classes, int parts,
                                                           cpu::ThreadTeam* team, FeatureFitTerms terms);

}  // namespace logreg
