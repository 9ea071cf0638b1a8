// The full-batch objective from its row parts' sums (maths/row_parts.hpp), for the engines that compute it part
// by part (the reference and CUDA engines; the fast CPU engine runs the same parts on its thread team,
// full_batch_objective.hpp): which parts this process computes and the exchange that gives it the others'
// (PartShare: all parts and no exchange in a single process, ranks::part_share() under MPI ranks), and the sums
// added in part order, then the penalty. Every process then holds the single process's objective, bit for bit.
// Not here: a part's own loops (the engines'), MPI itself (src/mpi/).
#pragma once

#include <cstddef>
#include <utility>
#include <vector>

#include "logreg/maths/objective_math.hpp"
#include "logreg/maths/row_parts.hpp"

namespace logreg {

// How the parts are shared out over processes. Plain function pointers, so that the CUDA run-time module (which
// links its own copy of the core library, without the executable's MPI state) calls the executable's ranks.
struct PartShare {
  // [first, last) of `parts` parts that this process computes; nullptr: all of them.
  std::pair<int, int> (*parts_of)(int parts) = nullptr;
  // sums is (parts, stride); this process filled its parts_of rows; on return it holds every part's (the
  // other processes' filled in). nullptr: nothing to exchange.
  void (*allgather)(double* sums, int parts, std::size_t stride) = nullptr;

  std::pair<int, int> mine(int parts) const { return parts_of != nullptr ? parts_of(parts) : std::pair<int, int>{0, parts}; }
  void exchange(double* sums, int parts, std::size_t stride) const {
    if (allgather != nullptr) allgather(sums, parts, stride);
  }
};

// sums (parts, stride) = every part's sums, parts = full_batch_parts(n): compute(first, last, sums + first *
// stride) fills this process's parts [first, last) (their rows zeroed before), then the exchange gives it the
// others'. Then out[j] = sum over the parts, in part order, of sums[p][j], for j < count (count <= stride).
template <typename ComputeParts>
void sum_row_parts(std::size_t n, std::size_t stride, std::size_t count, const PartShare& share,
                   std::vector<double>& sums, ComputeParts&& compute, double* out) {
  const int parts = full_batch_parts(n);
  sums.assign(static_cast<std::size_t>(parts) * stride, 0.0);
  const std::pair<int, int> mine = share.mine(parts);
  if (mine.first < mine.second) compute(mine.first, mine.second, sums.data() + static_cast<std::size_t>(mine.first) * stride);
  share.exchange(sums.data(), parts, stride);
  for (std::size_t j = 0; j < count; ++j) {
    double s = 0.0;
    for (int p = 0; p < parts; ++p) s += sums[static_cast<std::size_t>(p) * stride + j];
    out[j] = s;
  }
}

// The objective (maths/objective_math.hpp) over n rows from its parts: each part's sums are (n_params + 1)
// doubles, its rows' data gradient (already scaled by 1/total) and then their loss sum (not divided by total);
// total is n, or the sum of the sample weights of a weighted fit (whose rows' losses the parts weight). grad
// (n_params) receives the gradient, the penalty on the n_weights weights included; returns f.
template <typename ComputeParts>
double objective_from_parts(std::size_t n, double total, std::size_t n_params, std::size_t n_weights,
                            const PartShare& share, std::vector<double>& sums, ComputeParts&& compute,
                            const double* params, double l2, double* grad) {
  std::vector<double> summed(n_params + 1);
  sum_row_parts(n, n_params + 1, n_params + 1, share, sums, compute, summed.data());
  for (std::size_t j = 0; j < n_params; ++j) grad[j] = summed[j];
  const double penalty = add_weight_penalty(params, grad, n_weights, l2);
  return summed[n_params] * (1.0 / total) + penalty;
}

// The Hessian-vector product from its parts: each part's sums are its rows' (n_params) share of H v; hv
// receives their sum in part order plus the penalty's l2 v on the weights.
template <typename ComputeParts>
void hessian_vector_from_parts(std::size_t n, std::size_t n_params, std::size_t n_weights, const PartShare& share,
                               std::vector<double>& sums, ComputeParts&& compute, const double* v, double l2,
                               double* hv) {
  sum_row_parts(n, n_params, n_params, share, sums, compute, hv);
  add_weight_penalty_hv(v, hv, n_weights, l2);
}

}  // namespace logreg
