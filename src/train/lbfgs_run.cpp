// run_full_batch (lbfgs_run.hpp): the fits of one full-batch run (L-BFGS or Newton-CG), the regularisation path,
// its cross-validation and the evaluations, over any FullBatchRows, reported through hooks; and run_lbfgs, the
// FullBatchRows of IDX images on a FullBatchEngine. Not here: a feature file's rows (feature_full_batch.cpp).
#include "logreg/lbfgs_run.hpp"

#include <algorithm>
#include <cmath>
#include <memory>
#include <numeric>
#include <string>
#include <utility>

#include "logreg/errors.hpp"
#include "logreg/maths/objective_math.hpp"

namespace logreg {
namespace {

LbfgsResult fit(FitObjective& objective, double C, std::vector<double> x0, std::size_t n_weights,
                const LbfgsRunConfig& config, const std::function<bool(const LbfgsIteration&)>& on_iteration,
                const std::function<bool()>& stop_requested) {
  double l2 = 0.0;
  LbfgsConfig solver = penalised_config(config.solver, C, objective.weight_total(), config.l1_ratio, n_weights, &l2);
  solver.dense_rows = objective.dense_rows();
  auto f = [&](const double* x, double* g) { return objective.value(x, l2, g); };
  if (config.method == Solver::kNewtonCg) {
    if (config.l1_ratio > 0.0) throw UsageError("--solver newton-cg: the L1 and elastic-net penalties need --solver lbfgs");
    return minimize_newton_cg(
        f, [&](const double* x, const double* v, double* hv) { objective.hessian_vector(x, l2, v, hv); },
        std::move(x0), config.newton, on_iteration, stop_requested);
  }
  return minimize_lbfgs(f, std::move(x0), solver, on_iteration);
}

// The objective of a FullBatchEngine over rows of its training set.
class EngineRows final : public FitObjective {
 public:
  EngineRows(FullBatchEngine& engine, std::vector<std::uint32_t> rows) : engine_(engine), rows_(std::move(rows)) {}
  double value(const double* x, double l2, double* grad) override {
    return engine_.full_batch_objective(rows_, x, l2, grad);
  }
  void hessian_vector(const double* x, double l2, const double* v, double* hv) override {
    engine_.full_batch_hessian_vector(rows_, x, l2, v, hv);
  }
  double weight_total() const override { return static_cast<double>(rows_.size()); }
  // Pixels: every value summed.
  double dense_rows() const override { return engine_.traits().gpu ? 0.0 : static_cast<double>(rows_.size()); }
  std::size_t rows() const override { return rows_.size(); }

 private:
  FullBatchEngine& engine_;
  std::vector<std::uint32_t> rows_;
};

// Copies of the training rows `rows` as an image set and its labels (a fold's held-out rows, for the scores).
void copy_rows(const Dataset& data, const std::vector<std::uint32_t>& rows, ImageSet* images, LabelSet* labels) {
  const ImageSet& from = data.train_images;
  images->rows = from.rows;
  images->cols = from.cols;
  images->count = static_cast<std::uint32_t>(rows.size());
  images->pixels.resize(rows.size() * from.dim());
  labels->labels.resize(rows.size());
  for (std::size_t i = 0; i < rows.size(); ++i) {
    std::copy(from.image(rows[i]), from.image(rows[i]) + from.dim(), images->pixels.begin() + i * from.dim());
    labels->labels[i] = data.train_labels.labels[rows[i]];
  }
}

// IDX images: the engine's objective over split.train_rows (all_rows for the refit), the scores from its logits.
class ImageRows final : public FullBatchRows {
 public:
  ImageRows(FullBatchEngine& engine, const Dataset& data, const TrainSplit& split, std::uint32_t all_rows,
            const Model& shape)
      : engine_(engine), data_(data), split_(split), all_rows_(all_rows), shape_(shape),
        fitted_(engine, split.train_rows) {}

