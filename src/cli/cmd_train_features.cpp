// `train --data FILE` on a feature file (cmd_train_features.hpp): checks, the fit's lines (the same as the IDX
// L-BFGS run's), the final evaluation and --save.
#include "cmd_train_features.hpp"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "cmd_train_lbfgs.hpp"
#include "commands.hpp"
#include "logreg/backend_factory.hpp"
#include "logreg/checked_files.hpp"
#include "logreg/errors.hpp"
#include "logreg/evaluation.hpp"
#include "logreg/feature_model.hpp"
#include "logreg/lbfgs_run.hpp"
#include "logreg/maths/objective_math.hpp"
#include "logreg/model_file.hpp"
#include "logreg/thread_team.hpp"

namespace logreg::cli {
namespace {

std::string features_number(const char* fmt, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, fmt, v);
  return buf;
}

void refuse_unsupported_feature_options(const RunSettings& o) {
  const std::string why = " with --data FILE (an .npz or svmlight file): ";
  if (o.solver != Solver::kLbfgs) {
    throw UsageError("--solver " + std::string(solver_name(o.solver)) + why +
                     "feature files train with --solver lbfgs (full batch) in this version");
  }
  if (o.device == Device::kCuda) {
    throw UsageError("--device cuda" + why + "feature files train on --device cpu or reference in this version");
  }
  for (const char* flag : {"--resume", "--init", "--val-split", "--limit-train", "--metrics"}) {
    if (o.is_given(flag)) throw UsageError(std::string(flag) + why + "not supported yet");
  }
  if (parse_c_values(o.C).size() > 1) {
    throw UsageError("--C " + o.C + why + "the regularisation path needs validation rows (--val-split), which feature "
                     "files do not take yet; give one C");
  }
}

nlohmann::ordered_json feature_data_record(const FeatureData& d) {
  nlohmann::ordered_json r;
  r["format"] = d.format;
  r["dtype"] = d.train_x.sparse ? "csr float64" : feature_dtype_name(d.train_x.dtype);
  r["features"] = d.train_x.cols;
  if (d.format == "svmlight") r["zero_based"] = d.zero_based;  // eval and predict read other files with this base
  std::vector<std::string> files = {d.train_path};
  if (!d.test_path.empty() && d.test_path != d.train_path) files.push_back(d.test_path);
  for (const std::string& p : files) {
    std::error_code ec;
    const auto bytes = std::filesystem::file_size(p, ec);
    r["files"].push_back({{"path", p}, {"bytes", ec ? 0 : bytes}});
  }
  r["train_rows"] = d.train_x.rows;
  r["test_rows"] = d.has_test ? d.test_x.rows : 0;
  r["classes"] = d.classes;
  return r;
}

}  // namespace

