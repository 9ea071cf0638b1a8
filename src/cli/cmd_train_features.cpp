// `train --data FILE` on a feature file (cmd_train_features.hpp): checks, the weights and intercept of the fit
// (fit_weights.hpp), the rows of the run handed to run_full_batch (FeatureFullBatch, feature_full_batch.hpp: the
// fit, the C path or --cv, the evaluations), and its lines (the same as the IDX L-BFGS / Newton-CG run's), the
// final report and --save. Not here: the run loop (src/train/lbfgs_run.cpp).
#include "cmd_train_features.hpp"

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <utility>
#include <optional>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "cmd_train_lbfgs.hpp"
#include "commands.hpp"
#include "logreg/backend_factory.hpp"
#include "logreg/checked_files.hpp"
#include "logreg/errors.hpp"
#include "logreg/evaluation.hpp"
#include "logreg/feature_full_batch.hpp"
#include "logreg/feature_scaler.hpp"
#include "logreg/fit_weights.hpp"
#include "logreg/lbfgs_run.hpp"
#include "logreg/metrics_log.hpp"
#include "logreg/maths/objective_math.hpp"
#include "logreg/maths/row_parts.hpp"
#include "logreg/model_file.hpp"
#include "logreg/ranks.hpp"
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
  if (o.device == Device::kCuda && o.residency == Residency::kStream) {
    throw UsageError("--residency stream" + why + "--device cuda keeps a feature file's rows on the device (only IDX "
                     "sets are streamed)");
  }
  if (is_full_batch(o.solver) && o.is_given("--metrics")) {
    throw UsageError("--metrics" + why + "records SGD epochs (--solver sgd); the full-batch solvers print their iterations");
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

// Under MPI ranks, the plain full-batch fit on the CPU (no held-out rows, folds, --limit-train or scaler, whose
// rows are picked or scaled over the whole file) has each rank keep only the training rows of its parts of the
// objective (ranks::rows_of); empty otherwise, and every rank loads the whole file.
FeatureRowWindow rank_rows_window(const RunSettings& o) {
  if (ranks::size() == 1 || !is_full_batch(o.solver) || o.device == Device::kCuda || o.val_split > 0.0 || o.cv > 0 ||
      o.limit_train > 0 || o.standardize || c_values_of(o).size() > 1) {
    return {};
  }
  return [](std::size_t n) {  // the parts are of at most 2^31 - 1 rows (the objective refuses more)
    return n > static_cast<std::size_t>(INT32_MAX) ? std::pair<std::size_t, std::size_t>{0, n}
                                                    : ranks::rows_of(n, full_batch_parts(n));
  };
}

// The ranks compare a fingerprint of the training data (the shape, every label and sample weight, and of the
// features: 64 sample rows spread over them when every rank holds them all, else the file's size and the .npz
// member's CRC-32, which covers every row); DataError naming the first rank that differs.
void check_same_rows_on_ranks(const FeatureData& d, const std::vector<double>& sample_weights) {
  ranks::Fingerprint f;
  const FeatureMatrix& x = d.train_x;
  f.mix(x.rows);
  f.mix(x.cols);
  f.mix(static_cast<std::uint64_t>(x.dtype));
  for (const std::uint32_t y : d.train_y) f.mix(y);
  f.mix(reinterpret_cast<const std::uint8_t*>(sample_weights.data()), sample_weights.size() * sizeof(double));
  if (x.holds_all_rows()) {
    std::vector<double> row(x.cols);
    constexpr std::size_t kSampleRows = 64;
    for (std::size_t k = 0; k < kSampleRows && x.rows > 0; ++k) {
      x.row_to_double((x.rows - 1) * k / (kSampleRows - 1), row.data());
      f.mix(reinterpret_cast<const std::uint8_t*>(row.data()), row.size() * sizeof(double));
    }
  } else {
    std::error_code ec;
    f.mix(static_cast<std::uint64_t>(std::filesystem::file_size(d.train_path, ec)));
    f.mix(x.source_crc32);
  }
  ranks::check_same(f.value, "training rows (their features and labels)");
}

}  // namespace

