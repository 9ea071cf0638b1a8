// `train --standardize`: fitting scikit-learn's StandardScaler to the training rows of a feature matrix and
// applying a FeatureScaler (model.hpp) to the rows of a matrix, for training, `eval` and `predict` alike. The
// scaler's storage in the model file is model_file.hpp; its export graphs are in src/export/.
#pragma once

#include <string>

#include "logreg/feature_data.hpp"
#include "logreg/model.hpp"

namespace logreg {

// StandardScaler's fit, in double, on the rows as the model reads them (uint8 / 255, floats as stored):
// mean = the column means; scale = the population standard deviation (divided by n, not n - 1), set to 1 for a
// constant feature (scikit-learn's test: var <= n eps var + (n mean eps)^2). Dense rows are centred; CSR rows
// are not, as centring would fill in every zero: mean is then all zeros and scale the standard deviation
// about the true mean (StandardScaler(with_mean=False)). DataError naming `x.path` when x has no rows.
FeatureScaler fit_feature_scaler(const FeatureMatrix& x);

// Replaces the rows of `x` by (row - mean) / scale. Dense rows become float64; CSR rows stay CSR (each stored
// value divided by its column's scale) when every mean of the scaler is 0, and become dense float64 otherwise.
// DataError naming `x.path` (and `what`, e.g. "the model's scaler") when the widths differ.
void apply_feature_scaler(const FeatureScaler& scaler, FeatureMatrix& x, const std::string& what);

}  // namespace logreg
