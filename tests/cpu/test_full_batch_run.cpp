// run_full_batch (lbfgs_run.hpp), the one full-batch run loop: which objective each stage fits (the fitted rows,
// all training rows for the refit after a validation path, each --cv fold) and what it scores, on a toy
// FullBatchRows; and that IDX images (run_lbfgs on the reference engine) and the same rows as a uint8 feature
// matrix (FeatureFullBatch with the reference's parts) give the same fits, bit for bit, through it.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <numeric>
#include <vector>

#include "logreg/cpu_reference.hpp"
#include "logreg/feature_full_batch.hpp"
#include "logreg/lbfgs_run.hpp"
#include "test_support.hpp"

namespace logreg {
namespace {

// f(x) = rows / 2 * sum_i (x_i - target)^2 + l2 / 2 * ||W||^2: its minimum moves with C and with the target, so
// a fit's solution tells which objective it minimised.
class ToyObjective final : public FitObjective {
 public:
  ToyObjective(double target, std::size_t rows, std::size_t n_weights)
      : target_(target), rows_(rows), n_weights_(n_weights) {}
  double value(const double* x, double l2, double* grad) override {
    ++calls;
    double f = 0.0;
    for (std::size_t i = 0; i < kParams; ++i) {
      const double d = x[i] - target_;
      const double penalty = i < n_weights_ ? l2 : 0.0;
      f += 0.5 * static_cast<double>(rows_) * d * d + 0.5 * penalty * x[i] * x[i];
      grad[i] = static_cast<double>(rows_) * d + penalty * x[i];
    }
    return f;
  }
  void hessian_vector(const double*, double l2, const double* v, double* hv) override {
    for (std::size_t i = 0; i < kParams; ++i) hv[i] = (static_cast<double>(rows_) + (i < n_weights_ ? l2 : 0.0)) * v[i];
  }
  double weight_total() const override { return static_cast<double>(rows_); }
  double dense_rows() const override { return static_cast<double>(rows_); }
  std::size_t rows() const override { return rows_; }

  static constexpr std::size_t kParams = 6;  // a Linear(2 -> 2): 4 weights, 2 biases
  int calls = 0;

 private:
  double target_;
  std::size_t rows_;
  std::size_t n_weights_;
};

Model ToyShape() {
  Model m;
  m.input_dim = 2;
  m.num_classes = 2;
  m.weights.assign(4, 0.0f);
  m.bias.assign(2, 0.0f);
  return m;
}

// Fitted rows: 8 with target 1; all rows: 10 with target 2; fold k: 6 with target 3 + k. The validation score
// prefers solutions near 0.9; the test score is the first parameter.
class ToyRows final : public FullBatchRows {
 public:
  FitObjective& fitted() override { return fitted_; }
  FitObjective& all_rows() override { return all_; }
  void cut_folds(int K) override {
    cut = K;
    for (int k = 0; k < K; ++k) folds.push_back(std::make_unique<ToyObjective>(3.0 + k, 6, 4));
  }
  FitObjective& fold(int k) override { return *folds[static_cast<std::size_t>(k)]; }
  FoldScore fold_score(int k, const std::vector<double>& x) override {
    ++fold_scores;
    return FoldScore{0.0, k == 0 ? 1.0 / (1.0 + std::abs(x[0] - 3.0)) : 0.5};
  }
  bool has_val() const override { return true; }
  double val_accuracy(const std::vector<double>& x) override { return 100.0 - std::abs(x[0] - 0.9); }
  double test_accuracy(const std::vector<double>& x) override { return x[0]; }
  EvaluationReport test_report(const Model&) override {
    ++test_reports;
    return {};
  }
  EvaluationReport val_report(const Model&) override {
    ++val_reports;
    return {};
  }
  std::vector<double> params_of(const Model& m) const override { return logreg::params_of(m); }
  Model model_of(const std::vector<double>& x) const override { return logreg::model_of(x, ToyShape()); }

