// The rows of a feature run and the model it starts from (cmd_train_features.hpp): --limit-train and --val-split
// cut by the IDX path's rule (split_training_rows, training.hpp), the held-out rows copied out, and --init or
// --resume's model file checked against the run's data. Not here: the fits (cmd_train_features.cpp, _sgd.cpp).
#include <cstdio>
#include <numeric>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cmd_train_features.hpp"
#include "commands.hpp"
#include "logreg/errors.hpp"

namespace logreg::cli {
namespace {

std::string value_text(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

// Whether a model file's run fitted an intercept: its record's "no_intercept" (feature runs record it).
bool fitted_intercept(const ModelFile& mf) {
  const nlohmann::json s = nlohmann::json::parse(mf.settings_json, nullptr, false);
  return !(s.is_object() && s.contains("no_intercept") && s["no_intercept"].is_boolean() && s["no_intercept"].get<bool>());
}

}  // namespace

void limit_and_split_rows(const RunSettings& o, FeatureRunData& in) {
  FeatureData& d = in.d;
  const auto count = static_cast<std::uint32_t>(d.train_x.rows);
  const auto limit = static_cast<std::uint32_t>(o.limit_train);  // 2^32 wraps to 0: all rows, as for IDX
  in.split = split_training_rows(count, limit, o.val_split, o.seed);
  FittedClasses classes;
  classes.labels_path = d.train_path;
  classes.num_classes = static_cast<int>(d.classes.size());
  classes.class_of = [&d](std::uint32_t r) { return static_cast<std::size_t>(d.train_y[r]); };
  classes.class_name = [&d](std::size_t c) { return std::to_string(d.classes[c]); };  // the data's labels
  check_fitted_classes(in.split, count, limit, o.val_split, classes);
  const std::size_t n = in.split.train_rows.size() + in.split.val_rows.size();
  if (n == count) return;
  std::vector<std::uint32_t> first(n);
  std::iota(first.begin(), first.end(), 0u);
  d.train_x = d.train_x.copy_rows(first);
  d.train_y.resize(n);
  if (!d.train_w.empty()) d.train_w.resize(n);
  if (!in.sample_weights.empty()) in.sample_weights.resize(n);
}

void copy_held_out_rows(FeatureRunData& in) {
  in.val_x = in.d.train_x.copy_rows(in.split.val_rows);
  in.val_x.path = in.d.train_path + " (validation split)";
  in.val_y.clear();
  for (const std::uint32_t r : in.split.val_rows) in.val_y.push_back(in.d.train_y[r]);
}

void check_start_model(const std::string& flag, const std::string& path, const ModelFile& mf, const RunSettings& o,
                       const FeatureRunData& in) {
  const FeatureData& d = in.d;
  if (mf.class_labels.empty()) {
    throw DataError(path, flag + ": class labels: the model holds none (a model of IDX images); a feature file's run "
                                 "starts from a model saved by train --data FILE");
  }
  if (mf.class_labels != d.classes) {
    throw DataError(path, flag + ": class labels: the model's are " + class_labels_text(mf.class_labels) + ", " +
                              d.train_path + " has " + class_labels_text(d.classes));
  }
  if (mf.rows != 1 || mf.cols != d.train_x.cols) {
    throw DataError(path, flag + ": features: the model takes " + std::to_string(std::size_t{mf.rows} * mf.cols) +
                              ", " + d.train_path + " has " + std::to_string(d.train_x.cols));
  }
  if (fitted_intercept(mf) == o.no_intercept) {
    throw DataError(path, flag + ": intercept: the model was fitted " +
                              (o.no_intercept ? "with an intercept, this run without one (--no-intercept)"
                                              : "without an intercept (--no-intercept), this run with one"));
  }
  const float scale = in.uint8_input ? kModelFilePixelScale : 1.0f;
  if (mf.pixel_scale != scale) {
    auto text = [](float s) { return s == 1.0f ? std::string("features as stored") : std::string("uint8 features / 255"); };
    throw DataError(path, flag + ": input scale: the model reads " + text(mf.pixel_scale) + ", this run " + text(scale));
  }
  if (mf.scaler.empty() != in.scaler.empty()) {
    throw DataError(path, flag + ": standardisation: the model was trained " + (mf.scaler.empty() ? "without" : "with") +
                              " --standardize, this run " + (in.scaler.empty() ? "without" : "with") + " it");
  }
  for (std::size_t j = 0; j < in.scaler.scale.size(); ++j) {
    if (mf.scaler.mean[j] != in.scaler.mean[j] || mf.scaler.scale[j] != in.scaler.scale[j]) {
      throw DataError(path, flag + ": standardisation: the model's scaler is not the one this run fits on its " +
                                std::to_string(d.train_x.rows) + " training rows (feature " + std::to_string(j) +
                                ": mean " + value_text(mf.scaler.mean[j]) + ", scale " + value_text(mf.scaler.scale[j]) +
                                " against " + value_text(in.scaler.mean[j]) + ", " + value_text(in.scaler.scale[j]) +
                                "); its weights are for other inputs");
    }
  }
}

Model start_model(const RunSettings& o, const FeatureRunData& in, Model fallback) {
  if (!in.start) return fallback;
  Model m = in.start->model;
  m.head = o.loss;
  return m;
}

}  // namespace logreg::cli
