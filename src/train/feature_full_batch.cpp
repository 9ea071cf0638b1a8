// FeatureFullBatch (feature_full_batch.hpp): a feature file's rows for run_full_batch, each set of rows (fitted,
// all, a fold's) copied out of the training matrix where it is not all of it, with its weights' terms and its own
// FeatureObjective. Not here: the run loop (lbfgs_run.cpp).
#include "logreg/feature_full_batch.hpp"

#include <string>
#include <utility>

#include "logreg/backend_factory.hpp"
#include "logreg/cross_validation.hpp"
#include "logreg/evaluation.hpp"
#include "logreg/fit_weights.hpp"

namespace logreg {

// Rows of the training matrix (all of them without a copy, else their own matrix), their labels and sample
// weights, and the objective over them; it refers to x and y, so a Rows never moves once made.
struct FeatureFullBatch::Rows final : public FitObjective {
  Rows(const FeatureFullBatchInputs& in, const std::vector<std::uint32_t>& picked, const std::string& what) {
    const FeatureMatrix& train_x = *in.train_x;
    const bool all = picked.size() == train_x.rows;  // picked is ascending: every row, in order
    if (!all) own_x = train_x.copy_rows(picked);
    x = all ? &train_x : &own_x;
    std::vector<double> w;
    for (const std::uint32_t r : picked) {
      y.push_back((*in.train_y)[r]);
      if (!in.sample_weights->empty()) w.push_back((*in.sample_weights)[r]);
    }
    on_device = static_cast<bool>(in.device);
    objective = std::make_unique<FeatureObjective>(*x, y, in.shape.head, in.shape.num_classes, in.parts, in.team,
                                                   fit_terms_of(w, *in.class_weights, y, in.intercept, what), in.device);
  }
  double value(const double* params, double l2, double* grad) override { return (*objective)(params, l2, grad); }
  void hessian_vector(const double* params, double l2, const double* v, double* hv) override {
    objective->hessian_vector(params, l2, v, hv);
  }
  double weight_total() const override { return objective->weight_total(); }
  // On the GPU: lbfgs_memory's fixed rule.
  double dense_rows() const override { return on_device ? 0.0 : objective->dense_rows(); }
  std::size_t rows() const override { return y.size(); }

  FeatureMatrix own_x;
  const FeatureMatrix* x = nullptr;
  std::vector<std::uint32_t> y;
  bool on_device = false;
  std::unique_ptr<FeatureObjective> objective;
};

// One --cv fold: the objective over its fitted rows and its held-out rows for the score.
struct FeatureFullBatch::Fold {
  std::unique_ptr<Rows> fit;
  FeatureMatrix held_x;
  std::vector<std::uint32_t> held_y;
};

namespace {

std::vector<std::uint32_t> every_row(std::size_t n) {
  std::vector<std::uint32_t> rows(n);
  for (std::size_t i = 0; i < n; ++i) rows[i] = static_cast<std::uint32_t>(i);
  return rows;
}

}  // namespace

FeatureFullBatch::FeatureFullBatch(FeatureFullBatchInputs in)
    : in_(std::move(in)), inference_(make_inference_engine()),
      fitted_(std::make_unique<Rows>(in_, in_.fit_rows, in_.source)) {}

FeatureFullBatch::~FeatureFullBatch() = default;

std::string FeatureFullBatch::device_name() const { return fitted_->objective->device_name(); }

FitObjective& FeatureFullBatch::fitted() { return *fitted_; }

FitObjective& FeatureFullBatch::all_rows() {
  if (fitted_->rows() == in_.train_x->rows) return *fitted_;
  fitted_.reset();  // not used after the refit begins: its rows (and device memory) go first
  all_ = std::make_unique<Rows>(in_, every_row(in_.train_x->rows), in_.source);
  return *all_;
}

void FeatureFullBatch::cut_folds(int K) {
  const std::vector<int> fold_of = stratified_folds(fitted_->y, K);
  folds_.clear();
  for (int k = 0; k < K; ++k) {
    auto fold = std::make_unique<Fold>();
    std::vector<std::uint32_t> fit_rows;
    for (const std::uint32_t i : fold_rows(fold_of, k, false)) fit_rows.push_back(in_.fit_rows[i]);
    std::vector<std::uint32_t> held_rows;
    for (const std::uint32_t i : fold_rows(fold_of, k, true)) held_rows.push_back(in_.fit_rows[i]);
    fold->fit = std::make_unique<Rows>(in_, fit_rows,
                                       "--cv fold " + std::to_string(k + 1) + " of " + in_.source);
    fold->held_x = in_.train_x->copy_rows(held_rows);
    for (const std::uint32_t r : held_rows) fold->held_y.push_back((*in_.train_y)[r]);
    folds_.push_back(std::move(fold));
  }
}

FitObjective& FeatureFullBatch::fold(int k) { return *folds_[static_cast<std::size_t>(k)]->fit; }

FoldScore FeatureFullBatch::fold_score(int k, const std::vector<double>& x) {
  const Fold& f = *folds_[static_cast<std::size_t>(k)];
  return fold_score_of(evaluate_model(*inference_, model_of(x), f.held_x, f.held_y).totals);
}

bool FeatureFullBatch::has_val() const { return in_.val_x != nullptr && in_.val_x->rows > 0; }

double FeatureFullBatch::val_accuracy(const std::vector<double>& x) {
  return val_report(model_of(x)).totals.accuracy_percent();
}

double FeatureFullBatch::test_accuracy(const std::vector<double>& x) {
  return test_report(model_of(x)).totals.accuracy_percent();
}

EvaluationReport FeatureFullBatch::test_report(const Model& m) {
  return evaluate_model(*inference_, m, *in_.test_x, *in_.test_y);
}

EvaluationReport FeatureFullBatch::val_report(const Model& m) {
  return evaluate_model(*inference_, m, *in_.val_x, *in_.val_y);
}

std::vector<double> FeatureFullBatch::params_of(const Model& m) const {
  std::vector<double> x = logreg::params_of(m);
  x.resize(in_.shape.weights.size() + (in_.intercept ? in_.shape.bias.size() : 0));
  return x;
}

Model FeatureFullBatch::model_of(const std::vector<double>& x) const {
  std::vector<double> full = x;  // without an intercept the model's bias stays 0
  full.resize(in_.shape.weights.size() + in_.shape.bias.size(), 0.0);
  return logreg::model_of(full, in_.shape);
}

}  // namespace logreg
