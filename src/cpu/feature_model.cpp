// The full-batch objective over feature matrices (include/logreg/feature_model.hpp): plain double loops per
// row, dense rows converted once into a row buffer, CSR rows over their nonzeros; the per-row loss and gradient
// are objective_row (objective_math.hpp), as for every backend. Their logits and evaluation: evaluation.cpp.
#include "logreg/feature_model.hpp"

#include <algorithm>
#include <stdexcept>

#include "logreg/maths/objective_math.hpp"

namespace logreg {

FeatureObjective::FeatureObjective(const FeatureMatrix& x, const std::vector<std::uint32_t>& y, LossHead head,
                                   int num_classes, int parts, cpu::ThreadTeam* team)
    : x_(x), y_(y), head_(head), C_(num_classes), parts_(std::max(1, std::min<int>(parts, static_cast<int>(x.rows)))),
      team_(team) {
  if (x.rows == 0 || y.size() != x.rows) throw std::invalid_argument("FeatureObjective: rows and labels disagree");
  part_grads_.resize(static_cast<std::size_t>(parts_));
  part_losses_.assign(static_cast<std::size_t>(parts_), 0.0);
}

// One part's rows into its gradient `gt`, kept transposed: (D, C) for the weights, then (C) for the bias, so that
// a feature's C products are contiguous (they vectorise). `wt` is W transposed the same way. Each logit and
// each gradient element is still summed over the row's features in feature order, and over the rows in row
// order: the same values as the untransposed loops (and as the CPU reference's IDX objective).
void FeatureObjective::part(int p, const double* wt, const double* b, double* gt, double* loss) const {
  const std::size_t D = x_.cols, C = static_cast<std::size_t>(C_);
  const std::size_t begin = x_.rows * static_cast<std::size_t>(p) / static_cast<std::size_t>(parts_);
  const std::size_t end = x_.rows * static_cast<std::size_t>(p + 1) / static_cast<std::size_t>(parts_);
  const double inv_n = 1.0 / static_cast<double>(x_.rows);
  double* gt_b = gt + C * D;
  std::fill(gt, gt + C * D + C, 0.0);
  std::vector<double> row(x_.sparse ? 0 : D), z(C), dz(C);
  std::vector<std::uint32_t> nonzero;
  std::vector<double> nonzero_values;
  nonzero.reserve(x_.sparse ? 0 : D);
  nonzero_values.reserve(x_.sparse ? 0 : D);
  double sum = 0.0;
  for (std::size_t i = begin; i < end; ++i) {
    // The row's nonzeros in feature order: a zero adds nothing to a sum (images are mostly zeros).
    const std::uint32_t* idx = nullptr;
    const double* val = nullptr;
    std::size_t nnz = 0;
    if (x_.sparse) {
      const std::uint64_t k0 = x_.row_start[i];
      idx = x_.col_index.data() + k0;
      val = x_.values.data() + k0;
      nnz = static_cast<std::size_t>(x_.row_start[i + 1] - k0);
    } else {
      x_.row_to_double(i, row.data());
      nonzero.clear();
      nonzero_values.clear();
      for (std::size_t d = 0; d < D; ++d) {
        if (row[d] != 0.0) {
          nonzero.push_back(static_cast<std::uint32_t>(d));
          nonzero_values.push_back(row[d]);
        }
      }
      idx = nonzero.data();
      val = nonzero_values.data();
      nnz = nonzero.size();
    }
    std::copy(b, b + C, z.begin());
    for (std::size_t k = 0; k < nnz; ++k) {
      const double* w = wt + static_cast<std::size_t>(idx[k]) * C;
      const double v = val[k];
      for (std::size_t c = 0; c < C; ++c) z[c] += w[c] * v;
    }
    sum += objective_row<double>(head_, z.data(), C_, static_cast<int>(y_[i]), inv_n, dz.data());
    for (std::size_t k = 0; k < nnz; ++k) {
      double* g = gt + static_cast<std::size_t>(idx[k]) * C;
      const double v = val[k];
      for (std::size_t c = 0; c < C; ++c) g[c] += dz[c] * v;
    }
    for (std::size_t c = 0; c < C; ++c) gt_b[c] += dz[c];
  }
  *loss = sum;
}

double FeatureObjective::operator()(const double* params, double l2, double* grad) {
  const std::size_t D = x_.cols, C = static_cast<std::size_t>(C_);
  const std::size_t n_params = parameter_count();
  wt_.resize(D * C);
  for (std::size_t c = 0; c < C; ++c) {
    for (std::size_t d = 0; d < D; ++d) wt_[d * C + c] = params[c * D + d];
  }
  for (auto& g : part_grads_) g.resize(n_params);
  auto job = [&](int p) {
    part(p, wt_.data(), params + C * D, part_grads_[static_cast<std::size_t>(p)].data(),
         &part_losses_[static_cast<std::size_t>(p)]);
  };
  if (team_ != nullptr && parts_ > 1) {
    team_->run(parts_, job, true);
  } else {
    for (int p = 0; p < parts_; ++p) job(p);
  }
  // The parts in part order into part 0's gradient, then back to the (C, D) layout of params.
  std::vector<double>& total = part_grads_[0];
  double loss = part_losses_[0];
  for (int p = 1; p < parts_; ++p) {
    const std::vector<double>& g = part_grads_[static_cast<std::size_t>(p)];
    for (std::size_t j = 0; j < n_params; ++j) total[j] += g[j];
    loss += part_losses_[static_cast<std::size_t>(p)];
  }
  for (std::size_t c = 0; c < C; ++c) {
    for (std::size_t d = 0; d < D; ++d) grad[c * D + d] = total[d * C + c];
    grad[C * D + c] = total[C * D + c];
  }
  const double inv_n = 1.0 / static_cast<double>(x_.rows);
  return loss * inv_n + add_weight_penalty(params, grad, C * D, l2);
}

}  // namespace logreg
