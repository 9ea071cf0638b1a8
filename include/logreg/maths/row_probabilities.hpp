// Class probabilities of one row of logits for each loss head, written once as __host__ __device__
// code next to row_math.hpp (whose heads it mirrors): the distribution each head is trained to fit.
// Nothing here allocates or loops over rows.
#pragma once

#include <cmath>

#include "logreg/maths/row_math.hpp"

namespace logreg {

// p (C) from z (C) logits of one row, bias included:
//   softmax:          softmax(z)            sums to 1
//   sigmoid_softmax:  softmax(sigmoid(z))   sums to 1 (what the tutorial's head trains; never near one-hot,
//                                           since its inputs lie in (0, 1))
//   ovr:              sigmoid(z_c) each     independent per-class probabilities, not summing to 1
template <class T>
LOGREG_HD inline void row_probabilities(LossHead head, const T* z, int C, T* p) {
  using std::exp;
  if (head == LossHead::kOvr) {
    for (int c = 0; c < C; ++c) p[c] = stable_sigmoid(z[c]);
    return;
  }
  T m = head_activation(head, z[0]);
  for (int c = 1; c < C; ++c) {
    const T a = head_activation(head, z[c]);
    m = a > m ? a : m;
  }
  T s = T(0);
  for (int c = 0; c < C; ++c) {
    p[c] = exp(head_activation(head, z[c]) - m);
    s += p[c];
  }
  for (int c = 0; c < C; ++c) p[c] /= s;
}

}  // namespace logreg
