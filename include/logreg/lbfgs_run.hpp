// The full-batch run, L-BFGS or trust-region Newton-CG (the solver is a choice of the config), written once for
// every kind of rows: run_full_batch drives the objectives and scores of a FullBatchRows (IDX images on a
// FullBatchEngine: run_lbfgs below; a feature file's FeatureObjective: feature_full_batch.hpp): one fit at one C,
// or the regularisation path (each C warm-started from the previous solution and scored on the validation rows)
// and the best C refitted on all training rows, or the path cross-validated over K stratified folds
// (cross_validation.hpp) and the chosen C refitted; the L1 and elastic-net penalties through the solver's OWL-QN
// (penalised_config); the test accuracy every K iterations and the final evaluation. Like run_training
// (training.hpp) for SGD, it prints nothing: hooks report each step to the caller, which formats lines, metrics
// records and saved files (src/cli/cmd_train_lbfgs.cpp, cmd_train_features.cpp).
// Not here: the solver (solver.hpp), the objective's maths (maths/objective_math.hpp).
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "logreg/cross_validation.hpp"
#include "logreg/dataset.hpp"
#include "logreg/engine.hpp"
#include "logreg/evaluation.hpp"
#include "logreg/model.hpp"
#include "logreg/solver.hpp"
#include "logreg/training.hpp"

