// `train --data FILE` with an .npz or svmlight file: the full-batch L-BFGS fit of the feature matrix on a CPU
// backend (reference: one pass in row order; cpu: 8 fixed row parts on the thread team), its output lines, the
// evaluation and --save with the class labels; or SGD epochs (run_train_features_sgd). Called by cmd_train.cpp after the option checks; the IDX path
// (backends, run_lbfgs) is not involved. Not here: the objective (feature_model.hpp), the readers.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "logreg/feature_data.hpp"
#include "logreg/model.hpp"

#include "run_settings.hpp"

namespace logreg::cli {

struct FeatureTrainOutcome {
  bool stopped = false;  // stop_requested said so (the last iterate, or epoch, was saved with --save)
  bool stopped_in_cv = false;  // ... during --cv's fits: no model was fitted on all rows, none saved
  std::string done_text;   // the work done, for the stop message: "12 L-BFGS iterations", "3 complete epochs"
  std::string saved_text;  // what --save holds then: "the last iteration's weights", "the weights of epoch 3"
};

// UsageError for the options this path does not take (--device cuda, --resume, --init, --val-split,
// --limit-train, --metrics with the full-batch solvers, several --C values without --cv), naming the option.
// --solver sgd goes on to run_train_features_sgd.
FeatureTrainOutcome run_train_features(const RunSettings& o, const std::function<bool()>& stop_requested);

// A feature file's run after the checks both solvers share: the data (standardised when asked), the data record,
// its scaler, and the sample and class weights of the fit.
struct FeatureRunData {
  FeatureData d;
  nlohmann::ordered_json data_record;  // the data as read
  bool uint8_input = false;            // the training rows were uint8 (scaled by 1/255) before any scaler
  FeatureScaler scaler;
  std::vector<double> sample_weights;  // (rows) or empty
  std::vector<double> class_weights;   // (C)
};

// The "Data:" line and the scaler's line of both solvers.
void print_feature_data_lines(const RunSettings& o, const FeatureRunData& in);

// --solver sgd (cmd_train_features_sgd.cpp): the host loop's epochs on the reference or cpu engine; UsageError
// when the dense form of the training rows is over --max-bytes.
FeatureTrainOutcome run_train_features_sgd(const RunSettings& o, FeatureRunData& in,
                                           const std::function<bool()>& stop_requested);

}  // namespace logreg::cli
