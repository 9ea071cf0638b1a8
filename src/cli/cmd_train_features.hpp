// `train --data FILE` with an .npz or svmlight file: the full-batch run of the feature matrix (run_full_batch over
// its FeatureFullBatch, the same run loop as the IDX images': lbfgs_run.hpp), its output lines, the evaluation and
// --save with the class labels; or SGD epochs (run_train_features_sgd); the rows --limit-train and --val-split
// leave and the model --init or --resume starts from (cmd_train_features_rows.cpp). Called by cmd_train.cpp after
// the option checks. Not here: the run loop (src/train/), the objective (feature_model.hpp), the readers.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "logreg/feature_data.hpp"
#include "logreg/model.hpp"
#include "logreg/model_file.hpp"
#include "logreg/training.hpp"

#include "run_settings.hpp"

namespace logreg::cli {

struct FeatureTrainOutcome {
  bool stopped = false;  // stop_requested said so (the last iterate, or epoch, was saved with --save)
  bool stopped_in_cv = false;  // ... during --cv's fits: no model was fitted on all rows, none saved
  bool stopped_in_path = false;  // ... during the --val-split path's fits: no C was chosen, none saved
  std::string done_text;   // the work done, for the stop message: "12 L-BFGS iterations", "3 complete epochs"
  std::string saved_text;  // what --save holds then: "the last iteration's weights", "the weights of epoch 3"
};

// UsageError for the options this path does not take (--device cuda, --metrics with the full-batch solvers),
// naming the option. --resume restores the saved run's settings into `o` first (resume_run). --solver sgd goes on
// to run_train_features_sgd.
FeatureTrainOutcome run_train_features(RunSettings o, const std::function<bool()>& stop_requested);

// A feature file's run after the checks both solvers share: the data (its first --limit-train rows, standardised
// when asked), the data record, its scaler, the sample and class weights of the fit, the rows --val-split holds
// out, and the model --init or --resume starts from.
struct FeatureRunData {
  FeatureData d;                       // train_x: the first --limit-train rows of the file (all without it)
  nlohmann::ordered_json data_record;  // the data as read (the file's row count)
  bool uint8_input = false;            // the training rows were uint8 (scaled by 1/255) before any scaler
  FeatureScaler scaler;
  std::vector<double> sample_weights;  // (d.train_x.rows) or empty
  std::vector<double> class_weights;   // (C)
  RowSplit split;                      // of d's training rows: those fitted, those held out (ascending)
  FeatureMatrix val_x;                 // the held-out rows (scaled as the training rows), none without --val-split
  std::vector<std::uint32_t> val_y;
  std::optional<ModelFile> start;      // --init's or --resume's model file, checked against the run
  EarlyStopState early_stop;           // --resume: early stopping's state in the saved run
};

// The "Data:" line and the scaler's line of both solvers.
void print_feature_data_lines(const RunSettings& o, const FeatureRunData& in);

// cmd_train_features_rows.cpp: --limit-train and --val-split by make_train_split's rule (split_training_rows,
// check_fitted_classes naming the labels): in.d and in.sample_weights keep the first --limit-train rows, in.split
// says which of them are fitted. Then, once the rows are scaled, copy_held_out_rows fills in.val_x and in.val_y.
void limit_and_split_rows(const RunSettings& o, FeatureRunData& in);
void copy_held_out_rows(FeatureRunData& in);

// --init or --resume FILE (`flag`): DataError naming the file and the field when its model is not a model of this
// run's data: its class labels, feature count, intercept (--no-intercept), input scale (uint8 / 255 or as stored)
// and standardisation (--standardize, and the scaler's values) must be the run's.
void check_start_model(const std::string& flag, const std::string& path, const ModelFile& mf, const RunSettings& o,
                       const FeatureRunData& in);

// The model a run starts from: --init's or --resume's (the run's loss head), else `fallback`.
Model start_model(const RunSettings& o, const FeatureRunData& in, Model fallback);

// --solver sgd (cmd_train_features_sgd.cpp): the host loop's epochs on the reference or cpu engine; UsageError
// when the dense form of the training rows is over --max-bytes.
FeatureTrainOutcome run_train_features_sgd(const RunSettings& o, FeatureRunData& in,
                                           const std::function<bool()>& stop_requested);

}  // namespace logreg::cli
