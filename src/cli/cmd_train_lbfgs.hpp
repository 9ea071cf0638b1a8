// `train --solver lbfgs` and `--solver newton-cg`: the full-batch run of the train command, after cmd_train.cpp has checked the
// outputs, loaded the data, split it and made the full-batch engine. Not here: option parsing (run_settings.cpp), the
// solver (solver.hpp), the maths (maths/objective_math.hpp).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "run_settings.hpp"
#include "logreg/backend.hpp"
#include "logreg/cross_validation.hpp"
#include "logreg/dataset.hpp"
#include "logreg/engine.hpp"
#include "logreg/lbfgs_run.hpp"
#include "logreg/solver.hpp"
#include "logreg/training.hpp"

namespace logreg::cli {

struct LbfgsRunInputs {
  const Dataset* data = nullptr;
  const TrainSplit* split = nullptr;
  std::uint32_t all_rows = 0;      // the training rows before the validation split (the refit's rows)
  FullBatchEngine* engine = nullptr;  // made for the run: the objective over the training set, no SGD state
  Model start;                     // zeros (scikit-learn's start) or --init's weights
  nlohmann::ordered_json settings; // the run's record; the result is added to it for --save and --metrics
  std::function<bool()> stop_requested;
};

struct LbfgsRunOutcome {
  bool stopped = false;  // stop_requested said so (the model of the last iteration was saved with --save)
  bool stopped_in_path = false;  // ... during the regularisation path: the saved model is that C's iterate
  bool stopped_in_cv = false;    // ... during --cv's fits: no model was fitted on all rows, none saved
  int iterations = 0;    // of the fit that ran last
};

// "L-BFGS" or "Newton-CG": the full-batch solver as the output lines name it.
const char* full_batch_title(Solver s);

// Fits the model; prints one line per iteration ("Iteration: N. Objective: X. Gradient: G. Step: S. Time: T s",
// with ". Test accuracy: A" every --eval-every iterations), then "Solver: lbfgs. Iterations: ..." (or newton-cg); writes the
// same records to --metrics and the model to --save. Several --C values: the regularisation path (one line
// per C with its validation accuracy, warm starts), then the best C refitted on all training rows.
LbfgsRunOutcome run_lbfgs_training(const RunSettings& o, LbfgsRunInputs in);

// The run's settings for run_lbfgs / run_full_batch (lbfgs_run.hpp), IDX images and feature files alike: the C
// values, the solver and its tol, max-iter and memory, the penalty's L1 share, --cv and --eval-every.
LbfgsRunConfig full_batch_config(const RunSettings& o);

// One iteration's line: "Iteration: N. Objective: X. Gradient: G. Step: S. Time: T s", with
// ". <rows_name> accuracy: A" when `accuracy` was measured (not NaN).
std::string iteration_line(const LbfgsIteration& it, double accuracy, const char* rows_name);

// The C values a run fits: {inf} for --penalty none, else parse_c_values(--C).
std::vector<double> c_values_of(const RunSettings& o);

// ", penalty l1 (OWL-QN)", ..., ", C chosen by K-fold cross-validation" from the run's settings record: the
// Optimizer line's words for what is not the default ("" for L2 without --cv).
std::string penalty_text(const nlohmann::ordered_json& settings);

// The table of a cross-validated path (C, mean validation log-loss and accuracy, iterations summed over the
// folds, the chosen C marked), then "Best C: ...; refitting on all N training rows"; the same scores, per fold
// too, in *settings as "cross_validation", and the chosen C as "C_chosen".
void report_cross_validation(const CvResult& cv, std::size_t refit_rows, nlohmann::ordered_json* settings);

// The regularisation path on validation rows, for IDX and feature runs alike: one line per C ("C: X. Iterations: N.
// Objective: F. Gradient: G. Converged: yes. Validation accuracy: A"); then the path in *settings as
// "regularisation_path" (with "C_chosen" and "fit_rows") and "Best C: X (validation accuracy A); refitting on all N training rows".
void print_path_point(const PathPoint& p);
void report_validation_path(const std::vector<PathPoint>& points, double best_c, double best_val_accuracy,
                            std::size_t refit_rows, nlohmann::ordered_json* settings);

// One C with --val-split: "Validation: loss L, accuracy A on the N held-out rows (not fitted)", and the same in
// (*settings)["lbfgs_result"] (val_loss, val_accuracy, val_rows).
void report_held_out(const Totals& val, std::size_t rows, nlohmann::ordered_json* settings);

// The comma-separated values of --C: each "inf" or a number > 0. UsageError naming --C otherwise.
std::vector<double> parse_c_values(const std::string& text);

// The same check without the exception: what is wrong with `text` ("" when nothing; *values then holds them),
// for --C's command-line check.
std::string c_values_problem(const std::string& text, std::vector<double>* values);

}  // namespace logreg::cli
