// `logreg_cuda predict`: the predicted class, with the class probabilities or the logits (--output), of a saved
// model for one row (--index N) or every row (--all) of an IDX image file or a feature file (standardised with the
// model's scaler when it has one), as CSV or JSON Lines, all classes or the top K, to stdout or atomically to
// --out. Runs on the CPU (evaluation.hpp).
#include <algorithm>
#include <cstdint>
#include <cmath>
#include <cstdio>
#include <limits>
#include <memory>
#include <numeric>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "option_values.hpp"
#include "logreg/backend_factory.hpp"
#include "logreg/checked_files.hpp"
#include "logreg/errors.hpp"
#include "logreg/evaluation.hpp"
#include "logreg/feature_scaler.hpp"
#include "logreg/idx.hpp"
#include "logreg/model_file.hpp"
#include "logreg/maths/row_math.hpp"
#include "logreg/whole_file.hpp"

namespace logreg::cli {
namespace {

struct PredictOptions {
  std::string model;
  std::string images;
  std::optional<std::int64_t> index;
  bool all = false;
  std::optional<int> top_k;
  std::string format = "csv";
  std::string output = "proba";  // class, proba or logits: what follows the predicted class on each line
  std::string out;
};

// A probability with 6 significant digits; a logit (a float) with the 9 that give it back exactly.
std::string value_text(const PredictOptions& o, double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, o.output == "logits" ? "%.9g" : "%.6g", v);
  return buf;
}

// The image `index` of `images` as a one-image set.
ImageSet single_image(const ImageSet& images, std::size_t index) {
  ImageSet one;
  one.path = images.path;
  one.count = 1;
  one.rows = images.rows;
  one.cols = images.cols;
  one.pixels.assign(images.image(index), images.image(index) + images.dim());
  return one;
}

// One output line (without the newline) for image `index` with logits z (C); classes are printed as their
// labels (0..C-1 for a model without class labels).
std::string prediction_line(const PredictOptions& o, LossHead head, std::size_t index, const float* z, int C,
                            const std::vector<std::int64_t>& labels) {
  const std::int64_t predicted = labels[static_cast<std::size_t>(row_argmax(z, C))];
  // What follows the prediction: the probabilities, or the logits, or nothing (--output class).
  const bool logits = o.output == "logits";
  const std::vector<double> p = logits ? std::vector<double>(z, z + C) : class_probabilities(head, z, C);
  const char* value_key = logits ? "logit" : "p";
  // Classes by descending logit, ties to the lower class: the probability order of every head.
  std::vector<int> ranked(static_cast<std::size_t>(C));
  std::iota(ranked.begin(), ranked.end(), 0);
  std::stable_sort(ranked.begin(), ranked.end(), [z](int a, int b) { return z[a] > z[b]; });
  const std::size_t k = o.top_k ? static_cast<std::size_t>(*o.top_k) : static_cast<std::size_t>(C);

  if (o.format == "jsonl") {
    nlohmann::ordered_json j;
    j["index"] = index;
    j["predicted"] = predicted;
    if (o.output == "class") return json_text(j);
    if (o.top_k) {
      nlohmann::ordered_json top = nlohmann::ordered_json::array();
      for (std::size_t r = 0; r < k; ++r) {
        const int c = ranked[r];
        top.push_back({{"class", labels[static_cast<std::size_t>(c)]}, {value_key, p[static_cast<std::size_t>(c)]}});
      }
      j["top_k"] = std::move(top);
    } else {
      j[logits ? "logits" : "probabilities"] = p;
    }
    return json_text(j);
  }
  std::string line = std::to_string(index) + "," + std::to_string(predicted);
  if (o.output == "class") return line;
  if (o.top_k) {
    for (std::size_t r = 0; r < k; ++r) {
      const int c = ranked[r];
      const std::size_t cc = static_cast<std::size_t>(c);
      line += "," + std::to_string(labels[cc]) + "," + value_text(o, p[cc]);
    }
  } else {
    for (double pc : p) line += "," + value_text(o, pc);
  }
  return line;
}

std::string csv_header(const PredictOptions& o, const std::vector<std::int64_t>& labels) {
  std::string h = "index,predicted";
  if (o.output == "class") return h;
  const bool logits = o.output == "logits";
  if (o.top_k) {
    for (int r = 1; r <= *o.top_k; ++r) {
      h += ",top" + std::to_string(r) + "_class,top" + std::to_string(r) + (logits ? "_logit" : "_prob");
    }
  } else {
    for (const std::int64_t label : labels) h += (logits ? ",z" : ",p") + std::to_string(label);
  }
  return h;
}

// --images FILE that is not IDX: an .npz (its x_test, else x_train) or svmlight file of the model's width,
// standardised with the model's scaler when it has one. Labels in the file are checked against the model's
// classes but not used. The logits are the double ones of eval, rounded to float for the probabilities.
std::vector<float> feature_file_logits(const PredictOptions& o, const ModelFile& mf, std::size_t* rows) {
  LabelledFeatures f = load_features_for_model(o.images, static_cast<std::size_t>(mf.model.input_dim),
                                                     default_class_labels(mf), cli_idx_limits(),
                                                     recorded_zero_based(mf.settings_json));
  if (f.x.rows == 0) throw DataError(o.images, "has no rows: nothing to predict");
  apply_feature_scaler(mf.scaler, f.x, "the model " + o.model);
  std::size_t first = 0;
  if (o.index) {
    if (*o.index < 0 || static_cast<std::uint64_t>(*o.index) >= f.x.rows) {
      throw UsageError("--index " + std::to_string(*o.index) + " is out of range: " + o.images + " has " +
                       std::to_string(f.x.rows) + " rows (valid: 0 to " + std::to_string(f.x.rows - 1) + ")");
    }
    first = static_cast<std::size_t>(*o.index);
  }
  *rows = o.all ? f.x.rows : 1;
  const std::size_t C = static_cast<std::size_t>(mf.model.num_classes);
  const std::vector<double> z = make_inference_engine()->feature_logits(mf.model, f.x);
  return std::vector<float>(z.begin() + static_cast<std::ptrdiff_t>(first * C),
                            z.begin() + static_cast<std::ptrdiff_t>((first + *rows) * C));
}


// Rows [first, first + rows) of the input's logits (rows, C) as lines (csv or text), to --out or stdout; a
// non-finite logit is refused, naming the `what` ("row", "image") it belongs to.
void write_predictions(const PredictOptions& o, const ModelFile& mf, const std::vector<std::int64_t>& labels,
                       const std::vector<float>& logits, std::size_t rows, std::size_t first, const char* what) {
  const int C = mf.model.num_classes;
  for (std::size_t i = 0; i < logits.size(); ++i) {
    if (!std::isfinite(logits[i])) {
      throw_non_finite_output(o.model, mf.model, o.images,
                              std::string("logits of ") + what + " " +
                                  std::to_string(first + i / static_cast<std::size_t>(C)),
                              logits[i]);
    }
  }
  std::string text;
  if (o.format == "csv") text += csv_header(o, labels) + "\n";
  for (std::size_t r = 0; r < rows; ++r) {
    text += prediction_line(o, mf.model.head, first + r, logits.data() + r * static_cast<std::size_t>(C), C, labels) + "\n";
  }
  if (o.out.empty()) {
    std::fputs(text.c_str(), stdout);
  } else {
    write_whole_file_atomically(o.out, text);
  }
}

void run_predict(const PredictOptions& o) {
  if (!o.index && !o.all) throw UsageError("predict: give --index N (one image) or --all (every image)");
  if (!o.out.empty()) check_output_target("--out", o.out);
  require_regular_input(o.model, "--model");
  require_regular_input(o.images, "--images");
  check_distinct_files({{"--model", o.model, false}, {"--images", o.images, false}, {"--out", o.out, true}});
  const ModelFile mf = load_model_file(o.model);
  const int C = mf.model.num_classes;
  if (o.top_k && o.output == "class") {
    throw UsageError("--top-k ranks probabilities or logits: give --output proba or logits with it, not --output "
                     "class");
  }
  if (o.top_k && (*o.top_k < 1 || *o.top_k > C)) {
    throw UsageError("--top-k " + std::to_string(*o.top_k) + " is out of range: the model has " + std::to_string(C) +
                     " classes (valid: 1 to " + std::to_string(C) + ")");
  }
  const std::vector<std::int64_t> labels = default_class_labels(mf);
  if (is_non_idx_file(o.images)) {
    std::size_t rows = 0;
    const std::vector<float> logits = feature_file_logits(o, mf, &rows);
    write_predictions(o, mf, labels, logits, rows, o.index ? static_cast<std::size_t>(*o.index) : 0, "row");
    return;
  }
  const ImageSet images = load_idx_images(o.images, cli_idx_limits());
  if (images.rows != mf.rows || images.cols != mf.cols) {
    throw DataError(images.path, "images are " + shape_text(images.rows, images.cols) + " but the model " + o.model +
                                     " was trained on " + shape_text(mf.rows, mf.cols) + " images");
  }
  if (images.count == 0) throw DataError(images.path, "has no images (count 0): nothing to predict");
  warn_if_images_differ(o.model, mf.settings_json, o.images);
  std::size_t first = 0;
  if (o.index) {
    if (*o.index < 0 || static_cast<std::uint64_t>(*o.index) >= images.count) {
      throw UsageError("--index " + std::to_string(*o.index) + " is out of range: " + o.images + " has " +
                       std::to_string(images.count) + " images (valid: 0 to " +
                       std::to_string(static_cast<std::int64_t>(images.count) - 1) + ")");
    }
    first = static_cast<std::size_t>(*o.index);
  }
  const std::unique_ptr<Engine> engine = make_inference_engine();
  const std::vector<float> logits =
      o.all ? engine->logits(mf.model, images) : engine->logits(mf.model, single_image(images, first));
  write_predictions(o, mf, labels, logits, o.all ? images.count : 1, first, "image");
}

}  // namespace

