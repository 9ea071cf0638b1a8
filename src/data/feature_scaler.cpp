// StandardScaler's fit and transform on feature matrices (include/logreg/feature_scaler.hpp), in double, with
// scikit-learn's formulas: the mean, the two-pass variance with its rounding correction (dense) or the
// nonzeros' deviations plus the implicit zeros' (CSR), and its constant-feature test.
#include "logreg/feature_scaler.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <utility>
#include <vector>

#include "logreg/errors.hpp"

namespace logreg {
namespace {

// scikit-learn's _is_constant_feature: a variance within the 2-pass algorithm's rounding error of 0.
bool is_constant_feature(double var, double mean, double n) {
  const double eps = std::numeric_limits<double>::epsilon();
  const double bound = n * eps * var + (n * mean * eps) * (n * mean * eps);
  return var <= bound;
}

}  // namespace

FeatureScaler fit_feature_scaler(const FeatureMatrix& x) {
  if (x.rows == 0) {
    throw DataError(x.path, "has no rows: --standardize needs training rows to take means and deviations from");
  }
  const std::size_t D = x.cols;
  const double n = static_cast<double>(x.rows);
  std::vector<double> sum(D, 0.0), var(D, 0.0), mean(D, 0.0);
  FeatureScaler s;
  if (x.sparse) {
    for (std::size_t k = 0; k < x.values.size(); ++k) sum[x.col_index[k]] += x.values[k];
    for (std::size_t j = 0; j < D; ++j) mean[j] = sum[j] / n;
    std::vector<double> stored(D, 0.0);  // nonzeros per column
    for (std::size_t k = 0; k < x.values.size(); ++k) {
      const double dev = x.values[k] - mean[x.col_index[k]];
      var[x.col_index[k]] += dev * dev;
      stored[x.col_index[k]] += 1.0;
    }
    for (std::size_t j = 0; j < D; ++j) var[j] = (var[j] + (n - stored[j]) * mean[j] * mean[j]) / n;
    s.mean.assign(D, 0.0);
  } else {
    std::vector<double> row(D), correction(D, 0.0);
    for (std::size_t i = 0; i < x.rows; ++i) {
      x.row_to_double(i, row.data());
      for (std::size_t j = 0; j < D; ++j) sum[j] += row[j];
    }
    for (std::size_t j = 0; j < D; ++j) mean[j] = sum[j] / n;
    for (std::size_t i = 0; i < x.rows; ++i) {
      x.row_to_double(i, row.data());
      for (std::size_t j = 0; j < D; ++j) {
        const double dev = row[j] - mean[j];
        correction[j] += dev;
        var[j] += dev * dev;
      }
    }
    for (std::size_t j = 0; j < D; ++j) var[j] = (var[j] - correction[j] * correction[j] / n) / n;
    s.mean = mean;
  }
  s.scale.resize(D);
  for (std::size_t j = 0; j < D; ++j) s.scale[j] = is_constant_feature(var[j], mean[j], n) ? 1.0 : std::sqrt(var[j]);
  return s;
}

void apply_feature_scaler(const FeatureScaler& scaler, FeatureMatrix& x, const std::string& what) {
  if (scaler.empty()) return;
  if (scaler.scale.size() != x.cols || scaler.mean.size() != x.cols) {
    throw DataError(x.path, "has " + std::to_string(x.cols) + " features but " + what + " standardises " +
                                std::to_string(scaler.scale.size()));
  }
  const bool centred = std::any_of(scaler.mean.begin(), scaler.mean.end(), [](double m) { return m != 0.0; });
  if (x.sparse && !centred) {
    for (std::size_t k = 0; k < x.values.size(); ++k) x.values[k] /= scaler.scale[x.col_index[k]];
    return;
  }
  std::vector<std::uint8_t> out(x.rows * x.cols * sizeof(double));
  std::vector<double> row(x.cols);
  for (std::size_t i = 0; i < x.rows; ++i) {
    x.row_to_double(i, row.data());
    for (std::size_t j = 0; j < x.cols; ++j) row[j] = (row[j] - scaler.mean[j]) / scaler.scale[j];
    std::memcpy(out.data() + i * x.cols * sizeof(double), row.data(), x.cols * sizeof(double));
  }
  x.dense = std::move(out);
  x.sparse = false;
  x.dtype = FeatureDtype::kFloat64;
  x.row_start.clear();
  x.col_index.clear();
  x.values.clear();
}

}  // namespace logreg
