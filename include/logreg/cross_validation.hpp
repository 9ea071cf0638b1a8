// K-fold cross-validation of the regularisation path (`train --cv K`): stratified folds cut as scikit-learn's
// StratifiedKFold(n_splits=K, shuffle=False), and the loop over folds and C values that scores each C and
// chooses one as LogisticRegressionCV does. It sees a data set only through two callbacks (fit on a fold's
// training rows, score on its held-out rows), so IDX images and feature files share it. Not here: the solver
// (solver.hpp), the objective (the engines, feature_model.hpp), the output lines (src/cli/).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include "logreg/backend.hpp"
#include "logreg/solver.hpp"

namespace logreg {

// The fold (0..K-1) whose held-out part each row is in, for labels y (any integer class indices), as
// scikit-learn 1.2's StratifiedKFold(K, shuffle=False): classes are numbered by first appearance in y; the
// rows sorted by that number are dealt round-robin to the K folds, which gives each fold its count of each
// class; then each class's rows, in data order, fill fold 0's count, then fold 1's, and so on. UsageError
// naming --cv when K < 2 or K exceeds the rows of the smallest class (scikit-learn only warns there; a fold
// without a class would score a model that never saw it).
std::vector<int> stratified_folds(const std::vector<std::uint32_t>& y, int K);

// The rows (ascending) held out by fold k (`held_out` true) or fitted in it.
std::vector<std::uint32_t> fold_rows(const std::vector<int>& fold_of, int k, bool held_out);

// One fold's model on its held-out rows.
struct FoldScore {
  double log_loss = 0.0;  // mean cross-entropy per row
  double accuracy = 0.0;  // fraction of rows predicted right, in [0, 1]
};

// The score of an evaluation's totals: mean loss, and correct / rows (as scikit-learn's accuracy_score).
inline FoldScore fold_score_of(const Totals& t) {
  return FoldScore{t.mean_loss(), t.count > 0 ? static_cast<double>(t.correct) / static_cast<double>(t.count) : 0.0};
}

// One C of the path, over the K folds.
struct CvPoint {
  double C = 0.0;
  std::vector<FoldScore> folds;  // (K)
  double mean_log_loss = 0.0;
  double mean_accuracy = 0.0;    // the score that chooses C (LogisticRegressionCV's default scoring)
  int iterations = 0;            // summed over the folds
  bool converged = true;         // every fold's fit converged
};

struct CvResult {
  std::vector<CvPoint> points;    // one per C, in the order given
  std::size_t best = 0;           // index of the chosen C: the first highest mean accuracy
  std::vector<double> refit_start;  // the folds' mean solution at the chosen C (LogisticRegressionCV's refit start)
  bool stopped = false;           // a fit was stopped on request (points then incomplete)
};

struct CvFits {
  // Fits fold k's training rows at C from x0 (the previous C's solution in that fold, the first from `start`).
  std::function<LbfgsResult(int k, double C, std::vector<double> x0)> fit;
  // Scores the parameters x on fold k's held-out rows.
  std::function<FoldScore(int k, const std::vector<double>& x)> score;
};

// For each fold, the path over `cs` in their order, each C warm-started from the previous one (scikit-learn's
// _logistic_regression_path); then the mean scores per C and the chosen C: the highest sum of the folds'
// accuracies, the first of equal ones (LogisticRegressionCV: scores.sum(axis=0).argmax()).
CvResult cross_validate(int K, const std::vector<double>& cs, const std::vector<double>& start, const CvFits& fits);

}  // namespace logreg
