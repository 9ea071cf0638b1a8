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

double FullBatchObjective::evaluate(const ImageSet& images, const LabelSet& labels,
                                    const std::vector<std::uint32_t>& rows, const double* params, double l2,
                                    double* grad, LossHead head, int classes, int dim, CpuSimd simd,
                                    ThreadTeam& team) {
  const std::size_t n = rows.size();
  if (n == 0 || n > static_cast<std::size_t>(INT32_MAX)) {
    throw UsageError("full_batch_objective: needs 1 to 2^31 - 1 rows, got " + std::to_string(n));
  }
  const int ni = static_cast<int>(n);
  const ObjectiveShape shape = ObjectiveShape::of(classes, dim);
  const std::size_t C = static_cast<std::size_t>(classes);
  const std::size_t D = static_cast<std::size_t>(dim);
  const std::size_t Dp = static_cast<std::size_t>(shape.Dp);
  const std::size_t padded = static_cast<std::size_t>(shape.Ck) * Dp;
  const std::size_t n_weights = C * D;
  if (rows != rows_) {
    pixels_.resize(n);
    labels_.resize(n);
    for (std::size_t i = 0; i < n; ++i) {
      if (rows[i] >= images.count) {
        throw DataError(images.path, "row " + std::to_string(rows[i]) + " is past the " +
                                         std::to_string(images.count) + " training images");
      }
      if (labels.labels[rows[i]] >= classes) {
        throw DataError(labels.path, "label " + std::to_string(labels.labels[rows[i]]) + " at row " +
                                         std::to_string(rows[i]) + " is not below the model's " +
                                         std::to_string(classes) + " classes");
      }
      pixels_[i] = images.image(rows[i]);
      labels_[i] = labels.labels[rows[i]];
    }
    rows_ = rows;
  }
  w_.assign(padded, 0.0);  // W zero-padded to (Ck, Dp)
  for (std::size_t c = 0; c < C; ++c) std::copy(params + c * D, params + (c + 1) * D, w_.begin() + c * Dp);
  const double* b = params + n_weights;
  const int parts = std::min(kObjectiveParts, ni);
  const std::size_t np = static_cast<std::size_t>(parts);
  g_.assign(np * padded, 0.0);
  gb_.assign(np * C, 0.0);
  const std::size_t scratch_size = ObjectiveScratch::size(shape);
  scratch_.resize(np * scratch_size);
  tiles_.resize(np * kObjectiveTileRows * Dp);
  std::vector<double> loss(np, 0.0);
  const double inv_n = 1.0 / static_cast<double>(n);
  auto job = [&](int part) {
    const std::size_t p = static_cast<std::size_t>(part);
    loss[p] = objective_rows(simd, pixels_.data(), labels_.data(), split_point(ni, part, parts),
                             split_point(ni, part + 1, parts), head, shape, w_.data(), b, inv_n, g_.data() + p * padded,
                             gb_.data() + p * C, ObjectiveScratch::in(scratch_.data() + p * scratch_size,
                                                                tiles_.data() + p * kObjectiveTileRows * Dp, shape));
  };
  team.run(parts, job, true);

  // The parts' sums in part order, whatever the threads; the pixel sums' 1/255 once per weight.
  double loss_sum = 0.0;
  for (std::size_t p = 0; p < np; ++p) loss_sum += loss[p];
  for (std::size_t c = 0; c < C; ++c) {
    double* out = grad + c * D;
    for (std::size_t d = 0; d < D; ++d) {
      double sum = g_[c * Dp + d];
      for (std::size_t p = 1; p < np; ++p) sum += g_[p * padded + c * Dp + d];
      out[d] = sum / 255.0;
    }
    double sum_b = gb_[c];
    for (std::size_t p = 1; p < np; ++p) sum_b += gb_[p * C + c];
    grad[n_weights + c] = sum_b;
  }
  const double penalty = add_weight_penalty(params, grad, n_weights, l2);
  return loss_sum * inv_n + penalty;
}

}  // namespace logreg::cpu
