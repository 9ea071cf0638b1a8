// stratified_folds, fold_rows and cross_validate (cross_validation.hpp).
#include "logreg/cross_validation.hpp"

#include <algorithm>
#include <map>
#include <string>
#include <utility>

#include "logreg/errors.hpp"

namespace logreg {

std::vector<int> stratified_folds(const std::vector<std::uint32_t>& y, int K) {
  if (K < 2) throw UsageError("--cv " + std::to_string(K) + ": needs K >= 2 folds");
  // Classes numbered by first appearance, and their counts.
  std::map<std::uint32_t, int> number_of;
  std::vector<std::size_t> count;
  std::vector<int> encoded(y.size());
  for (std::size_t i = 0; i < y.size(); ++i) {
    const auto it = number_of.emplace(y[i], static_cast<int>(count.size())).first;
    if (it->second == static_cast<int>(count.size())) count.push_back(0);
    encoded[i] = it->second;
    ++count[static_cast<std::size_t>(it->second)];
  }
  const std::size_t smallest = count.empty() ? 0 : *std::min_element(count.begin(), count.end());
  if (static_cast<std::size_t>(K) > smallest) {
    throw UsageError("--cv " + std::to_string(K) + ": the smallest class of the training rows has " +
                     std::to_string(smallest) + " rows, fewer than the folds (each fold holds out rows of every "
                     "class); give --cv " + std::to_string(std::max<std::size_t>(smallest, 2)) + " or less");
  }
  // Round robin over the rows sorted by class: sorted position p goes to fold p mod K, so class c, at positions
  // [begin_c, begin_c + count_c), gives fold k the positions of that range congruent to k.
  const std::size_t classes = count.size();
  std::vector<std::vector<std::size_t>> allocation(classes, std::vector<std::size_t>(static_cast<std::size_t>(K), 0));
  std::size_t begin = 0;
  for (std::size_t c = 0; c < classes; ++c) {
    for (std::size_t p = begin; p < begin + count[c]; ++p) ++allocation[c][p % static_cast<std::size_t>(K)];
    begin += count[c];
  }
  // Each class's rows in data order: fold 0's share first, then fold 1's, ...
  std::vector<int> fold_of(y.size());
  std::vector<int> fold(classes, 0);
  std::vector<std::size_t> used(classes, 0);
  for (std::size_t i = 0; i < y.size(); ++i) {
    const auto c = static_cast<std::size_t>(encoded[i]);
    while (used[c] == allocation[c][static_cast<std::size_t>(fold[c])]) {
      used[c] = 0;
      ++fold[c];
    }
    fold_of[i] = fold[c];
    ++used[c];
  }
  return fold_of;
}

std::vector<std::uint32_t> fold_rows(const std::vector<int>& fold_of, int k, bool held_out) {
  std::vector<std::uint32_t> rows;
  for (std::size_t i = 0; i < fold_of.size(); ++i) {
    if ((fold_of[i] == k) == held_out) rows.push_back(static_cast<std::uint32_t>(i));
  }
  return rows;
}

CvResult cross_validate(int K, const std::vector<double>& cs, const std::vector<double>& start, const CvFits& fits) {
  if (cs.empty()) throw UsageError("cross_validate: no value of C");
  CvResult out;
  out.points.resize(cs.size());
  for (std::size_t j = 0; j < cs.size(); ++j) out.points[j].C = cs[j];
  // solutions[j]: the folds' sum of solutions at C j, for the refit's start.
  std::vector<std::vector<double>> solutions(cs.size(), std::vector<double>(start.size(), 0.0));
  for (int k = 0; k < K; ++k) {
    std::vector<double> x = start;
    for (std::size_t j = 0; j < cs.size(); ++j) {
      LbfgsResult r = fits.fit(k, cs[j], std::move(x));
      if (r.stop == LbfgsStop::kStopRequested) {
        out.stopped = true;
        return out;
      }
      x = std::move(r.x);
      CvPoint& point = out.points[j];
      point.folds.push_back(fits.score(k, x));
      point.iterations += r.iterations;
      point.converged = point.converged && r.converged();
      for (std::size_t i = 0; i < x.size(); ++i) solutions[j][i] += x[i];
    }
  }
  double best_sum = -1.0;
  for (std::size_t j = 0; j < cs.size(); ++j) {
    CvPoint& point = out.points[j];
    double accuracy_sum = 0.0;
    double loss_sum = 0.0;
    for (const FoldScore& s : point.folds) {  // in fold order, as numpy sums a (folds, Cs) array over axis 0
      accuracy_sum += s.accuracy;
      loss_sum += s.log_loss;
    }
    point.mean_accuracy = accuracy_sum / K;
    point.mean_log_loss = loss_sum / K;
    if (accuracy_sum > best_sum) {
      best_sum = accuracy_sum;
      out.best = j;
    }
  }
  out.refit_start = std::move(solutions[out.best]);
  for (double& v : out.refit_start) v /= K;
  return out;
}

}  // namespace logreg