FeatureTrainOutcome run_train_features(const RunSettings& o, const std::function<bool()>& stop_requested) {
  refuse_unsupported_feature_options(o);
  const std::string& path = *o.data;
  // 1. Outputs before any work; no output may be an input.
  if (!o.save.empty()) check_output_target("--save", o.save);
  check_distinct_files({{"--data file", path, false}, {"--test-data", o.test_data, false}, {"--save", o.save, true}});
  std::optional<OutputLock> save_lock;
  if (!o.save.empty()) save_lock.emplace("--save", o.save);

  // 2. The data and the objective of the chosen CPU backend.
  const FeatureData d = load_cli_feature_data(path, o.test_data);
  const std::size_t D = d.train_x.cols;
  const int C = static_cast<int>(d.classes.size());
  const bool reference = o.device == Device::kReference;
  const std::string backend = reference ? "cpu-reference (double, row order)" : "cpu (double, 8 row parts on the thread team)";
  FeatureObjective objective(d.train_x, d.train_y, o.loss, C, reference ? 1 : 8, reference ? nullptr : &cpu::shared_thread_team());
  const double c_value = parse_c_values(o.C).front();
  const double l2 = l2_strength(c_value, static_cast<double>(d.train_x.rows));

  RunFacts facts;
  facts.backend = backend;
  facts.train_rows = d.train_x.rows;
  facts.data = feature_data_record(d);
  nlohmann::ordered_json settings = settings_record(o, facts);
  if (!o.test_data.empty()) settings["test_data"] = o.test_data;

  const FeatureMatrix& eval_x = d.has_test ? d.test_x : d.train_x;
  const std::vector<std::uint32_t>& eval_y = d.has_test ? d.test_y : d.train_y;
  const char* eval_name = d.has_test ? "Test" : "Training";
  std::printf("Data: %s (%s), %zu training rows, %zu test rows, %d classes (labels %s), %zu features (%s)\n", path.c_str(),
              d.format.c_str(), d.train_x.rows, d.has_test ? d.test_x.rows : 0, C, class_labels_text(d.classes).c_str(), D,
              settings["data"]["dtype"].get<std::string>().c_str());
  if (!d.has_test) std::printf("  no test split: accuracy is reported on the training rows (give --test-data FILE)\n");
  std::printf("Model: Linear(%zu -> %d), loss %s; backend %s\n", D, C, loss_head_name(o.loss), backend.c_str());
  std::printf("Optimizer: L-BFGS (libLBFGS, full batch), C %s, tol %g, max-iter %d, %s accuracy every %d iterations\n",
              o.C.c_str(), o.tol, o.max_iter, d.has_test ? "test" : "training", o.eval_every);
  std::fflush(stdout);

  // 3. The fit, from zeros (scikit-learn's start).
  Model shape;
  shape.input_dim = static_cast<int>(D);
  shape.num_classes = C;
  shape.head = o.loss;
  shape.weights.assign(D * static_cast<std::size_t>(C), 0.0f);
  shape.bias.assign(static_cast<std::size_t>(C), 0.0f);
  LbfgsConfig config;
  config.tol = o.tol;
  config.max_iter = o.max_iter;
  FeatureTrainOutcome outcome;
  const std::unique_ptr<Engine> inference = make_inference_engine();  // the accuracies and the report
  const LbfgsResult fit = minimize_lbfgs(
      [&](const double* x, double* g) { return objective(x, l2, g); }, params_of(shape), config,
      [&](const LbfgsIteration& it) {
        std::string line = "Iteration: " + std::to_string(it.iteration) + ". Objective: " +
                           features_number("%.10g", it.objective) + ". Gradient: " + features_number("%.3e", it.grad_max) +
                           ". Step: " + features_number("%.4g", it.step) + ". Time: " + features_number("%.2f", it.seconds) + " s";
        if (o.eval_every > 0 && it.iteration % o.eval_every == 0) {
          const std::vector<double> xi(it.x, it.x + shape.weights.size() + shape.bias.size());
          const EvaluationReport r = evaluate_model(*inference, model_of(xi, shape), eval_x, eval_y);
          line += std::string(". ") + eval_name + " accuracy: " + features_number("%.2f", r.totals.accuracy_percent());
        }
        std::printf("%s\n", line.c_str());
        std::fflush(stdout);
        if (stop_requested && stop_requested()) outcome.stopped = true;
        return !outcome.stopped;
      });
  outcome.iterations = fit.iterations;
  const Model model = model_of(fit.x, shape);

  ModelFile mf;
  mf.model = model;
  mf.rows = 1;
  mf.cols = static_cast<std::uint32_t>(D);
  mf.class_labels = d.classes;
  mf.pixel_scale = !d.train_x.sparse && d.train_x.dtype == FeatureDtype::kUint8 ? kModelFilePixelScale : 1.0f;
  mf.seed = o.seed;
  if (outcome.stopped) {
    settings["lbfgs_result"] = {{"stopped", true}, {"iterations", fit.iterations}};
    mf.settings_json = json_text(settings);
    if (!o.save.empty()) save_model_file(o.save, mf);
    return outcome;
  }

  // 4. The verdict, the evaluation and the model.
  const EvaluationReport report = evaluate_model(*inference, model, eval_x, eval_y);
  std::printf("Solver: lbfgs. Iterations: %d. Objective: %.10g. Gradient: %.3e. Converged: %s (%s). Accuracy: %.2f.\n",
              fit.iterations, fit.objective, fit.grad_max, fit.converged() ? "yes" : "no", fit.reason.c_str(),
              report.totals.accuracy_percent());
  settings["lbfgs_result"] = {{"iterations", fit.iterations}, {"objective", fit.objective},
                              {"gradient", fit.grad_max},     {"converged", fit.converged()},
                              {"reason", fit.reason},         {"evaluations", fit.evaluations},
                              {"seconds", fit.seconds},       {d.has_test ? "test_accuracy" : "train_accuracy",
                                                               report.totals.accuracy_percent()}};
  mf.settings_json = json_text(settings);
  if (!o.save.empty()) {
    save_model_file(o.save, mf);
    std::printf("Saved model to %s (L-BFGS, %d iterations)\n", o.save.c_str(), fit.iterations);
  }
  std::printf("\n%s set confusion matrix after L-BFGS iteration %d (rows: true class, columns: predicted; class c is "
              "label %s in that order):\n",
              eval_name, fit.iterations, class_labels_text(d.classes).c_str());
  std::fputs(format_confusion_matrix(report).c_str(), stdout);
  return outcome;
}

}  // namespace logreg::cli
