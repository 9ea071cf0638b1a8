// The model: Linear(D -> C) with bias, the standardisation of its inputs a feature model may carry, its
// PyTorch-style initialisation, and prediction helpers.
// Parameters are float32 in every backend; the CPU reference accumulates in double.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "logreg/name_table.hpp"
#include "logreg/maths/row_math.hpp"

namespace logreg {

struct Model {
  int input_dim = 0;    // D (rows * cols)
  int num_classes = 0;  // C
  LossHead head = LossHead::kSoftmax;
  std::vector<float> weights;  // (C, D) row-major, as nn.Linear.weight
  std::vector<float> bias;     // (C)
};

// scikit-learn's StandardScaler as fitted on the training rows: the model's input is (x - mean) / scale per
// feature, x being the row as the model reads it (after the pixel scale). Empty when the run did not
// standardise. Fitting and applying it to a feature matrix is feature_scaler.hpp.
struct FeatureScaler {
  std::vector<double> mean;   // (D): the training rows' means; zeros for CSR rows (centring is not done there)
  std::vector<double> scale;  // (D): the population standard deviations, > 0 (a constant feature has 1)
  bool empty() const { return scale.empty(); }
};

// nn.Linear's default: weights then bias uniform in [-1/sqrt(D), 1/sqrt(D)), drawn from Rng(seed).
Model init_model(int input_dim, int num_classes, LossHead head, std::uint64_t seed);

// The loss heads' names (CLI, settings record) and, through their values, their codes in the model file.
inline constexpr NameTable<LossHead, 3> kLossHeadNames = {{
    {LossHead::kSoftmax, "softmax", "multinomial logistic regression"},
    {LossHead::kSigmoidSoftmax, "sigmoid-softmax", "the PyTorch tutorial's bug, kept to reproduce it"},
    {LossHead::kOvr, "ovr", "one-vs-rest logistic regression"},
}};

inline const char* loss_head_name(LossHead head) { return name_of(kLossHeadNames, head); }
inline bool parse_loss_head(const std::string& s, LossHead* out) { return parse_name(kLossHeadNames, s, out); }

}  // namespace logreg
