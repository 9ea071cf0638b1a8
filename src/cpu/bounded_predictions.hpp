// Predicted classes of rows for the printed test accuracy (evaluation.hpp's accuracy_percent): float32 logits,
// 16 pixels per AVX-512 vector, with a rigorous bound on their error against the reference's logits
// (logit_rows.hpp), so that a row's argmax is taken from them only where the bound proves it is the
// reference's; every other row (a near tie, a tie) gets the reference's logits. The predictions are the
// reference's, ties included. Not here: the loss and the logits themselves (evaluate_model keeps the exact path).
#pragma once

#include <cstddef>
#include <vector>

#include "logreg/dataset.hpp"
#include "logreg/model.hpp"

namespace logreg::cpu {

// A model prepared for predict_rows_bounded.
struct BoundedPredictor {
  int C = 0;
  int D = 0;
  int Dp = 0;                  // D rounded up to 16
  std::vector<float> w;        // (C, Dp) the weights, zero-padded
  std::vector<double> bound;   // (C) a bound on |float logit - exact logit| of class c, for any row
  bool usable = false;         // finite weights and bias, and this CPU has AVX-512 (otherwise: the exact path)

  static BoundedPredictor of(const Model& model);
};

// predicted[i] for rows [r0, r1) of `images` (pixels of p.D bytes): the first index of the largest of the
// reference's logits (reference_logit_rows), as row_argmax gives it. Needs p.usable. Returns the rows that
// needed the reference's logits (their float32 logits' margin was within the bound).
std::size_t predict_rows_bounded(const BoundedPredictor& p, const Model& model, const ImageSet& images, std::size_t r0,
                                 std::size_t r1, int* predicted);

}  // namespace logreg::cpu