void print_feature_data_lines(const RunSettings& o, const FeatureRunData& in) {
  const FeatureData& d = in.d;
  const auto file_rows = in.data_record["train_rows"].get<std::size_t>();
  std::string rows = std::to_string(in.split.train_rows.size()) + " training rows";
  if (d.train_x.rows < file_rows) rows += " (--limit-train: the first " + std::to_string(d.train_x.rows) + " of " + std::to_string(file_rows) + ")";
  if (!in.split.val_rows.empty()) rows += ", " + std::to_string(in.split.val_rows.size()) + " validation rows";
  std::printf("Data: %s (%s), %s, %zu test rows, %zu classes (labels %s), %zu features (%s)\n", d.train_path.c_str(),
              d.format.c_str(), rows.c_str(), d.has_test ? d.test_x.rows : 0, d.classes.size(),
              class_labels_text(d.classes).c_str(), d.train_x.cols, in.data_record["dtype"].get<std::string>().c_str());
  if (o.standardize) {
    std::printf("  standardised: each feature %s by its standard deviation over the training rows (StandardScaler%s), "
                "kept in the model\n",
                d.train_x.sparse ? "divided" : "centred and divided", d.train_x.sparse ? ", with_mean=False" : "");
  }
  if (!d.has_test) std::printf("  no test split: accuracy is reported on the training rows (give --test-data FILE)\n");
}

