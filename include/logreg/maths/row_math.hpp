// The per-row maths of the model, written once: pixel scaling, the three loss heads (loss and
// dloss/dlogits of one row), argmax. __host__ __device__ so the CPU reference, the CPU tests and the
// CUDA kernels all call this very code. Nothing here allocates or loops over rows.
#pragma once

#include <cmath>
#include <cstdint>

#if defined(__CUDACC__)
#define LOGREG_HD __host__ __device__
#else
#define LOGREG_HD
#endif

namespace logreg {

// softmax:          cross-entropy of softmax(z)           (multinomial logistic regression)
// sigmoid_softmax:  cross-entropy of softmax(sigmoid(z))  (the PyTorch tutorial's model, kept on purpose)
// ovr:              sum_c BCEWithLogits(z_c, [c == y])     (one-vs-rest binary logistic regression)
enum class LossHead : int { kSoftmax = 0, kSigmoidSoftmax = 1, kOvr = 2 };

// ToTensor(): uint8 pixel -> [0, 1].
template <class T>
LOGREG_HD inline T pixel_to_unit(std::uint8_t p) {
  return static_cast<T>(p) / static_cast<T>(255);
}

template <class T>
LOGREG_HD inline T stable_sigmoid(T z) {
  using std::exp;
  if (z >= T(0)) {
    return T(1) / (T(1) + exp(-z));
  }
  const T e = exp(z);
  return e / (T(1) + e);
}

// log(1 + exp(z)) without overflow.
template <class T>
LOGREG_HD inline T softplus(T z) {
  using std::exp;
  using std::fabs;
  using std::log1p;
  return (z > T(0) ? z : T(0)) + log1p(exp(-fabs(z)));
}

// The value the softmax of a head is taken over: z itself, or sigmoid(z) for the tutorial's head.
template <class T>
LOGREG_HD inline T head_activation(LossHead head, T z) {
  return head == LossHead::kSigmoidSoftmax ? stable_sigmoid(z) : z;
}

// Loss of one row and, when dz != nullptr, dz[c] = scale * dloss/dz[c] (dz must not overlap z).
//   z: (C) logits of the row (bias included); label in [0, C); scale: 1/B for the mean over a batch.
// Max-subtracted softmax, log-sum-exp and softplus keep every head finite for |z| up to float max.
template <class T>
LOGREG_HD inline T row_loss_grad(LossHead head, const T* z, int C, int label, T scale, T* dz) {
  using std::exp;
  using std::log;
  if (head == LossHead::kOvr) {
    T loss = T(0);
    for (int c = 0; c < C; ++c) {
      const T target = c == label ? T(1) : T(0);
      loss += softplus(z[c]) - target * z[c];
      if (dz != nullptr) dz[c] = scale * (stable_sigmoid(z[c]) - target);
    }
    return loss;
  }
  T m = head_activation(head, z[0]);
  for (int c = 1; c < C; ++c) {
    const T a = head_activation(head, z[c]);
    m = a > m ? a : m;
  }
  // Each exp once: with dz, the exponentials wait in dz until their sum is known.
  T s = T(0);
  for (int c = 0; c < C; ++c) {
    const T e = exp(head_activation(head, z[c]) - m);
    if (dz != nullptr) dz[c] = e;
    s += e;
  }
  const T loss = log(s) + m - head_activation(head, z[label]);
  if (dz != nullptr) {
    for (int c = 0; c < C; ++c) {
      T g = dz[c] / s - (c == label ? T(1) : T(0));  // dloss/da
      if (head == LossHead::kSigmoidSoftmax) {
        const T a = head_activation(head, z[c]);
        g *= a * (T(1) - a);  // da/dz
      }
      dz[c] = scale * g;
    }
  }
  return loss;
}

// Predicted class: the first index of the largest logit (sigmoid is monotone, so every head agrees).
template <class T>
LOGREG_HD inline int row_argmax(const T* z, int C) {
  int best = 0;
  for (int c = 1; c < C; ++c) {
    if (z[c] > z[best]) best = c;
  }
  return best;
}

}  // namespace logreg
