// `train --data FILE` with an .npz or svmlight file: the full-batch L-BFGS fit of the feature matrix on a CPU
// backend (reference: one pass in row order; cpu: 8 fixed row parts on the thread team), its output lines, the
// evaluation and --save with the class labels. Called by cmd_train.cpp after the option checks; the IDX path
// (backends, run_lbfgs) is not involved. Not here: the objective (feature_model.hpp), the readers.
#pragma once

#include <functional>

#include "run_settings.hpp"

namespace logreg::cli {

struct FeatureTrainOutcome {
  bool stopped = false;  // stop_requested said so (the last iterate was saved with --save)
  int iterations = 0;
  bool stopped_in_cv = false;  // ... during --cv's fits: no model was fitted on all rows, none saved
};

// UsageError for the options this path does not take (SGD and its flags, --device cuda, --resume, --init,
// --val-split, --limit-train, --metrics, several --C values without --cv), naming the option.
FeatureTrainOutcome run_train_features(const RunSettings& o, const std::function<bool()>& stop_requested);

}  // namespace logreg::cli
