// `train --data FILE --cv K`: the --C values cross-validated on a feature file's training rows (the folds of
// cross_validation.hpp, each fold's rows copied into its own matrices and fitted by its own FeatureObjective).
// Not here: the folds and the choice of C (cross_validation.cpp), the refit and its output (cmd_train_features.cpp).
#pragma once

#include <functional>
#include <vector>

#include "run_settings.hpp"
#include "logreg/cross_validation.hpp"
#include "logreg/feature_data.hpp"
#include "logreg/model.hpp"
#include "logreg/thread_team.hpp"

namespace logreg::cli {

// The path over `cs` on --cv stratified folds of d's training rows, each fit from `shape`'s parameters (zeros)
// with --tol, --max-iter and the penalty of `o`, on FeatureObjective(parts, team). Prints nothing.
CvResult cross_validate_features(const RunSettings& o, const FeatureData& d, const std::vector<double>& cs,
                                 const Model& shape, int parts, cpu::ThreadTeam* team,
                                 const std::function<bool()>& stop_requested);

}  // namespace logreg::cli
