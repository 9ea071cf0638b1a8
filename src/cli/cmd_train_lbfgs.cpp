// `train --solver lbfgs` and `newton-cg` (cmd_train_lbfgs.hpp): the fits, their output lines, --metrics
// records, --save, the regularisation path and its cross-validation table. The solver sees only the full-batch engine's
// full_batch_objective (and, for Newton-CG, full_batch_hessian_vector) over the rows it fits.
#include "cmd_train_lbfgs.hpp"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "commands.hpp"
#include "option_values.hpp"
#include "logreg/errors.hpp"
#include "logreg/evaluation.hpp"
#include "logreg/lbfgs_run.hpp"
#include "logreg/maths/objective_math.hpp"
#include "logreg/metrics_log.hpp"
#include "logreg/model_file.hpp"

namespace logreg::cli {
namespace {

constexpr const char* kLbfgsMetricsColumns = "iteration,objective,gradient,step,seconds,evaluations,test_accuracy,evaluation_seconds";
// Newton-CG's records add the Hessian-vector products (each one more pass over the rows).
constexpr const char* kNewtonCgMetricsColumns =
    "iteration,objective,gradient,step,seconds,evaluations,test_accuracy,hessian_products,evaluation_seconds";

std::string format(const char* fmt, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, fmt, v);
  return buf;
}

std::string c_text(double C) { return std::isinf(C) ? std::string("inf") : format("%g", C); }
nlohmann::ordered_json c_json(double C) {
  return std::isinf(C) ? nlohmann::ordered_json("inf") : nlohmann::ordered_json(C);
}

void save_lbfgs_model(const RunSettings& o, const LbfgsRunInputs& in, const Model& m,
                      const nlohmann::ordered_json& settings) {
  ModelFile mf;
  mf.model = m;
  mf.rows = in.data->train_images.rows;
  mf.cols = in.data->train_images.cols;
  mf.epochs_done = 0;  // no SGD epochs: the solver's result is in the settings record
  mf.seed = o.seed;
  mf.settings_json = json_text(settings);
  save_model_file(o.save, mf);
}

}  // namespace

std::vector<double> parse_c_values(const std::string& text) {
  std::vector<double> values;
  const std::string problem = c_values_problem(text, &values);
  if (!problem.empty()) throw UsageError("--C: " + problem);
  return values;
}

