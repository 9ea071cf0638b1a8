// `logreg_cuda eval`: loads a saved model and the test split of a data set, and prints the test loss,
// accuracy, per-class precision/recall and the confusion matrix (or all of it as JSON with --json).
// Runs on the CPU (evaluation.hpp); the model file format is in model_file.hpp.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "logreg/backend_factory.hpp"
#include "logreg/checked_files.hpp"
#include "logreg/data_source.hpp"
#include "logreg/errors.hpp"
#include "logreg/evaluation.hpp"
#include "logreg/export_safetensors.hpp"
#include "logreg/feature_scaler.hpp"
#include "logreg/model_file.hpp"

namespace logreg::cli {
namespace {

struct EvalOptions {
  std::string model;
  std::optional<std::string> data;
  bool json = false;
};

// --data FILE (an .npz or svmlight file): its test split when it has one, else its rows, labels mapped onto the
// model's classes, standardised with the model's scaler when it has one.
void run_feature_eval(const EvalOptions& o, const ModelFile& mf) {
  const std::string& path = *o.data;
  LabelledFeatures f = load_features_for_model(path, static_cast<std::size_t>(mf.model.input_dim),
                                               default_class_labels(mf), cli_idx_limits(),
                                               recorded_zero_based(mf.settings_json));
  if (f.x.rows == 0) throw DataError(path, "has no rows: nothing to evaluate");
  apply_feature_scaler(mf.scaler, f.x, "the model " + o.model);
  const EvaluationReport report = evaluate_model(*make_inference_engine(), mf.model, f.x, f.y);
  if (!std::isfinite(report.totals.loss_sum)) {
    throw_non_finite_output(o.model, mf.model, path, "loss", report.totals.loss_sum);
  }
  const char* split = f.split == "test" ? "its test split, x_test" : f.split == "train" ? "x_train, as it has no x_test" : "every row";
  if (o.json) {
    nlohmann::ordered_json j;
    j["model"] = o.model;
    j["loss_head"] = loss_head_name(mf.model.head);
    j["data"] = path;
    j["split"] = f.split;
    j["class_labels"] = default_class_labels(mf);
    const nlohmann::ordered_json metrics = nlohmann::ordered_json::parse(evaluation_json(report));
    for (const auto& item : metrics.items()) j[item.key()] = item.value();
    std::printf("%s\n", json_text(j).c_str());
    return;
  }
  std::printf("Model: %s: Linear(%d -> %d), loss %s\n", o.model.c_str(), mf.model.input_dim, mf.model.num_classes,
              loss_head_name(mf.model.head));
  std::printf("Data: %s (%s): %zu rows of %zu features\n", path.c_str(), split, f.x.rows, f.x.cols);
  std::printf("Loss: %.4f. Accuracy: %.2f%% (%lld of %lld)\n\n", report.totals.mean_loss(),
              report.totals.accuracy_percent(), static_cast<long long>(report.totals.correct),
              static_cast<long long>(report.totals.count));
  const std::vector<std::int64_t> labels = default_class_labels(mf);
  std::printf("class c is label %s in that order\n", class_labels_text(labels).c_str());
  std::fputs(format_confusion_matrix(report).c_str(), stdout);
}

void run_eval(const EvalOptions& o) {
  require_regular_input(o.model, "--model");  // a FIFO would hang the reader
  const ModelFile mf = load_any_model_file(o.model);  // .lrm, or a safetensors nn.Linear
  if (is_feature_file(o.data)) {
    run_feature_eval(o, mf);
    return;
  }
  // No --data: the data the model was trained on, when its directory is still there.
  std::optional<std::string> dir = o.data;
  const std::string recorded = recorded_data_dir(mf.settings_json);
  if (!dir && !recorded.empty() && std::filesystem::is_directory(recorded)) {
    dir = recorded;
    std::fprintf(stderr, "logreg_cuda: using the data %s was trained on: %s (no --data given)\n", o.model.c_str(),
                 recorded.c_str());
  }
  std::string note;
  const DataFiles files = locate_data(dir, &note);
  if (!note.empty()) std::fprintf(stderr, "%s\n", note.c_str());
  const Dataset ds = load_dataset(files, cli_idx_limits());
  warn_if_data_differ(o.model, mf.settings_json, files, "evaluated on");
  const ImageSet& images = ds.test_images;
  if (images.rows != mf.rows || images.cols != mf.cols) {
    throw DataError(images.path, "test images are " + shape_text(images.rows, images.cols) + " but the model " +
                                     o.model + " was trained on " + shape_text(mf.rows, mf.cols) + " images");
  }
  const EvaluationReport report = evaluate_model(*make_inference_engine(), mf.model, images, ds.test_labels);
  if (!std::isfinite(report.totals.loss_sum)) {
    throw_non_finite_output(o.model, mf.model, images.path, "test loss", report.totals.loss_sum);
  }

  if (o.json) {
    nlohmann::ordered_json j;
    j["model"] = o.model;
    j["loss_head"] = loss_head_name(mf.model.head);
    j["images"] = images.path;
    j["labels"] = ds.test_labels.path;
    const nlohmann::ordered_json metrics = nlohmann::ordered_json::parse(evaluation_json(report));
    for (const auto& item : metrics.items()) j[item.key()] = item.value();
    std::printf("%s\n", json_text(j).c_str());
    return;
  }
  std::printf("Model: %s: Linear(%d -> %d), loss %s, %u epochs trained, seed %llu\n", o.model.c_str(),
              mf.model.input_dim, mf.model.num_classes, loss_head_name(mf.model.head), mf.epochs_done,
              static_cast<unsigned long long>(mf.seed));
  std::printf("Data: %s test split, %u images of %ux%u (%s)\n", ds.name.c_str(), images.count, images.rows,
              images.cols, images.path.c_str());
  std::printf("Test loss: %.4f. Accuracy: %.2f%% (%lld of %lld)\n\n", report.totals.mean_loss(),
              report.totals.accuracy_percent(), static_cast<long long>(report.totals.correct),
              static_cast<long long>(report.totals.count));
  std::fputs(format_confusion_matrix(report).c_str(), stdout);
}

}  // namespace

void setup_eval_command(CLI::App& app) {
  auto opts = std::make_shared<EvalOptions>();
  CLI::App* sub = app.add_subcommand(
      "eval",
      "Evaluate a saved model on the test split: loss, accuracy, per-class precision/recall, confusion matrix. "
      "Runs on the CPU (float32 weights, double sums; 10k 28x28 images take about 0.1 s)");
  sub->add_option("--model", opts->model, "Saved model file (include/logreg/model_file.hpp), or a safetensors nn.Linear state_dict "
                  "(weight [C, D], bias [C] float32, e.g. saved from PyTorch; export_safetensors.hpp)")
      ->required();
  add_data_option(sub, &opts->data);
  sub->add_flag("--json", opts->json,
                "Print one JSON object instead: model, loss (mean per row), accuracy (fraction), correct, count, "
                "confusion (row = true class), precision, recall");
  sub->callback([opts]() { run_eval(*opts); });
}

}  // namespace logreg::cli