namespace logreg {

struct LbfgsRunConfig {
  std::vector<double> cs = {1.0};  // one C (inf: no penalty), or several: the regularisation path
  Solver method = Solver::kLbfgs;  // kLbfgs (`solver` below) or kNewtonCg (`newton` below)
  LbfgsConfig solver;              // tol, max_iter, memory
  NewtonCgConfig newton;           // tol, max_iter, CG's limits
  int eval_every = 10;             // the test accuracy every K iterations of the final fit (0: only at the end)
  double l1_ratio = 0.0;           // the penalty's L1 share r (objective_math.hpp); > 0 needs kLbfgs (OWL-QN)
  int cv_folds = 0;                // >= 2: the path cross-validated over this many stratified folds of the
                                   // training rows (no validation split), instead of scored on validation rows
};

// The solver's settings for a fit at C on n rows whose first n_weights parameters are W: `base` with the L1
// part of the penalty (penalty_strengths(C, n, l1_ratio).l1 on those weights), and in *l2 the L2 strength the
// objective takes (exactly l2_strength(C, n) when l1_ratio is 0).
LbfgsConfig penalised_config(const LbfgsConfig& base, double C, double n, double l1_ratio, std::size_t n_weights,
                             double* l2);

// One C of the regularisation path, fitted on the training rows and scored on the validation rows.
struct PathPoint {
  double C = 0.0;
  LbfgsResult fit;  // x is the solution
  double val_accuracy = 0.0;
};

// The regularisation path on validation rows, for any rows (IDX images, a feature file's): `fit` fits the training
// rows at C from x0 (the solver's result; stopped on request: LbfgsStop::kStopRequested), `val_accuracy` scores
// parameters on the validation rows (percent), `on_point` hears each C's point.
struct ValidationPathFits {
  std::function<LbfgsResult(double C, std::vector<double> x0)> fit;
  std::function<double(const std::vector<double>& x)> val_accuracy;
  std::function<void(const PathPoint&)> on_point;
};

struct ValidationPath {
  std::vector<PathPoint> points;   // one per C fitted, in the order given
  double best_c = 0.0;             // the first C of the highest validation accuracy
  double best_val_accuracy = -1.0;
  std::vector<double> best_x;      // its solution: the refit's start
  bool stopped = false;            // a fit was stopped on request: `stopped_fit` at `stopped_at_c`, no choice made
  double stopped_at_c = 0.0;
  LbfgsResult stopped_fit;
};

// Each C of `cs` in order, warm-started from the previous C's solution (the first from x0), scored on the
// validation rows; the chosen C is the first of the highest validation accuracy (run_lbfgs then refits it on
// all training rows from its solution).
ValidationPath validation_path(const std::vector<double>& cs, std::vector<double> x0, const ValidationPathFits& fits);

struct LbfgsRunResult;

struct LbfgsRunHooks {
  std::function<void(const PathPoint&)> on_path_point;  // after each C of the path
  // Before the final fit (after the path, if any): the result so far holds the path, best_c, best_val_accuracy
  // and fit_rows.
  std::function<void(const LbfgsRunResult&)> on_final_fit;
  // After each iteration of the final fit; test_accuracy is NaN where none was measured (see eval_every).
  // Returning false stops the fit there (its point is the result's model).
  std::function<bool(const LbfgsIteration&, double test_accuracy)> on_iteration;
  std::function<bool()> stop_requested;  // polled after every iteration, of the path's fits too
};

struct LbfgsRunResult {
  std::vector<PathPoint> path;  // empty for one C
  double best_c = 0.0;          // the C of the final fit
  double best_val_accuracy = 0.0;  // its validation accuracy on the path (path only)
  bool has_cv = false;          // the path was cross-validated (config.cv_folds): `cv` holds its scores
  CvResult cv;
  std::size_t fit_rows = 0;     // the rows of the final fit
  bool stopped = false;         // stop_requested or on_iteration ended the run
  bool stopped_in_path = false; // ... during the path's fit of C = stopped_at_c (no final fit ran)
  double stopped_at_c = 0.0;
  LbfgsResult fit;              // the final fit (during the path: the interrupted fit)
  Model model;                  // the parameters of the last point reached, as float32
  EvaluationReport test;        // of `model` on the test set (not when stopped)
  bool has_val = false;         // one C with validation rows: `val` scores the held-out rows (not fitted)
  EvaluationReport val;
};

// The objective over one set of rows, as a fit needs it.
class FitObjective {
 public:
  virtual ~FitObjective() = default;
  // f at params x and df/dx into grad (both of the run's parameter count); l2 from penalised_config.
  virtual double value(const double* x, double l2, double* grad) = 0;
  // hv = the Hessian of f at x times v (Newton-CG only; UsageError where the objective has none).
  virtual void hessian_vector(const double* x, double l2, const double* v, double* hv) = 0;
  virtual double weight_total() const = 0;  // the n of the penalty's strengths: the rows, or their weights' sum
  virtual double dense_rows() const = 0;    // LbfgsConfig::dense_rows (0: lbfgs_memory's fixed rule, on a GPU)
  virtual std::size_t rows() const = 0;     // the rows it sums
};

// The rows of one full-batch run, whatever they are: the objectives its fits minimise and the scores of its
// parameter vectors (x: the solver's parameters, of the run's parameter count).
class FullBatchRows {
 public:
  virtual ~FullBatchRows() = default;
  virtual FitObjective& fitted() = 0;    // the training rows without the held-out (validation) rows
  virtual FitObjective& all_rows() = 0;  // every training row: the refit after a validation path (fitted() is
                                         // not used after it)
  // The K stratified folds (stratified_folds) of the fitted rows, cut before fold() and fold_score() are used.
  virtual void cut_folds(int K) = 0;
  virtual FitObjective& fold(int k) = 0;  // fold k's fitted rows
  virtual FoldScore fold_score(int k, const std::vector<double>& x) = 0;  // on fold k's held-out rows
  virtual bool has_val() const = 0;       // there are held-out rows
  virtual double val_accuracy(const std::vector<double>& x) = 0;   // percent, on the held-out rows
  virtual double test_accuracy(const std::vector<double>& x) = 0;  // percent, on the test rows
  virtual EvaluationReport test_report(const Model& m) = 0;
  virtual EvaluationReport val_report(const Model& m) = 0;
  virtual std::vector<double> params_of(const Model& m) const = 0;  // the solver's parameters of a model
  virtual Model model_of(const std::vector<double>& x) const = 0;   // ... and back, as float32
};

// The run over `rows` from `start` (its parameters; scikit-learn starts from zeros): several C values need
// held-out rows or cv_folds (UsageError otherwise); with cv_folds the folds cut the fitted rows and the refit
// starts from the folds' mean solution at the chosen C. Newton-CG needs the objectives' Hessian-vector product.
LbfgsRunResult run_full_batch(FullBatchRows& rows, const Model& start, const LbfgsRunConfig& config,
                              const LbfgsRunHooks& hooks);

// Fits from `start` (its shape and head; scikit-learn starts from zeros) on `engine`, whose training set the
// rows index (run_full_batch over its rows); the validation and test scores come from its logits (evaluate_model,
// accuracy_percent). Several C
// values need validation rows or cv_folds (UsageError otherwise); with cv_folds the folds cut the training rows
// (split.train_rows, by data.train_labels) and the refit starts from the folds' mean solution at the chosen C. `all_rows` is the number of training rows before the
// split: the refit's rows. Newton-CG needs the engine's Hessian-vector product (its UsageError without one).
LbfgsRunResult run_lbfgs(FullBatchEngine& engine, const Dataset& data, const TrainSplit& split, std::uint32_t all_rows,
                         const Model& start, const LbfgsRunConfig& config, const LbfgsRunHooks& hooks);

// The parameters of a model as the solver sees them: W (C, D) row-major, then b (C), in double; and back.
std::vector<double> params_of(const Model& m);
Model model_of(const std::vector<double>& params, const Model& shape);

}  // namespace logreg