FeatureTrainOutcome run_train_features(RunSettings o, const std::function<bool()>& stop_requested) {
  refuse_unsupported_feature_options(o);
  const std::string path = *o.data;
  // 1. Outputs before any work; no output may be an input.
  if (!o.save.empty()) check_output_target("--save", o.save);
  const std::string metrics_settings = o.metrics.empty() ? std::string() : metrics_settings_path(o.metrics);
  if (!o.metrics.empty()) {
    metrics_format_of(o.metrics);  // UsageError for another extension
    check_output_target("--metrics", o.metrics);
    if (!metrics_settings.empty()) check_output_target("--metrics (its settings file)", metrics_settings);
  }
  if (!o.init.empty()) require_regular_input(o.init, "--init");
  // --resume: the saved run's settings, unless given; then the checks again on what was restored.
  FeatureRunData in;
  if (!o.resume.empty()) {
    ResumedRun resumed = resume_run(o);
    in.start = std::move(resumed.file);
    in.early_stop = resumed.early_stop;
  }
  check_distinct_files({{"--data file", path, false}, {"--test-data", o.test_data, false}, {"--resume", o.resume, false},
                        {"--init", o.init, false}, {"--save", o.save, true}, {"--metrics", o.metrics, true}},
                       {{"--save", "--resume"}});  // the model is read whole, then replaced atomically
  std::optional<OutputLock> save_lock;
  if (!o.save.empty()) save_lock.emplace("--save", o.save);

  // 2. The data (its first --limit-train rows, standardised with their scaler when asked), the rows held out and the
  // weights of the fit.
  in.d = load_cli_feature_data(path, o.test_data, rank_rows_window(o));
  // Without a test split the accuracies are of the training rows, which each rank then needs whole.
  if (!in.d.has_test && !in.d.train_x.holds_all_rows()) in.d = load_cli_feature_data(path, o.test_data);
  FeatureData& d = in.d;
  in.data_record = feature_data_record(d);
  in.uint8_input = !d.train_x.sparse && d.train_x.dtype == FeatureDtype::kUint8;
  if (!o.sample_weight.empty() && !d.train_w.empty()) {
    throw UsageError("--sample-weight " + o.sample_weight + ": " + path + " holds w_train too; either could be meant");
  }
  in.sample_weights =
      o.sample_weight.empty() ? d.train_w : read_sample_weights(o.sample_weight, d.train_x.rows, cli_idx_limits());
  if (ranks::size() > 1) check_same_rows_on_ranks(d, in.sample_weights);
  limit_and_split_rows(o, in);
  in.scaler = o.standardize ? fit_feature_scaler(d.train_x) : FeatureScaler{};
  apply_feature_scaler(in.scaler, d.train_x, "the training rows' scaler");
  if (d.has_test) apply_feature_scaler(in.scaler, d.test_x, "the training rows' scaler");
  in.class_weights = class_weights_of(o.class_weight, d.classes, d.train_y);
  copy_held_out_rows(in);
  check_val_rows(o, in.split.train_rows.size(), in.split.val_rows.size());
  if (!o.init.empty()) in.start = load_model_file(o.init);
  if (in.start) check_start_model(o.resume.empty() ? "--init" : "--resume", o.resume.empty() ? o.init : o.resume, *in.start, o, in);
  if (!is_full_batch(o.solver)) return run_train_features_sgd(o, in, stop_requested);

  // 3. The rows of the run: the objective of the chosen backend over the rows fitted (without the held-out rows),
  // and later over all training rows for the refit after a --val-split path, or over each --cv fold's rows.
  const FeatureScaler& scaler = in.scaler;
  const std::size_t D = d.train_x.cols;
  const int C = static_cast<int>(d.classes.size());
  const bool reference = o.device == Device::kReference;
  const bool cuda = o.device == Device::kCuda;  // --device auto fits feature files on the CPU
  Model shape;
  shape.input_dim = static_cast<int>(D);
  shape.num_classes = C;
  shape.head = o.loss;
  shape.weights.assign(D * static_cast<std::size_t>(C), 0.0f);
  shape.bias.assign(static_cast<std::size_t>(C), 0.0f);
  FeatureFullBatchInputs rows_in;
  rows_in.train_x = &d.train_x;
  rows_in.train_y = &d.train_y;
  rows_in.sample_weights = &in.sample_weights;
  rows_in.class_weights = &in.class_weights;
  rows_in.fit_rows = in.split.train_rows;
  rows_in.val_x = &in.val_x;
  rows_in.val_y = &in.val_y;
  rows_in.test_x = d.has_test ? &d.test_x : &d.train_x;  // no test split: the training rows
  rows_in.test_y = d.has_test ? &d.test_y : &d.train_y;
  rows_in.shape = shape;
  rows_in.intercept = !o.no_intercept;
  rows_in.source = path;
  rows_in.parts = reference ? 1 : 8;
  rows_in.team = reference || cuda ? nullptr : &cpu::shared_thread_team();
  if (cuda) {  // else empty: the parts on the host
    BackendRequest request;
    request.device = Device::kCuda;
    request.cuda.residency = o.residency;
    rows_in.device = make_cuda_feature_parts_maker(request, cli_idx_limits().max_bytes);
  }
  FeatureFullBatch rows(std::move(rows_in));
  const std::string backend =
      (cuda ? rows.device_name()
            : std::string(reference ? "cpu-reference (double, row order)" : "cpu (double, 8 row parts on the thread team)")) +
      (ranks::size() > 1 ? " on each of " + std::to_string(ranks::size()) + " MPI ranks" : "");

  RunFacts facts;
  facts.backend = backend;
  facts.train_rows = in.split.train_rows.size();
  facts.val_rows = static_cast<std::uint32_t>(in.split.val_rows.size());
  facts.data = in.data_record;
  nlohmann::ordered_json settings = settings_record(o, facts);
  if (!o.test_data.empty()) settings["test_data"] = o.test_data;
  if (o.standardize) {
    settings["standardize"] = d.train_x.sparse ? "scale only (CSR rows are not centred)" : "mean and scale";
  }

  const char* eval_name = d.has_test ? "Test" : "Training";
  print_feature_data_lines(o, in);
  std::printf("Model: Linear(%zu -> %d), loss %s; backend %s\n", D, C, loss_head_name(o.loss), backend.c_str());
  const bool newton = o.solver == Solver::kNewtonCg;
  std::printf("Optimizer: %s (full batch), C %s%s, tol %g, max-iter %d, %s accuracy every %d iterations\n",
              newton ? "Newton-CG (trust region)" : "L-BFGS (libLBFGS)", o.C.c_str(), penalty_text(settings).c_str(),
              o.tol, o.max_iter, d.has_test ? "test" : "training", o.eval_every);
  if (in.start) std::printf("Initial weights from %s\n", o.init.c_str());
  std::fflush(stdout);

  // 4. The run (run_full_batch): from zeros (scikit-learn's start) or --init's weights, the C path or --cv first.
  LbfgsRunHooks hooks;
  hooks.stop_requested = stop_requested;
  hooks.on_path_point = print_path_point;
  hooks.on_final_fit = [&](const LbfgsRunResult& r) {
    if (r.has_cv) report_cross_validation(r.cv, r.fit_rows, &settings);
    if (!r.path.empty()) report_validation_path(r.path, r.best_c, r.best_val_accuracy, r.fit_rows, &settings);
  };
  hooks.on_iteration = [&](const LbfgsIteration& it, double accuracy) {
    std::printf("%s\n", iteration_line(it, accuracy, eval_name).c_str());
    std::fflush(stdout);
    return true;
  };
  const LbfgsRunResult run = run_full_batch(rows, start_model(o, in, shape), full_batch_config(o), hooks);

  FeatureTrainOutcome outcome;
  if (run.stopped_in_path && run.has_cv) {  // no fold's fit is a model of the training set: nothing is saved
    outcome.stopped = outcome.stopped_in_cv = true;
    return outcome;
  }
  if (run.stopped_in_path) {
    outcome.stopped = outcome.stopped_in_path = true;
    outcome.done_text = std::to_string(run.fit.iterations) + " " + full_batch_title(o.solver) + " iterations of C " +
                        features_number("%g", run.stopped_at_c);
    return outcome;
  }
  const LbfgsResult& fit = run.fit;
  outcome.stopped = run.stopped;
  outcome.done_text = std::to_string(fit.iterations) + " " + full_batch_title(o.solver) + " iterations";
  outcome.saved_text = "the last iteration's weights";

  ModelFile mf;
  mf.model = run.model;
  mf.rows = 1;
  mf.cols = static_cast<std::uint32_t>(D);
  mf.class_labels = d.classes;
  mf.scaler = scaler;
  mf.pixel_scale = in.uint8_input ? kModelFilePixelScale : 1.0f;
  mf.seed = o.seed;
  if (outcome.stopped) {
    settings["lbfgs_result"] = {{"stopped", true}, {"iterations", fit.iterations}};
    mf.settings_json = json_text(settings);
    if (!o.save.empty()) save_model_file(o.save, mf);
    return outcome;
  }

  // 5. The verdict, the evaluation and the model.
  const EvaluationReport& report = run.test;
  std::printf("Solver: %s. Iterations: %d. Objective: %.10g. Gradient: %.3e. Converged: %s (%s). Accuracy: %.2f.\n",
              solver_name(o.solver), fit.iterations, fit.objective, fit.grad_max, fit.converged() ? "yes" : "no", fit.reason.c_str(),
              report.totals.accuracy_percent());
  settings["lbfgs_result"] = {{"iterations", fit.iterations}, {"objective", fit.objective},
                              {"gradient", fit.grad_max},     {"converged", fit.converged()},
                              {"reason", fit.reason},         {"evaluations", fit.evaluations},
                              {"seconds", fit.seconds},       {d.has_test ? "test_accuracy" : "train_accuracy",
                                                               report.totals.accuracy_percent()}};
  if (newton) {
    settings["lbfgs_result"]["hessian_products"] = fit.hessian_products;
  } else {
    settings["lbfgs_result"]["memory"] = fit.memory;
  }
  if (run.has_val) report_held_out(run.val.totals, in.val_x.rows, &settings);
  mf.settings_json = json_text(settings);
  if (!o.save.empty()) {
    save_model_file(o.save, mf);
    std::printf("Saved model to %s (%s, %d iterations)\n", o.save.c_str(), newton ? "Newton-CG" : "L-BFGS", fit.iterations);
  }
  std::printf("\n%s set confusion matrix after %s iteration %d (rows: true class, columns: predicted; class c is "
              "label %s in that order):\n",
              eval_name, newton ? "Newton-CG" : "L-BFGS", fit.iterations, class_labels_text(d.classes).c_str());
  std::fputs(format_confusion_matrix(report).c_str(), stdout);
  return outcome;
}

}  // namespace logreg::cli
