// `train --solver lbfgs` (cmd_train_lbfgs.hpp): the fits, their output lines, --metrics records, --save and
// the regularisation path. The solver sees only the backend's full_batch_objective over the rows it fits.
#include "cmd_train_lbfgs.hpp"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <numeric>
#include <string>
#include <utility>
#include <vector>

#include "commands.hpp"
#include "option_values.hpp"
#include "logreg/errors.hpp"
#include "logreg/evaluation.hpp"
#include "logreg/maths/objective_math.hpp"
#include "logreg/metrics_log.hpp"
#include "logreg/model_file.hpp"

namespace logreg::cli {
namespace {

constexpr const char* kLbfgsMetricsColumns = "iteration,objective,gradient,step,seconds,evaluations,test_accuracy";

std::string format(const char* fmt, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, fmt, v);
  return buf;
}

std::string c_text(double C) { return std::isinf(C) ? std::string("inf") : format("%g", C); }

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

// One fit of C on `rows` from x0. on_iteration as minimize_lbfgs's.
LbfgsResult fit(TrainerBackend& backend, const std::vector<std::uint32_t>& rows, double C, std::vector<double> x0,
                const TrainOptions& o, const std::function<bool(const LbfgsIteration&)>& on_iteration) {
  const double l2 = l2_strength(C, static_cast<double>(rows.size()));
  LbfgsConfig config;
  config.tol = o.tol;
  config.max_iter = o.max_iter;
  return minimize_lbfgs([&](const double* x, double* g) { return backend.full_batch_objective(rows, x, l2, g); },
                        std::move(x0), config, on_iteration);
}

void save_lbfgs_model(const TrainOptions& o, const LbfgsRunInputs& in, const Model& m,
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

std::string lbfgs_settings_line(const TrainOptions& o) {
  std::string cs;
  for (const double C : parse_c_values(o.C)) cs += (cs.empty() ? "" : ",") + c_text(C);
  return "Optimizer: L-BFGS (libLBFGS, full batch), C " + cs + ", tol " + format("%g", o.tol) + ", max-iter " +
         std::to_string(o.max_iter) + ", test accuracy every " + std::to_string(o.eval_every) + " iterations";
}

LbfgsRunOutcome run_lbfgs_training(const TrainOptions& o, LbfgsRunInputs in) {
  const std::vector<double> cs = parse_c_values(o.C);
  const Dataset& data = *in.data;
  const TrainSplit& split = *in.split;
  TrainerBackend& backend = *in.backend;
  LbfgsRunOutcome outcome;
  std::vector<double> x = params_of(in.start);
  bool stopped = false;
  auto stop_check = [&](const LbfgsIteration&) {
    if (in.stop_requested && in.stop_requested()) stopped = true;
    return !stopped;
  };

  // The regularisation path: each C from the previous solution, scored on the validation rows.
  double best_c = cs.front();
  std::vector<std::uint32_t> rows = split.train_rows;
  if (cs.size() > 1) {
    if (!split.has_val()) throw UsageError("--C with several values needs validation rows (--val-split F > 0)");
    double best_accuracy = -1.0;
    std::vector<double> best_x;
    nlohmann::ordered_json path = nlohmann::ordered_json::array();
    for (const double C : cs) {
      const LbfgsResult r = fit(backend, rows, C, x, o, stop_check);
      x = r.x;
      if (stopped) break;
      const double val = accuracy_percent(model_of(x, in.start), split.val_images, split.val_labels);
      std::printf("C: %s. Iterations: %d. Objective: %.10g. Gradient: %.3e. Converged: %s. Validation accuracy: %.2f\n",
                  c_text(C).c_str(), r.iterations, r.objective, r.grad_max, r.converged() ? "yes" : "no", val);
      std::fflush(stdout);
      path.push_back({{"C", std::isinf(C) ? nlohmann::ordered_json("inf") : nlohmann::ordered_json(C)},
                      {"iterations", r.iterations}, {"objective", r.objective}, {"converged", r.converged()},
                      {"val_accuracy", val}});
      if (val > best_accuracy) {
        best_accuracy = val;
        best_c = C;
        best_x = x;
      }
    }
    in.settings["regularisation_path"] = path;
    if (!stopped) {
      x = best_x;
      rows.resize(in.all_rows);
      std::iota(rows.begin(), rows.end(), 0u);
      std::printf("Best C: %s (validation accuracy %.2f); refitting on all %u training rows\n", c_text(best_c).c_str(),
                  best_accuracy, in.all_rows);
      std::fflush(stdout);
    }
  }
  in.settings["C_chosen"] = std::isinf(best_c) ? nlohmann::ordered_json("inf") : nlohmann::ordered_json(best_c);
  in.settings["fit_rows"] = rows.size();

  std::unique_ptr<MetricsLog> metrics;
  if (!o.metrics.empty()) metrics = std::make_unique<MetricsLog>(o.metrics, json_text(in.settings), false, -1,
                                                                 kLbfgsMetricsColumns);

  LbfgsResult result;
  // A metrics file that cannot be written (a full disk) stops the fit after that iteration; its model is saved.
  std::string metrics_failure;
  if (!stopped) {
    result = fit(backend, rows, best_c, x, o, [&](const LbfgsIteration& it) {
      std::string line = "Iteration: " + std::to_string(it.iteration) + ". Objective: " + format("%.10g", it.objective) +
                         ". Gradient: " + format("%.3e", it.grad_max) + ". Step: " + format("%.4g", it.step) +
                         ". Time: " + format("%.2f", it.seconds) + " s";
      nlohmann::ordered_json rec = {{"iteration", it.iteration}, {"objective", it.objective}, {"gradient", it.grad_max},
                                    {"step", it.step},           {"seconds", it.seconds},     {"evaluations", it.evaluations}};
      std::string csv = std::to_string(it.iteration) + "," + format("%.17g", it.objective) + "," +
                        format("%.6e", it.grad_max) + "," + format("%.6g", it.step) + "," + format("%.4f", it.seconds) +
                        "," + std::to_string(it.evaluations) + ",";
      if (o.eval_every > 0 && it.iteration % o.eval_every == 0) {
        const std::vector<double> xi(it.x, it.x + x.size());
        const double acc = accuracy_percent(model_of(xi, in.start), data.test_images, data.test_labels);
        line += ". Test accuracy: " + format("%.2f", acc);
        rec["test_accuracy"] = acc;
        csv += format("%.4f", acc);
      }
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
      return stop_check(it);
    });
    x = result.x;
    outcome.iterations = result.iterations;
  }
  const Model final_model = model_of(x, in.start);
  if (!metrics_failure.empty()) {
    std::string what = metrics_failure + "; the fit stopped after L-BFGS iteration " + std::to_string(result.iterations);
    if (o.save.empty()) throw ResourceError(what + " (no --save was given, so no model is kept)");
    in.settings["lbfgs_result"] = {{"stopped", true}, {"iterations", result.iterations}};
    save_lbfgs_model(o, in, final_model, in.settings);
    throw ResourceError(what + "; model saved to " + o.save + " (the weights of that iteration)");
  }
  if (stopped) {
    outcome.stopped = true;
    in.settings["lbfgs_result"] = {{"stopped", true}, {"iterations", result.iterations}};
    if (!o.save.empty()) save_lbfgs_model(o, in, final_model, in.settings);
    return outcome;
  }
  const EvaluationReport report = evaluate_model(final_model, data.test_images, data.test_labels);
  std::printf("Solver: lbfgs. Iterations: %d. Objective: %.10g. Gradient: %.3e. Converged: %s (%s). Accuracy: %.2f.\n",
              result.iterations, result.objective, result.grad_max, result.converged() ? "yes" : "no",
              result.reason.c_str(), report.totals.accuracy_percent());
  in.settings["lbfgs_result"] = {{"iterations", result.iterations}, {"objective", result.objective},
                                 {"gradient", result.grad_max},     {"converged", result.converged()},
                                 {"reason", result.reason},         {"evaluations", result.evaluations},
                                 {"seconds", result.seconds},       {"test_accuracy", report.totals.accuracy_percent()}};
  if (cs.size() == 1 && split.has_val()) {
    // One C with --val-split: the held-out rows were not fitted, and their score is the point of holding them out.
    const EvaluationReport val = evaluate_model(final_model, split.val_images, split.val_labels);
    std::printf("Validation: loss %.4f, accuracy %.2f on the %u held-out rows (not fitted)\n", val.totals.mean_loss(),
                val.totals.accuracy_percent(), split.val_images.count);
    in.settings["lbfgs_result"]["val_loss"] = val.totals.mean_loss();
    in.settings["lbfgs_result"]["val_accuracy"] = val.totals.accuracy_percent();
    in.settings["lbfgs_result"]["val_rows"] = split.val_images.count;
  }
  if (!o.save.empty()) {
    save_lbfgs_model(o, in, final_model, in.settings);
    std::printf("Saved model to %s (L-BFGS, %d iterations)\n", o.save.c_str(), result.iterations);
  }
  std::printf("\nTest set confusion matrix after L-BFGS iteration %d (rows: true class, columns: predicted):\n",
              result.iterations);
  std::fputs(format_confusion_matrix(report).c_str(), stdout);
  return outcome;
}

}  // namespace logreg::cli
