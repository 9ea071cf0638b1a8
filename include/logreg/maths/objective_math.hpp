// The full-batch objective of the L-BFGS solver, written once for every backend and kernel: scikit-learn's
// LogisticRegression objective (>= 1.2, multinomial),
//   f(W, b) = (1/n) sum_i loss(W x_i + b, y_i) + ||W||^2 / (2 C n),   the bias b not penalised,
// as its per-row part (row_loss_grad with scale 1/n, row_math.hpp) and its per-weight part (below), and, for
// the Newton-CG solver, the softmax head's per-row Hessian-vector product; the elastic-net split of the penalty
// (an L2 part the backends add, an L1 part the OWL-QN solver adds) and the L1 term's pseudo-gradient. Nothing
// here loops over rows or parameters; the backends and the solver do.
#pragma once

#include <cstddef>

#include "logreg/maths/row_math.hpp"

namespace logreg {

// The penalty's strength per ||W||^2 / 2 of the mean objective: 1 / (C n); C = +inf gives 0 (no penalty).
LOGREG_HD inline double l2_strength(double C, double n) {
  return C == INFINITY ? 0.0 : 1.0 / (C * n);
}

// scikit-learn's elastic-net penalty with mixing ratio r in [0, 1] (1.2's saga: alpha = (1 - r) / C and
// beta = r / C, each divided by n):
//   f(W, b) = (1/n) sum_i loss + (1 - r) ||W||^2 / (2 C n) + r ||W||_1 / (C n),
// l2 the strength the backends' smooth objective takes, l1 the coefficient of ||W||_1 the solver adds.
// r = 0 gives l2 = l2_strength(C, n) exactly and l1 = 0 (the L2 penalty); r = 1 the L1 penalty.
struct PenaltyStrengths {
  double l2 = 0.0;
  double l1 = 0.0;
};
LOGREG_HD inline PenaltyStrengths penalty_strengths(double C, double n, double l1_ratio) {
  const double s = l2_strength(C, n);
  return PenaltyStrengths{(1.0 - l1_ratio) * s, l1_ratio * s};
}

// Component j of the pseudo-gradient of g(x) + l1 |x_j| (OWL-QN's, the minimum-norm subgradient): the
// gradient with the L1 term's slope where x_j != 0; at x_j = 0 the one-sided slope that still descends, or 0
// when neither does. Zero at every component is the optimality condition of the L1-penalised objective.
LOGREG_HD inline double l1_pseudo_grad(double g, double x, double l1) {
  if (x > 0.0) return g + l1;
  if (x < 0.0) return g - l1;
  if (g + l1 < 0.0) return g + l1;
  if (g - l1 > 0.0) return g - l1;
  return 0.0;
}

// One row of the full batch: its loss (unscaled, for the sum) and dz[c] = (1/n) dloss/dz[c]. z: (C) logits
// with the bias. The same per-row formula as every SGD step, scaled by the full batch's 1/n.
template <class T>
LOGREG_HD inline T objective_row(LossHead head, const T* z, int C, int label, T inv_n, T* dz) {
  return row_loss_grad<T>(head, z, C, label, inv_n, dz);
}

// The softmax head's row as objective_row gives it (the same loss and dz, bit for bit), and its probabilities
// p (C) = softmax(z), kept for Hessian-vector products at the same parameters (hessian_row needs no exp).
// Written as its exponentials (softmax_row_exps) and the rest of the row (softmax_row_from_exps), so that a
// backend can compute the exponentials of many rows at once.
template <class T>
LOGREG_HD inline T row_max(const T* z, int C) {
  T m = z[0];
  for (int c = 1; c < C; ++c) m = z[c] > m ? z[c] : m;
  return m;
}
// e (C) = exp(z - m), m = row_max(z, C).
template <class T>
LOGREG_HD inline void softmax_row_exps(const T* z, T m, int C, T* e) {
  using std::exp;
  for (int c = 0; c < C; ++c) e[c] = exp(z[c] - m);
}
// From e_dz (C) = exp(z - m) on entry: the row's loss, dz (C) in e_dz and, unless p is null, p (C).
template <class T>
LOGREG_HD inline T softmax_row_from_exps(const T* z, T m, int C, int label, T inv_n, T* e_dz, T* p) {
  using std::log;
  T s = T(0);
  for (int c = 0; c < C; ++c) s += e_dz[c];
  const T loss = log(s) + m - z[label];
  for (int c = 0; c < C; ++c) {
    const T pc = e_dz[c] / s;
    if (p != nullptr) p[c] = pc;
    e_dz[c] = inv_n * (pc - (c == label ? T(1) : T(0)));
  }
  return loss;
}
template <class T>
LOGREG_HD inline T objective_row_probs(const T* z, int C, int label, T inv_n, T* dz, T* p) {
  const T m = row_max(z, C);
  softmax_row_exps(z, m, C, dz);
  return softmax_row_from_exps(z, m, C, label, inv_n, dz, p);
}

// One row's part of the Hessian of the softmax head's mean loss times a direction V: with u (C) = V x + v_b,
// the direction's logits of the row, and p (C) the row's probabilities,
//   r_c = scale * p_c (u_c - sum_k p_k u_k),
// and the row adds x r^T to the weights' product and r to the bias's (scale 1/n for the mean).
template <class T>
LOGREG_HD inline void hessian_row(const T* p, const T* u, int C, T scale, T* r) {
  T pu = T(0);
  for (int k = 0; k < C; ++k) pu += p[k] * u[k];
  for (int c = 0; c < C; ++c) r[c] = scale * p[c] * (u[c] - pu);
}

// Weight j of W (never the bias): its penalty term l2 w^2 / 2 of f, and its penalised gradient
// df/dw = data_grad + l2 w.
template <class T>
LOGREG_HD inline T weight_penalty(T w, T l2) {
  return T(0.5) * l2 * w * w;
}
template <class T>
LOGREG_HD inline T penalised_weight_grad(T data_grad, T w, T l2) {
  return data_grad + l2 * w;
}

// The penalty over the n_weights weights that start `params`: returns sum_j weight_penalty and turns the data
// gradient grad[j] into penalised_weight_grad, in j order (every backend's full-batch objective ends here).
inline double add_weight_penalty(const double* params, double* grad, std::size_t n_weights, double l2) {
  double penalty = 0.0;
  if (l2 == 0.0) return penalty;
  for (std::size_t j = 0; j < n_weights; ++j) {
    penalty += weight_penalty(params[j], l2);
    grad[j] = penalised_weight_grad(grad[j], params[j], l2);
  }
  return penalty;
}

// The penalty's part of a Hessian-vector product: hv[j] += l2 v[j] over the n_weights weights, in j order.
inline void add_weight_penalty_hv(const double* v, double* hv, std::size_t n_weights, double l2) {
  if (l2 == 0.0) return;
  for (std::size_t j = 0; j < n_weights; ++j) hv[j] += l2 * v[j];
}

}  // namespace logreg