void setup_predict_command(CLI::App& app) {
  auto opts = std::make_shared<PredictOptions>();
  CLI::App* sub = app.add_subcommand(
      "predict",
      "The predicted class, with the class probabilities or the logits (--output), of a saved model for one row or "
      "every row of an IDX image file or a feature file, as CSV or JSON Lines. "
      "Runs on the CPU");
  sub->add_option("--model", opts->model, "Saved model file (format: include/logreg/model_file.hpp)")->required();
  sub->add_option("--images", opts->images,
                  "IDX image file (raw or .gz) of the model's image shape, or a feature file of the model's width: an "
                  ".npz (its x_test, else x_train) or an svmlight file")
      ->required();
  add_max_bytes_option(sub);
  CLI::Option* index = sub->add_option("--index", opts->index, "Predict image N only (0-based); one of --index and --all is required")
      ->transform(integer_in(std::numeric_limits<std::int64_t>::min(), std::numeric_limits<std::int64_t>::max()));
  CLI::Option* all = sub->add_flag("--all", opts->all, "Predict every image of the file, in file order");
  index->excludes(all);
  all->excludes(index);
  sub->add_option("--top-k", opts->top_k,
                  "Print only the K most probable classes, most probable first (1 to C); default: every class")
      ->transform(integer_in(std::numeric_limits<int>::min(), std::numeric_limits<int>::max()));
  sub->add_option("--format", opts->format,
                  "csv: header index,predicted,p0..p{C-1} (with --top-k: top1_class,top1_prob,...); jsonl: one "
                  "object per image {index, predicted, probabilities | top_k: [{class, p}]}")
      ->check(CLI::IsMember({"csv", "jsonl"}))
      ->capture_default_str();
  sub->add_option("--output", opts->output,
                  "What follows each row's predicted class: proba, the class probabilities (csv columns p<label>, "
                  "jsonl probabilities); logits, the model's logits z = x W^T + b (csv columns z<label>, 9 "
                  "significant digits; jsonl logits); class, nothing")
      ->check(CLI::IsMember({"class", "proba", "logits"}))
      ->capture_default_str();
  sub->add_option("--out", opts->out, "Write to this file (atomically: complete or not at all) instead of stdout");
  sub->footer(
      "Probabilities: softmax(z) for softmax, softmax(sigmoid(z)) for sigmoid-softmax, an independent sigmoid(z_c) "
      "per class for ovr (these do not sum to 1). 'predicted' is the largest logit, the class eval counts.");
  sub->callback([opts]() { run_predict(*opts); });
}

}  // namespace logreg::cli
