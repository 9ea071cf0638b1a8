// run_lbfgs (lbfgs_run.hpp): the fits of one full-batch run (L-BFGS or Newton-CG), the regularisation path and
// the evaluations, reported through hooks.
#include "logreg/lbfgs_run.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>
#include <utility>

#include "logreg/errors.hpp"
#include "logreg/maths/objective_math.hpp"

namespace logreg {
namespace {

LbfgsResult fit(FullBatchEngine& engine, const std::vector<std::uint32_t>& rows, double C, std::vector<double> x0,
                std::size_t n_weights, const LbfgsRunConfig& config,
                const std::function<bool(const LbfgsIteration&)>& on_iteration,
                const std::function<bool()>& stop_requested) {
  double l2 = 0.0;
  LbfgsConfig solver = penalised_config(config.solver, C, static_cast<double>(rows.size()), config.l1_ratio, n_weights, &l2);
  solver.dense_rows = engine.traits().gpu ? 0.0 : static_cast<double>(rows.size());  // pixels: every value summed
  auto f = [&](const double* x, double* g) { return engine.full_batch_objective(rows, x, l2, g); };
  if (config.method == Solver::kNewtonCg) {
    if (config.l1_ratio > 0.0) throw UsageError("--solver newton-cg: the L1 and elastic-net penalties need --solver lbfgs");
    return minimize_newton_cg(
        f, [&](const double* x, const double* v, double* hv) { engine.full_batch_hessian_vector(rows, x, l2, v, hv); },
        std::move(x0), config.newton, on_iteration, stop_requested);
  }
  return minimize_lbfgs(f, std::move(x0), solver, on_iteration);
}

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

LbfgsRunResult run_lbfgs(FullBatchEngine& engine, const Dataset& data, const TrainSplit& split, std::uint32_t all_rows,
                         const Model& start, const LbfgsRunConfig& config, const LbfgsRunHooks& hooks) {
  if (config.cs.empty()) throw UsageError("run_lbfgs: no value of C");
  if (config.method != Solver::kLbfgs && config.method != Solver::kNewtonCg) {
    throw UsageError(std::string("run_lbfgs: --solver ") + solver_name(config.method) + " is not a full-batch solver");
  }
  LbfgsRunResult out;
  std::vector<double> x = params_of(start);
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
  std::vector<std::uint32_t> rows = split.train_rows;
  if (config.cv_folds > 0) {
    // ... or cross-validated: each fold's path on its training rows, scored on its held-out rows.
    std::vector<std::uint32_t> labels(rows.size());
    for (std::size_t i = 0; i < rows.size(); ++i) labels[i] = data.train_labels.labels[rows[i]];
    const std::vector<int> fold_of = stratified_folds(labels, config.cv_folds);
    std::vector<std::vector<std::uint32_t>> fit_rows(static_cast<std::size_t>(config.cv_folds));
    std::vector<ImageSet> held_images(fit_rows.size());
    std::vector<LabelSet> held_labels(fit_rows.size());
    for (int k = 0; k < config.cv_folds; ++k) {
      const auto fk = static_cast<std::size_t>(k);
      for (const std::uint32_t i : fold_rows(fold_of, k, false)) fit_rows[fk].push_back(rows[i]);
      std::vector<std::uint32_t> held;
      for (const std::uint32_t i : fold_rows(fold_of, k, true)) held.push_back(rows[i]);
      copy_rows(data, held, &held_images[fk], &held_labels[fk]);
    }
    CvFits fits;
    fits.fit = [&](int k, double C, std::vector<double> x0) {
      return fit(engine, fit_rows[static_cast<std::size_t>(k)], C, std::move(x0), n_weights, config, stop_check,
                 stop_polled);
    };
    fits.score = [&](int k, const std::vector<double>& xk) {
      const EvaluationReport r = evaluate_model(engine, model_of(xk, start), held_images[static_cast<std::size_t>(k)],
                                                held_labels[static_cast<std::size_t>(k)]);
      return fold_score_of(r.totals);
    };
    out.cv = cross_validate(config.cv_folds, config.cs, x, fits);
    out.has_cv = true;
    if (out.cv.stopped) {
      out.stopped = true;
      out.stopped_in_path = true;
      out.fit_rows = rows.size();
      out.model = model_of(x, start);
      return out;
    }
    out.best_c = config.cs[out.cv.best];
    x = out.cv.refit_start;
  } else if (config.cs.size() > 1) {
    if (!split.has_val()) throw UsageError("--C with several values needs validation rows (--val-split F > 0)");
    ValidationPathFits fits;
    fits.fit = [&](double C, std::vector<double> x0) {
      LbfgsResult r = fit(engine, rows, C, std::move(x0), n_weights, config, stop_check, stop_polled);
      if (out.stopped) r.stop = LbfgsStop::kStopRequested;  // asked during the fit's last iteration too
      return r;
    };
    fits.val_accuracy = [&](const std::vector<double>& xc) {
      return engine.accuracy_percent(model_of(xc, start), split.val_images, split.val_labels);
    };
    fits.on_point = hooks.on_path_point;
    ValidationPath path = validation_path(config.cs, x, fits);
    if (path.stopped) {
      out.stopped = true;
      out.stopped_in_path = true;
      out.stopped_at_c = path.stopped_at_c;
      out.fit = std::move(path.stopped_fit);
      out.fit_rows = rows.size();
      out.model = model_of(out.fit.x, start);
      return out;
    }
    out.path = std::move(path.points);
    out.best_c = path.best_c;
    out.best_val_accuracy = path.best_val_accuracy;
    x = std::move(path.best_x);
    rows.resize(all_rows);
    std::iota(rows.begin(), rows.end(), 0u);
  }
  out.fit_rows = rows.size();
  if (hooks.on_final_fit) hooks.on_final_fit(out);

  out.fit = fit(engine, rows, out.best_c, x, n_weights, config, [&](const LbfgsIteration& it) {
    double test_accuracy = NAN;
    if (config.eval_every > 0 && it.iteration % config.eval_every == 0) {
      const std::vector<double> xi(it.x, it.x + x.size());
      test_accuracy = engine.accuracy_percent(model_of(xi, start), data.test_images, data.test_labels);
    }
    if (hooks.on_iteration && !hooks.on_iteration(it, test_accuracy)) {
      out.stopped = true;
      return false;
    }
    return stop_check(it);
  }, stop_polled);
  out.model = model_of(out.fit.x, start);
  if (out.stopped) return out;
  out.test = evaluate_model(engine, out.model, data.test_images, data.test_labels);
  if (config.cs.size() == 1 && split.has_val()) {
    out.has_val = true;
    out.val = evaluate_model(engine, out.model, split.val_images, split.val_labels);
  }
  return out;
}

}  // namespace logreg