std::string c_values_problem(const std::string& text, std::vector<double>* out) {
  std::vector<double> values;
  std::size_t start = 0;
  for (;;) {
    const std::size_t comma = text.find(',', start);
    const std::string item = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (item == "inf") {
      values.push_back(INFINITY);
    } else {
      double v = 0.0;
      const std::string problem = real_problem(item, RealRange{0.0, true, INFINITY, false, false}, &v);
      if (!problem.empty()) return problem + "; each value of --C is a number > 0 or inf, several as 0.01,0.1,1,10";
      values.push_back(v);
    }
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  for (std::size_t j = 1; j < values.size(); ++j) {
    for (std::size_t i = 0; i < j; ++i) {
      if (values[i] == values[j]) {
        const std::string shown = text.size() > 40 ? text.substr(0, 40) + "..." : text;  // echoed text stays short
        return "expected each value once, got '" + shown + "' (C " + c_text(values[j]) + " is there twice, and would "
               "be fitted twice)";
      }
    }
  }
  *out = values;
  return "";
}

std::vector<double> c_values_of(const RunSettings& o) {
  if (o.penalty == Penalty::kNone) return {INFINITY};
  return parse_c_values(o.C);
}

std::string penalty_text(const nlohmann::ordered_json& settings) {
  std::string text;
  const std::string penalty = settings.value("penalty", std::string("l2"));
  if (penalty == "none") text += ", penalty none (C ignored)";
  if (penalty == "l1") text += ", penalty l1 (OWL-QN)";
  if (penalty == "elasticnet") text += ", penalty elasticnet l1-ratio " + format("%g", settings["l1_ratio"].get<double>()) + " (OWL-QN)";
  if (settings.contains("cv")) text += ", C chosen by " + std::to_string(settings["cv"].get<int>()) + "-fold cross-validation";
  return text;
}

void report_cross_validation(const CvResult& cv, std::size_t refit_rows, nlohmann::ordered_json* settings) {
  const std::size_t K = cv.points.empty() ? 0 : cv.points.front().folds.size();
  std::printf("Cross-validation over %zu stratified folds (mean over the folds' held-out rows):\n", K);
  std::printf("  %-10s %14s %14s %11s %10s\n", "C", "val log-loss", "val accuracy", "iterations", "converged");
  nlohmann::ordered_json points = nlohmann::ordered_json::array();
  for (std::size_t j = 0; j < cv.points.size(); ++j) {
    const CvPoint& p = cv.points[j];
    std::printf("  %-10s %14.6f %14.4f %11d %10s%s\n", c_text(p.C).c_str(), p.mean_log_loss, 100.0 * p.mean_accuracy,
                p.iterations, p.converged ? "yes" : "no", j == cv.best ? "   <- chosen" : "");
    nlohmann::ordered_json fold_accuracy = nlohmann::ordered_json::array();
    nlohmann::ordered_json fold_loss = nlohmann::ordered_json::array();
    for (const FoldScore& f : p.folds) {
      fold_accuracy.push_back(f.accuracy);
      fold_loss.push_back(f.log_loss);
    }
    points.push_back({{"C", c_json(p.C)}, {"iterations", p.iterations}, {"converged", p.converged},
                      {"val_log_loss", p.mean_log_loss}, {"val_accuracy", 100.0 * p.mean_accuracy},
                      {"fold_log_loss", fold_loss}, {"fold_accuracy", fold_accuracy}});
  }
  (*settings)["cross_validation"] = {{"folds", K}, {"scoring", "accuracy"}, {"path", points}};
  (*settings)["C_chosen"] = c_json(cv.points[cv.best].C);
  std::printf("Best C: %s (mean validation accuracy %.4f); refitting on all %zu training rows\n",
              c_text(cv.points[cv.best].C).c_str(), 100.0 * cv.points[cv.best].mean_accuracy, refit_rows);
  std::fflush(stdout);
}

void print_path_point(const PathPoint& p) {
  std::printf("C: %s. Iterations: %d. Objective: %.10g. Gradient: %.3e. Converged: %s. Validation accuracy: %.2f\n",
              c_text(p.C).c_str(), p.fit.iterations, p.fit.objective, p.fit.grad_max, p.fit.converged() ? "yes" : "no",
              p.val_accuracy);
  std::fflush(stdout);
}

void report_validation_path(const std::vector<PathPoint>& points, double best_c, double best_val_accuracy,
                            std::size_t refit_rows, nlohmann::ordered_json* settings) {
  nlohmann::ordered_json path = nlohmann::ordered_json::array();
  for (const PathPoint& p : points) {
    path.push_back({{"C", c_json(p.C)}, {"iterations", p.fit.iterations}, {"objective", p.fit.objective},
                    {"converged", p.fit.converged()}, {"val_accuracy", p.val_accuracy}});
  }
  (*settings)["regularisation_path"] = path;
  (*settings)["C_chosen"] = c_json(best_c);
  (*settings)["fit_rows"] = refit_rows;
  std::printf("Best C: %s (validation accuracy %.2f); refitting on all %zu training rows\n", c_text(best_c).c_str(),
              best_val_accuracy, refit_rows);
  std::fflush(stdout);
}

void report_held_out(const Totals& val, std::size_t rows, nlohmann::ordered_json* settings) {
  // One C with --val-split: the held-out rows were not fitted, and their score is the point of holding them out.
  std::printf("Validation: loss %.4f, accuracy %.2f on the %zu held-out rows (not fitted)\n", val.mean_loss(),
              val.accuracy_percent(), rows);
  (*settings)["lbfgs_result"]["val_loss"] = val.mean_loss();
  (*settings)["lbfgs_result"]["val_accuracy"] = val.accuracy_percent();
  (*settings)["lbfgs_result"]["val_rows"] = rows;
}

const char* full_batch_title(Solver s) { return s == Solver::kNewtonCg ? "Newton-CG" : "L-BFGS"; }

LbfgsRunConfig full_batch_config(const RunSettings& o) {
  LbfgsRunConfig config;
  config.cs = c_values_of(o);
  config.method = o.solver;
  config.l1_ratio = l1_ratio_of(o.penalty, o.l1_ratio);
  config.cv_folds = o.cv;
  config.solver.tol = o.tol;
  config.solver.max_iter = o.max_iter;
  config.solver.memory = o.lbfgs_memory;
  config.newton.tol = o.tol;
  config.newton.max_iter = o.max_iter;
  config.eval_every = o.eval_every;
  return config;
}

std::string iteration_line(const LbfgsIteration& it, double accuracy, const char* rows_name) {
  std::string line = "Iteration: " + std::to_string(it.iteration) + ". Objective: " + format("%.10g", it.objective) +
                     ". Gradient: " + format("%.3e", it.grad_max) + ". Step: " + format("%.4g", it.step) +
                     ". Time: " + format("%.2f", it.seconds) + " s";
  if (!std::isnan(accuracy)) line += std::string(". ") + rows_name + " accuracy: " + format("%.2f", accuracy);
  return line;
}

LbfgsRunOutcome run_lbfgs_training(const RunSettings& o, LbfgsRunInputs in) {
  const Dataset& data = *in.data;
  const TrainSplit& split = *in.split;
  const LbfgsRunConfig config = full_batch_config(o);
  const bool newton = o.solver == Solver::kNewtonCg;
  const char* title = full_batch_title(o.solver);

  LbfgsRunHooks hooks;
  hooks.stop_requested = in.stop_requested;
  hooks.on_path_point = print_path_point;
  std::unique_ptr<MetricsLog> metrics;
  hooks.on_final_fit = [&](const LbfgsRunResult& r) {
    if (r.has_cv) report_cross_validation(r.cv, r.fit_rows, &in.settings);
    if (!r.path.empty()) report_validation_path(r.path, r.best_c, r.best_val_accuracy, r.fit_rows, &in.settings);
    in.settings["C_chosen"] = c_json(r.best_c);
    in.settings["fit_rows"] = r.fit_rows;
    if (!o.metrics.empty()) {
      metrics = std::make_unique<MetricsLog>(o.metrics, json_text(in.settings), false, -1,
                                             newton ? kNewtonCgMetricsColumns : kLbfgsMetricsColumns);
    }
  };
  // A metrics file that cannot be written (a full disk) stops the fit after that iteration; its model is saved.
  std::string metrics_failure;
  hooks.on_iteration = [&](const LbfgsIteration& it, double test_accuracy) {
    const std::string line = iteration_line(it, test_accuracy, "Test");
    nlohmann::ordered_json rec = {{"iteration", it.iteration}, {"objective", it.objective}, {"gradient", it.grad_max},
                                  {"step", it.step},           {"seconds", it.seconds},     {"evaluations", it.evaluations}};
    std::string csv = std::to_string(it.iteration) + "," + format("%.17g", it.objective) + "," +
                      format("%.6e", it.grad_max) + "," + format("%.6g", it.step) + "," + format("%.4f", it.seconds) +
                      "," + std::to_string(it.evaluations) + ",";
    if (!std::isnan(test_accuracy)) {
      rec["test_accuracy"] = test_accuracy;
      csv += format("%.4f", test_accuracy);
    }
    if (newton) {
      rec["hessian_products"] = it.hessian_products;
      csv += "," + std::to_string(it.hessian_products);
    }
    rec["evaluation_seconds"] = it.evaluation_seconds;
    csv += "," + format("%.4f", it.evaluation_seconds);
    std::printf("%s\n", line.c_str());
    std::fflush(stdout);
    if (metrics) {
      try {
        metrics->append_record(csv, json_text(rec));
      } catch (const ResourceError& e) {
        metrics_failure = e.what();
        return false;
      }
    }
    return true;
  };

  const LbfgsRunResult run = run_lbfgs(*in.engine, data, split, in.all_rows, in.start, config, hooks);

  LbfgsRunOutcome outcome;
  outcome.iterations = run.fit.iterations;
  if (run.stopped_in_path && run.has_cv) {  // no fold's fit is a model of the training set: nothing is saved
    outcome.stopped = outcome.stopped_in_cv = true;
    return outcome;
  }
  if (run.stopped_in_path) {
    // The iterate of a C that was not chosen, on the training rows only: its record says exactly that.
    outcome.stopped = true;
    outcome.stopped_in_path = true;
    if (!o.save.empty()) {
      in.settings["lbfgs_result"] = {{"stopped", true},
                                     {"stopped_in", "regularisation path"},
                                     {"C", c_json(run.stopped_at_c)},
                                     {"iterations", run.fit.iterations},
                                     {"fit_rows", run.fit_rows},
                                     {"objective", run.fit.objective},
                                     {"gradient", run.fit.grad_max}};
      save_lbfgs_model(o, in, run.model, in.settings);
    }
    return outcome;
  }
  if (!metrics_failure.empty()) {
    std::string what = metrics_failure + "; the fit stopped after " + title + " iteration " +
                       std::to_string(run.fit.iterations);
    if (o.save.empty()) throw ResourceError(what + " (no --save was given, so no model is kept)");
    in.settings["lbfgs_result"] = {{"stopped", true}, {"iterations", run.fit.iterations}};
    save_lbfgs_model(o, in, run.model, in.settings);
    throw ResourceError(what + "; model saved to " + o.save + " (the weights of that iteration)");
  }
  if (run.stopped) {
    outcome.stopped = true;
    in.settings["lbfgs_result"] = {{"stopped", true}, {"iterations", run.fit.iterations}};
    if (!o.save.empty()) save_lbfgs_model(o, in, run.model, in.settings);
    return outcome;
  }
  const LbfgsResult& result = run.fit;
  std::printf("Solver: %s. Iterations: %d. Objective: %.10g. Gradient: %.3e. Converged: %s (%s). Accuracy: %.2f.\n",
              solver_name(o.solver), result.iterations, result.objective, result.grad_max, result.converged() ? "yes" : "no",
              result.reason.c_str(), run.test.totals.accuracy_percent());
  in.settings["lbfgs_result"] = {{"iterations", result.iterations}, {"objective", result.objective},
                                 {"gradient", result.grad_max},     {"converged", result.converged()},
                                 {"reason", result.reason},         {"evaluations", result.evaluations},
                                 {"seconds", result.seconds},       {"evaluation_seconds", result.evaluation_seconds},
                                 {"test_accuracy", run.test.totals.accuracy_percent()}};
  if (newton) {
    in.settings["lbfgs_result"]["hessian_products"] = result.hessian_products;
  } else {
    in.settings["lbfgs_result"]["memory"] = result.memory;
  }
  if (run.has_val) report_held_out(run.val.totals, split.val_images.count, &in.settings);
  if (!o.save.empty()) {
    save_lbfgs_model(o, in, run.model, in.settings);
    std::printf("Saved model to %s (%s, %d iterations)\n", o.save.c_str(), title, result.iterations);
  }
  std::printf("\nTest set confusion matrix after %s iteration %d (rows: true class, columns: predicted):\n", title,
              result.iterations);
  std::fputs(format_confusion_matrix(run.test).c_str(), stdout);
  return outcome;
}

}  // namespace logreg::cli
