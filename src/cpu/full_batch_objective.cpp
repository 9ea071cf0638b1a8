// FullBatchObjective (full_batch_objective.hpp): the fast CPU backend's full-batch objective and gradient.
#include "full_batch_objective.hpp"

#include <algorithm>
#include <climits>
#include <cstdint>
#include <string>
#include <vector>

#include "logreg/errors.hpp"
#include "logreg/maths/objective_math.hpp"
#include "objective_loops.hpp"

namespace logreg::cpu {
namespace {

constexpr int kObjectiveParts = 8;  // fixed row ranges (results independent of the threads)

}  // namespace

double FullBatchObjective::evaluate(const ImageSet& images, const LabelSet& labels,
                                    const std::vector<std::uint32_t>& rows, const double* params, double l2,
                                    double* grad, LossHead head, int classes, int dim, ThreadTeam& team) {
  const std::size_t n = rows.size();
  if (n == 0 || n > static_cast<std::size_t>(INT32_MAX)) {
    throw UsageError("full_batch_objective: needs 1 to 2^31 - 1 rows, got " + std::to_string(n));
  }
  const int ni = static_cast<int>(n);
  const std::size_t C = static_cast<std::size_t>(classes);
  const std::size_t D = static_cast<std::size_t>(dim);
  const std::size_t Cp = (C + kObjectiveClassLanes - 1) / kObjectiveClassLanes * kObjectiveClassLanes;
  const std::size_t n_weights = C * D;
  std::vector<const std::uint8_t*> px(n);
  std::vector<std::uint8_t> y(n);
  for (std::size_t i = 0; i < n; ++i) {
    if (rows[i] >= images.count) {
      throw DataError(images.path, "row " + std::to_string(rows[i]) + " is past the " +
                                       std::to_string(images.count) + " training images");
    }
    px[i] = images.image(rows[i]);
    y[i] = labels.labels[rows[i]];
  }
  std::vector<double> wt(D * Cp, 0.0), b(Cp, 0.0);  // W transposed, classes zero-padded
  for (std::size_t c = 0; c < C; ++c) {
    for (std::size_t d = 0; d < D; ++d) wt[d * Cp + c] = params[c * D + d];
    b[c] = params[n_weights + c];
  }
  if (rows != sparse_rows_) list_nonzero_pixels(rows, px, dim);
  const SparseRows sparse_view{sparse_offsets_.data(), sparse_cols_.data(), sparse_pixels_.data()};
  const int parts = std::min(kObjectiveParts, ni);
  std::vector<double> gwt(static_cast<std::size_t>(parts) * D * Cp, 0.0);
  std::vector<double> gb(static_cast<std::size_t>(parts) * Cp, 0.0);
  std::vector<double> loss(static_cast<std::size_t>(parts), 0.0);
  const double inv_n = 1.0 / static_cast<double>(n);
  auto job = [&](int part) {
    const std::size_t p = static_cast<std::size_t>(part);
    loss[p] = objective_rows(px.data(), &sparse_view, y.data(), split_point(ni, part, parts),
                             split_point(ni, part + 1, parts), head, classes, static_cast<int>(Cp), dim, wt.data(),
                             b.data(), inv_n, gwt.data() + p * D * Cp, gb.data() + p * Cp);
  };
  team.run(parts, job, true);

  double loss_sum = 0.0;
  std::fill(grad, grad + n_weights + C, 0.0);
  for (std::size_t p = 0; p < static_cast<std::size_t>(parts); ++p) {  // in part order, whatever the threads
    loss_sum += loss[p];
    const double* g = gwt.data() + p * D * Cp;
    for (std::size_t c = 0; c < C; ++c) {
      double* out = grad + c * D;
      for (std::size_t d = 0; d < D; ++d) out[d] += g[d * Cp + c];
      grad[n_weights + c] += gb[p * Cp + c];
    }
  }
  const double penalty = add_weight_penalty(params, grad, n_weights, l2);
  return loss_sum * inv_n + penalty;
}

// The rows' nonzero pixels, about 5 bytes per nonzero pixel.
void FullBatchObjective::list_nonzero_pixels(const std::vector<std::uint32_t>& rows,
                                             const std::vector<const std::uint8_t*>& px, int D) {
  sparse_offsets_.assign(rows.size() + 1, 0);
  sparse_cols_.clear();
  sparse_pixels_.clear();
  for (std::size_t i = 0; i < rows.size(); ++i) {
    for (int d = 0; d < D; ++d) {
      if (px[i][d] == 0) continue;
      sparse_cols_.push_back(static_cast<std::uint32_t>(d));
      sparse_pixels_.push_back(px[i][d]);
    }
    sparse_offsets_[i + 1] = sparse_cols_.size();
  }
  sparse_rows_ = rows;
}

}  // namespace logreg::cpu
