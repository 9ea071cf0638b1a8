// The weights of a feature-file fit, as scikit-learn's LogisticRegression takes them: sample weights (a 1-D
// float .npy given by --sample-weight, or the w_train array of the training .npz) and class weights
// (--class-weight none, balanced, or a file of `LABEL WEIGHT` lines), multiplied per row into the
// FeatureFitTerms of feature_model.hpp. Not here: the objective that uses them (feature_model.hpp).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "logreg/feature_model.hpp"
#include "logreg/idx.hpp"
#include "logreg/npz_reader.hpp"

namespace logreg {

// The sample weights in `a` (a 1-D float32/float64 array of `rows` elements; `where` names it), as doubles.
// DataError naming `where` for another shape or dtype, another length, a negative, NaN or infinite weight, or
// weights that are all zero.
std::vector<double> sample_weights_of(const NpyArray& a, const std::string& where, std::size_t rows);

// The .npy file at `path` (at most limits.max_bytes), read as sample_weights_of.
std::vector<double> read_sample_weights(const std::string& path, std::size_t rows, const IdxLimits& limits = {});

// The class weights (C) of `spec` for the classes `classes` (their labels, ascending) and the training rows'
// class indices y: "none" gives all 1; "balanced" gives n / (C count_c), scikit-learn's compute_class_weight
// (DataError when a class has no training row); any other value is a file of lines `LABEL WEIGHT` (integer
// label, weight >= 0; '#' starts a comment; a class not listed keeps weight 1). DataError naming the file and
// line for a malformed line, a label not among the training labels, a repeated label, or a negative, NaN or
// infinite weight.
std::vector<double> class_weights_of(const std::string& spec, const std::vector<std::int64_t>& classes,
                                     const std::vector<std::uint32_t>& y);

// The per-row weights a_i = sample_weights[i] x class_weights[y_i] and S = the sum of the sample weights (n
// when there are none); row_weights stays empty when every a_i is 1. DataError naming `what` when every a_i is
// zero (nothing to fit).
FeatureFitTerms fit_terms_of(const std::vector<double>& sample_weights, const std::vector<double>& class_weights,
                             const std::vector<std::uint32_t>& y, bool intercept, const std::string& what);

}  // namespace logreg
