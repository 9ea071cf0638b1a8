// The rows of a feature file's full-batch run (.npz or svmlight; feature_data.hpp) as run_full_batch
// (lbfgs_run.hpp) takes them: FeatureObjectives over the rows fitted, over all training rows for the refit, and
// over each --cv fold's rows; the scores of parameter vectors by evaluate_model over the host's feature_logits.
// Not here: the run loop (lbfgs_run.cpp), the objective's maths (feature_model.hpp), the output lines (src/cli/).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "logreg/engine.hpp"
#include "logreg/feature_data.hpp"
#include "logreg/feature_model.hpp"
#include "logreg/lbfgs_run.hpp"
#include "logreg/model.hpp"
#include "logreg/thread_team.hpp"

namespace logreg {

// What a feature file's run fits and scores. The matrices, labels and weights outlive the FeatureFullBatch.
struct FeatureFullBatchInputs {
  const FeatureMatrix* train_x = nullptr;  // every training row (scaled as the model reads them)
  const std::vector<std::uint32_t>* train_y = nullptr;  // (train_x->rows) class indices
  const std::vector<double>* sample_weights = nullptr;  // (train_x->rows) or empty: all 1
  const std::vector<double>* class_weights = nullptr;   // (C), taken once for all training rows (and every fold)
  std::vector<std::uint32_t> fit_rows;  // the rows of train_x fitted, ascending; the others are held out
  const FeatureMatrix* val_x = nullptr;  // the held-out rows (empty without them)
  const std::vector<std::uint32_t>* val_y = nullptr;
  const FeatureMatrix* test_x = nullptr;  // the rows of the test accuracy and the final report
  const std::vector<std::uint32_t>* test_y = nullptr;
  Model shape;            // the model's shape and head (weights and bias as zeros)
  bool intercept = true;  // false: the solver's parameters are the weights alone, the model's bias stays 0
  std::string source;     // the data file, named by the weights' errors (fit_terms_of)
  int parts = 8;          // FeatureObjective's: 1 for the reference, 8 for the cpu device's fused pass on `team`
  cpu::ThreadTeam* team = nullptr;
  FeaturePartsMaker device;  // set: the objectives' part sums on the CUDA device (each its own rows uploaded)
};

class FeatureFullBatch final : public FullBatchRows {
 public:
  // Makes the objective of the fitted rows now (its errors, and its device's, before any line of the run).
  explicit FeatureFullBatch(FeatureFullBatchInputs in);
  ~FeatureFullBatch() override;

  // The device computing the objective's parts ("" on the host).
  std::string device_name() const;

  FitObjective& fitted() override;
  FitObjective& all_rows() override;
  void cut_folds(int K) override;
  FitObjective& fold(int k) override;
  FoldScore fold_score(int k, const std::vector<double>& x) override;
  bool has_val() const override;
  double val_accuracy(const std::vector<double>& x) override;
  double test_accuracy(const std::vector<double>& x) override;
  EvaluationReport test_report(const Model& m) override;
  EvaluationReport val_report(const Model& m) override;
  std::vector<double> params_of(const Model& m) const override;
  Model model_of(const std::vector<double>& x) const override;

  struct Rows;  // one set of rows, their weights' terms and their FeatureObjective

 private:
  FeatureFullBatchInputs in_;
  std::unique_ptr<Engine> inference_;  // the host's feature_logits: every score
  std::unique_ptr<Rows> fitted_;
  std::unique_ptr<Rows> all_;
  struct Fold;
  std::vector<std::unique_ptr<Fold>> folds_;
};

}  // namespace logreg