  FitObjective& fitted() override { return fitted_; }
  FitObjective& all_rows() override {
    std::vector<std::uint32_t> rows(all_rows_);
    std::iota(rows.begin(), rows.end(), 0u);
    all_ = std::make_unique<EngineRows>(engine_, std::move(rows));
    return *all_;
  }
  void cut_folds(int K) override {
    const std::vector<std::uint32_t>& rows = split_.train_rows;
    std::vector<std::uint32_t> labels(rows.size());
    for (std::size_t i = 0; i < rows.size(); ++i) labels[i] = data_.train_labels.labels[rows[i]];
    const std::vector<int> fold_of = stratified_folds(labels, K);
    held_images_.assign(static_cast<std::size_t>(K), ImageSet{});
    held_labels_.assign(static_cast<std::size_t>(K), LabelSet{});
    folds_.clear();
    for (int k = 0; k < K; ++k) {
      std::vector<std::uint32_t> fit_rows;
      for (const std::uint32_t i : fold_rows(fold_of, k, false)) fit_rows.push_back(rows[i]);
      folds_.push_back(std::make_unique<EngineRows>(engine_, std::move(fit_rows)));
      std::vector<std::uint32_t> held;
      for (const std::uint32_t i : fold_rows(fold_of, k, true)) held.push_back(rows[i]);
      copy_rows(data_, held, &held_images_[static_cast<std::size_t>(k)], &held_labels_[static_cast<std::size_t>(k)]);
    }
  }
  FitObjective& fold(int k) override { return *folds_[static_cast<std::size_t>(k)]; }
  FoldScore fold_score(int k, const std::vector<double>& x) override {
    const auto fk = static_cast<std::size_t>(k);
    return fold_score_of(evaluate_model(engine_, model_of(x), held_images_[fk], held_labels_[fk]).totals);
  }
  bool has_val() const override { return split_.has_val(); }
  double val_accuracy(const std::vector<double>& x) override {
    return engine_.accuracy_percent(model_of(x), split_.val_images, split_.val_labels);
  }
  double test_accuracy(const std::vector<double>& x) override {
    return engine_.accuracy_percent(model_of(x), data_.test_images, data_.test_labels);
  }
  EvaluationReport test_report(const Model& m) override {
    return evaluate_model(engine_, m, data_.test_images, data_.test_labels);
  }
  EvaluationReport val_report(const Model& m) override {
    return evaluate_model(engine_, m, split_.val_images, split_.val_labels);
  }
  std::vector<double> params_of(const Model& m) const override { return logreg::params_of(m); }
  Model model_of(const std::vector<double>& x) const override { return logreg::model_of(x, shape_); }