  ToyObjective fitted_{1.0, 8, 4};
  ToyObjective all_{2.0, 10, 4};
  std::vector<std::unique_ptr<ToyObjective>> folds;
  int cut = 0;
  int fold_scores = 0;
  int test_reports = 0;
  int val_reports = 0;
};

LbfgsRunConfig ToyConfig(std::vector<double> cs) {
  LbfgsRunConfig config;
  config.cs = std::move(cs);
  config.solver.tol = 1e-10;
  config.newton.tol = 1e-10;
  config.eval_every = 2;
  return config;
}

TEST(FullBatchRun, OneCFitsTheFittedRowsAndScoresTheHeldOutRows) {
  for (const Solver method : {Solver::kLbfgs, Solver::kNewtonCg}) {
    ToyRows rows;
    LbfgsRunConfig config = ToyConfig({INFINITY});  // no penalty: the solution is the target
    config.method = method;
    std::vector<double> accuracies;
    LbfgsRunHooks hooks;
    hooks.on_iteration = [&](const LbfgsIteration&, double a) {
      accuracies.push_back(a);
      return true;
    };
    const LbfgsRunResult r = run_full_batch(rows, ToyShape(), config, hooks);
    EXPECT_GT(rows.fitted_.calls, 0);
    EXPECT_EQ(rows.all_.calls, 0);
    EXPECT_EQ(r.fit_rows, 8u);
    EXPECT_NEAR(r.fit.x[0], 1.0, 1e-6);
    EXPECT_FLOAT_EQ(r.model.bias[1], 1.0f);
    EXPECT_TRUE(r.has_val);
    EXPECT_EQ(rows.val_reports, 1);
    EXPECT_EQ(rows.test_reports, 1);
    ASSERT_EQ(accuracies.size(), static_cast<std::size_t>(r.fit.iterations));
    for (std::size_t i = 0; i < accuracies.size(); ++i) EXPECT_EQ(std::isnan(accuracies[i]), (i + 1) % 2 != 0) << i;
  }
}

TEST(FullBatchRun, SeveralCFollowThePathOnTheFittedRowsThenRefitAllRows) {
  ToyRows rows;
  std::vector<PathPoint> points;
  LbfgsRunHooks hooks;
  hooks.on_path_point = [&](const PathPoint& p) { points.push_back(p); };
  std::size_t rows_at_final_fit = 0;
  hooks.on_final_fit = [&](const LbfgsRunResult& r) { rows_at_final_fit = r.fit_rows; };
  // The fitted rows' solution at C is 8 / (8 + 1 / (8 C)) (n = 8): about 0.61, 0.94, 0.998.
  const LbfgsRunResult r = run_full_batch(rows, ToyShape(), ToyConfig({0.025, 0.25, 2.5}), hooks);
  ASSERT_EQ(points.size(), 3u);
  ASSERT_EQ(r.path.size(), 3u);
  EXPECT_NEAR(r.path[1].fit.x[0], 8.0 / (8.0 + 1.0 / 2.0), 1e-6);
  EXPECT_EQ(r.best_c, 0.25);  // nearest 0.9
  EXPECT_EQ(rows_at_final_fit, 10u);
  EXPECT_EQ(r.fit_rows, 10u);
  EXPECT_GT(rows.all_.calls, 0);
  EXPECT_NEAR(r.fit.x[0], 2.0 * 10.0 / (10.0 + 1.0 / 2.5), 1e-6);  // all rows' solution at the chosen C
  EXPECT_FALSE(r.has_val);  // the held-out rows chose C; the refit fitted them
}

TEST(FullBatchRun, CrossValidationFitsEachFoldThenRefitsTheFittedRows) {
  ToyRows rows;
  LbfgsRunConfig config = ToyConfig({0.1, 1.0});
  config.cv_folds = 3;
  const LbfgsRunResult r = run_full_batch(rows, ToyShape(), config, {});
  EXPECT_EQ(rows.cut, 3);
  ASSERT_EQ(rows.folds.size(), 3u);
  for (const auto& f : rows.folds) EXPECT_GT(f->calls, 0);
  EXPECT_EQ(rows.fold_scores, 6);
  EXPECT_EQ(rows.all_.calls, 0);
  EXPECT_TRUE(r.has_cv);
  EXPECT_EQ(r.best_c, 1.0);  // fold 0's solution nearer 3
  EXPECT_EQ(r.fit_rows, 8u);
  EXPECT_NEAR(r.fit.x[0], 8.0 / (8.0 + 1.0 / 8.0), 1e-6);
}

TEST(FullBatchRun, AStopDuringThePathEndsTheRunThere) {
  ToyRows rows;
  LbfgsRunHooks hooks;
  hooks.stop_requested = [&] { return rows.fitted_.calls >= 2; };
  const LbfgsRunResult r = run_full_batch(rows, ToyShape(), ToyConfig({0.1, 1.0}), hooks);
  EXPECT_TRUE(r.stopped);
  EXPECT_TRUE(r.stopped_in_path);
  EXPECT_EQ(r.stopped_at_c, 0.1);
  EXPECT_EQ(rows.all_.calls, 0);
  EXPECT_EQ(rows.test_reports, 0);
}

// The same rows as IDX images on the reference engine and as a uint8 feature matrix (whose objective is the
// reference's bit for bit, test_feature_model.cpp): the run gives the same iterates either way.
TEST(FullBatchRun, IdxImagesAndAFeatureMatrixGoThroughTheSameRun) {
  const int C = 3;
  Dataset data;
  data.train_images = test::RandomImages(60, 4, 4, 5);
  data.train_labels = test::RandomLabels(60, C, 5);
  data.test_images = test::RandomImages(20, 4, 4, 6);
  data.test_labels = test::RandomLabels(20, C, 6);
  data.num_classes = C;
  TrainSplit split;
  split.train_rows.resize(60);
  std::iota(split.train_rows.begin(), split.train_rows.end(), 0u);
  Model shape;
  shape.input_dim = 16;
  shape.num_classes = C;
  shape.weights.assign(16 * C, 0.0f);
  shape.bias.assign(C, 0.0f);
  const std::unique_ptr<FullBatchEngine> engine =
      make_cpu_reference_full_batch_engine(data.train_images, data.train_labels, shape);

  const FeatureMatrix train_x = test::Uint8Matrix(data.train_images);
  const FeatureMatrix test_x = test::Uint8Matrix(data.test_images);
  const std::vector<std::uint32_t> train_y(data.train_labels.labels.begin(), data.train_labels.labels.end());
  const std::vector<std::uint32_t> test_y(data.test_labels.labels.begin(), data.test_labels.labels.end());
  const std::vector<double> no_sample_weights;
  const std::vector<double> class_weights(C, 1.0);
  const FeatureMatrix no_val;
  const std::vector<std::uint32_t> no_val_y;

  for (const int folds : {0, 3}) {
    LbfgsRunConfig config;
    config.cs = folds > 0 ? std::vector<double>{0.01, 1.0} : std::vector<double>{0.5};
    config.cv_folds = folds;
    config.solver.max_iter = 15;
    config.eval_every = 0;
    const LbfgsRunResult idx = run_lbfgs(*engine, data, split, 60, shape, config, {});

    FeatureFullBatchInputs in;
    in.train_x = &train_x;
    in.train_y = &train_y;
    in.sample_weights = &no_sample_weights;
    in.class_weights = &class_weights;
    in.fit_rows = split.train_rows;
    in.val_x = &no_val;
    in.val_y = &no_val_y;
    in.test_x = &test_x;
    in.test_y = &test_y;
    in.shape = shape;
    in.source = "rows";
    in.parts = 1;
    FeatureFullBatch rows(std::move(in));
    const LbfgsRunResult features = run_full_batch(rows, shape, config, {});

    EXPECT_EQ(features.has_cv, folds > 0);
    if (folds > 0) {
      ASSERT_EQ(features.cv.points.size(), idx.cv.points.size());
      for (std::size_t j = 0; j < idx.cv.points.size(); ++j) {
        EXPECT_EQ(features.cv.points[j].iterations, idx.cv.points[j].iterations) << j;
      }
      EXPECT_EQ(features.best_c, idx.best_c);
    }
    EXPECT_EQ(features.fit_rows, idx.fit_rows);
    EXPECT_EQ(features.fit.iterations, idx.fit.iterations) << folds;
    EXPECT_EQ(features.fit.x, idx.fit.x) << folds;  // bit for bit
    EXPECT_EQ(features.test.totals.count, idx.test.totals.count);
  }
}

}  // namespace
}  // namespace logreg
