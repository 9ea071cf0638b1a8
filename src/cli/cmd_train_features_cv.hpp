// `train --data FILE --cv K`: the --C values cross-validated on a feature file's training rows (the folds of
// cross_validation.hpp, each fold's rows copied into its own matrices and fitted by its own FeatureObjective).
// Not here: the folds and the choice of C (cross_validation.cpp), the refit and its output (cmd_train_features.cpp).
#pragma once

#include <functional>
#include <vector>

#include "run_settings.hpp"
#include "logreg/cross_validation.hpp"
#include "logreg/feature_data.hpp"
#include "logreg/feature_model.hpp"
#include "logreg/model.hpp"
#include "logreg/thread_team.hpp"

namespace logreg::cli {

// What each fold's FeatureObjective is built with: the training rows' sample weights (empty: none) and the class
// weights (C), taken as LogisticRegressionCV does (each fold fitted with its rows' sample weights, "balanced"
// computed once on all training rows), and the CPU backend's parts and team.
struct CvObjectiveTerms {
  const std::vector<double>& sample_weights;
  const std::vector<double>& class_weights;
  int parts;
  cpu::ThreadTeam* team;
  const FeaturePartsMaker& device;  // set: each fold's objective on the CUDA device (its own rows uploaded)
};

// The path over `cs` on --cv stratified folds of d's training rows, each fold's first fit from `shape`'s parameters
// (zeros or --init's weights; without the bias under --no-intercept) with --tol, --max-iter and the penalty of `o`. Prints nothing.
CvResult cross_validate_features(const RunSettings& o, const FeatureData& d, const std::vector<double>& cs,
                                 const Model& shape, const CvObjectiveTerms& terms,
                                 const std::function<bool()>& stop_requested);

}  // namespace logreg::cli