 private:
  FullBatchEngine& engine_;
  const Dataset& data_;
  const TrainSplit& split_;
  std::uint32_t all_rows_;
  const Model& shape_;
  EngineRows fitted_;
  std::unique_ptr<EngineRows> all_;
  std::vector<std::unique_ptr<EngineRows>> folds_;
  std::vector<ImageSet> held_images_;
  std::vector<LabelSet> held_labels_;
};

}  // namespace

LbfgsConfig penalised_config(const LbfgsConfig& base, double C, double n, double l1_ratio, std::size_t n_weights,
                             double* l2) {
  const PenaltyStrengths s = penalty_strengths(C, n, l1_ratio);
  *l2 = s.l2;
  LbfgsConfig config = base;
  config.l1 = s.l1;
  config.l1_count = n_weights;
  return config;
}

ValidationPath validation_path(const std::vector<double>& cs, std::vector<double> x0, const ValidationPathFits& fits) {
  ValidationPath out;
  std::vector<double> x = std::move(x0);
  for (const double C : cs) {
    PathPoint point;
    point.C = C;
    point.fit = fits.fit(C, x);
    x = point.fit.x;
    if (point.fit.stop == LbfgsStop::kStopRequested) {
      out.stopped = true;
      out.stopped_at_c = C;
      out.stopped_fit = std::move(point.fit);
      return out;
    }
    point.val_accuracy = fits.val_accuracy(x);
    if (fits.on_point) fits.on_point(point);
    if (point.val_accuracy > out.best_val_accuracy) {
      out.best_val_accuracy = point.val_accuracy;
      out.best_c = C;
      out.best_x = x;
    }
    out.points.push_back(std::move(point));
  }
  return out;
}

std::vector<double> params_of(const Model& m) {
  std::vector<double> x(m.weights.begin(), m.weights.end());
  x.insert(x.end(), m.bias.begin(), m.bias.end());
  return x;
}

Model model_of(const std::vector<double>& x, const Model& shape) {
  Model m = shape;
  const std::size_t n_weights = m.weights.size();
  for (std::size_t j = 0; j < n_weights; ++j) m.weights[j] = static_cast<float>(x[j]);
  for (std::size_t c = 0; c < m.bias.size(); ++c) m.bias[c] = static_cast<float>(x[n_weights + c]);
  return m;
}

LbfgsRunResult run_full_batch(FullBatchRows& data, const Model& start, const LbfgsRunConfig& config,
                              const LbfgsRunHooks& hooks) {
  if (config.cs.empty()) throw UsageError("run_lbfgs: no value of C");
  if (config.method != Solver::kLbfgs && config.method != Solver::kNewtonCg) {
    throw UsageError(std::string("run_lbfgs: --solver ") + solver_name(config.method) + " is not a full-batch solver");
  }
  LbfgsRunResult out;
  std::vector<double> x = data.params_of(start);
  auto stop_check = [&](const LbfgsIteration&) {
    if (hooks.stop_requested && hooks.stop_requested()) out.stopped = true;
    return !out.stopped;
  };
  // Polled by Newton-CG within a step too (its steps can take hundreds of passes).
  auto stop_polled = [&]() {
    if (hooks.stop_requested && hooks.stop_requested()) out.stopped = true;
    return out.stopped;
  };

  // The regularisation path: each C from the previous solution, scored on the validation rows.
  out.best_c = config.cs.front();
  const std::size_t n_weights = start.weights.size();
  FitObjective* objective = &data.fitted();
  if (config.cv_folds > 0) {
    // ... or cross-validated: each fold's path on its training rows, scored on its held-out rows.
    data.cut_folds(config.cv_folds);
    CvFits fits;
    fits.fit = [&](int k, double C, std::vector<double> x0) {
      return fit(data.fold(k), C, std::move(x0), n_weights, config, stop_check, stop_polled);
    };
    fits.score = [&](int k, const std::vector<double>& xk) { return data.fold_score(k, xk); };
    out.cv = cross_validate(config.cv_folds, config.cs, x, fits);
    out.has_cv = true;
    if (out.cv.stopped) {
      out.stopped = true;
      out.stopped_in_path = true;
      out.fit_rows = objective->rows();
      out.model = data.model_of(x);
      return out;
    }
    out.best_c = config.cs[out.cv.best];
    x = out.cv.refit_start;
  } else if (config.cs.size() > 1) {
    if (!data.has_val()) throw UsageError("--C with several values needs validation rows (--val-split F > 0)");
    ValidationPathFits fits;
    fits.fit = [&](double C, std::vector<double> x0) {
      LbfgsResult r = fit(*objective, C, std::move(x0), n_weights, config, stop_check, stop_polled);
      if (out.stopped) r.stop = LbfgsStop::kStopRequested;  // asked during the fit's last iteration too
      return r;
    };
    fits.val_accuracy = [&](const std::vector<double>& xc) { return data.val_accuracy(xc); };
    fits.on_point = hooks.on_path_point;
    ValidationPath path = validation_path(config.cs, x, fits);
    if (path.stopped) {
      out.stopped = true;
      out.stopped_in_path = true;
      out.stopped_at_c = path.stopped_at_c;
      out.fit = std::move(path.stopped_fit);
      out.fit_rows = objective->rows();
      out.model = data.model_of(out.fit.x);
      return out;
    }
    out.path = std::move(path.points);
    out.best_c = path.best_c;
    out.best_val_accuracy = path.best_val_accuracy;
    x = std::move(path.best_x);
    objective = &data.all_rows();
  }
  out.fit_rows = objective->rows();
  if (hooks.on_final_fit) hooks.on_final_fit(out);

  out.fit = fit(*objective, out.best_c, x, n_weights, config, [&](const LbfgsIteration& it) {
    double test_accuracy = NAN;
    if (config.eval_every > 0 && it.iteration % config.eval_every == 0) {
      test_accuracy = data.test_accuracy(std::vector<double>(it.x, it.x + x.size()));
    }
    if (hooks.on_iteration && !hooks.on_iteration(it, test_accuracy)) {
      out.stopped = true;
      return false;
    }
    return stop_check(it);
  }, stop_polled);
  out.model = data.model_of(out.fit.x);
  if (out.stopped) return out;
  out.test = data.test_report(out.model);
  if (config.cs.size() == 1 && data.has_val()) {
    out.has_val = true;
    out.val = data.val_report(out.model);
  }
  return out;
}

LbfgsRunResult run_lbfgs(FullBatchEngine& engine, const Dataset& data, const TrainSplit& split, std::uint32_t all_rows,
                         const Model& start, const LbfgsRunConfig& config, const LbfgsRunHooks& hooks) {
  ImageRows rows(engine, data, split, all_rows, start);
  return run_full_batch(rows, start, config, hooks);
}

}  // namespace logreg
