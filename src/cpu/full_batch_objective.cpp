// FullBatchObjective (full_batch_objective.hpp): the fast CPU backend's full-batch objective and gradient, and
// its Hessian-vector product.
#include "full_batch_objective.hpp"

#include <algorithm>
#include <climits>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "logreg/errors.hpp"
#include "logreg/maths/objective_math.hpp"
#include "logreg/model.hpp"
#include "logreg/ranks.hpp"
#include "objective_loops.hpp"

namespace logreg::cpu {

namespace {

void check_row_count(std::size_t n) {
  if (n == 0 || n > static_cast<std::size_t>(INT32_MAX)) {
    throw UsageError("full_batch_objective: needs 1 to 2^31 - 1 rows, got " + std::to_string(n));
  }
}

void require_hessian(LossHead head) {
  if (head != LossHead::kSoftmax) {
    throw UsageError(std::string("--solver newton-cg needs the Hessian of --loss softmax; --loss ") +
                     loss_head_name(head) + " has none here (use --solver lbfgs)");
  }
}

// Doubles of a part's weight sums in parts_: (Ck, Dp), or none for CSR rows (their dz go to csr_dz_).
std::size_t gradient_floats(const ObjectiveShape& shape, bool csr) {
  return csr ? 0 : static_cast<std::size_t>(shape.Ck) * static_cast<std::size_t>(shape.Dp);
}

// The sizes one pass over n rows works with, shared by the objective and the Hessian-vector product.
struct PassSizes {
  int rows;
  int parts;  // the row ranges the pass is split into (kObjectiveParts, fewer for fewer rows)
  ObjectiveShape shape;
  std::size_t C;
  std::size_t padded;     // a part's weight sums (gradient_floats)
  std::size_t n_weights;  // C * D
  std::size_t n_params;   // C * D + C

  static PassSizes of(std::size_t n, int classes, int dim, bool csr) {
    check_row_count(n);
    const ObjectiveShape shape = ObjectiveShape::of(classes, dim);
    const std::size_t C = static_cast<std::size_t>(classes);
    const std::size_t n_weights = C * static_cast<std::size_t>(dim);
    const int rows = static_cast<int>(n);
    return {rows, std::min(FullBatchObjective::kObjectiveParts, rows), shape, C, gradient_floats(shape, csr),
            n_weights, n_weights + C};
  }
};

}  // namespace

void FullBatchObjective::take_rows(const ImageSet& images, const LabelSet& labels,
                                   const std::vector<std::uint32_t>& rows, int classes) {
  const std::size_t n = rows.size();
  check_row_count(n);
  if (rows == rows_) return;
  pixels_.resize(n);
  labels_.resize(n);
  // This rank's rows (all of them in a single process): under MPI a rank may hold only those (ranks.hpp); the
  // other positions keep no pixel pointer, as their parts are computed elsewhere.
  const std::pair<std::size_t, std::size_t> mine = ranks::rows_of(n, std::min(kObjectiveParts, static_cast<int>(n)));
  for (std::size_t i = 0; i < n; ++i) {
    if (rows[i] >= images.count) {
      throw DataError(images.path, "row " + std::to_string(rows[i]) + " is past the " + std::to_string(images.count) +
                                       " training images");
    }
    if (labels.labels[rows[i]] >= classes) {
      throw DataError(labels.path, "label " + std::to_string(labels.labels[rows[i]]) + " at row " +
                                       std::to_string(rows[i]) + " is not below the model's " +
                                       std::to_string(classes) + " classes");
    }
    const bool needed = i >= mine.first && i < mine.second;
    if (needed && !images.holds(rows[i])) {
      throw DataError(images.path, "row " + std::to_string(rows[i]) + " is not among the rows loaded on this rank");
    }
    pixels_[i] = needed ? images.image(rows[i]) : nullptr;
    labels_[i] = labels.labels[rows[i]];
  }
  rows_ = rows;
  for (KeptProbabilities& k : kept_) k.params.clear();  // of other rows
}

std::size_t FullBatchObjective::start_parts(int parts, const ObjectiveShape& shape, const ObjectiveRows& rows) {
  const std::size_t np = static_cast<std::size_t>(parts);
  const std::size_t tile_bytes = rows.tile_value_bytes();
  stride_ = gradient_floats(shape, rows.transposed()) + static_cast<std::size_t>(shape.C) + 1;
  parts_.resize(np * stride_);  // each part zeroes its own sums, on its thread
  scratch_.resize(np * ObjectiveScratch::size(shape));
  tile_bytes_ = tile_bytes;
  tiles_.resize(np * kObjectiveTileRows * static_cast<std::size_t>(shape.Dp) * tile_bytes);
  return stride_;
}


double* FullBatchObjective::part_gradient(std::size_t part, const ObjectiveRows& rows, int r0,
                                          const ObjectiveShape& shape) {
  if (!rows.transposed()) return parts_.data() + part * stride_;
  // Row r0 of this part at its first slot, so that row i's dz lands at the result + i * Ck.
  const std::size_t first_slot = CsrColumns::slot_of(static_cast<int>(part), columns_.part_rows, 0, 0);
  return csr_dz_.data() + (first_slot - static_cast<std::size_t>(r0)) * static_cast<std::size_t>(shape.Ck);
}

void FullBatchObjective::start_columns(const ObjectiveRows& rows, std::size_t n, int parts,
                                       const ObjectiveShape& shape) {
  if (!rows.transposed()) return;
  const std::size_t D = static_cast<std::size_t>(shape.D);
  if (!columns_.of(rows, n, D, parts)) columns_.build(rows, n, D, parts);
  csr_dz_.resize(static_cast<std::size_t>(parts) * static_cast<std::size_t>(columns_.part_rows) *
                 static_cast<std::size_t>(shape.Ck));
}

void FullBatchObjective::sum_columns(const ObjectiveRows& rows, const ObjectiveShape& shape, CpuSimd simd,
                                     ThreadTeam& team, double* out) {
  if (!rows.transposed()) return;
  const std::size_t part_floats = static_cast<std::size_t>(columns_.part_rows) * static_cast<std::size_t>(shape.Ck);
  ranks::allgather_parts(csr_dz_.data(), columns_.parts, part_floats);
  // Every rank sums every column (each holds all rows' dz now); the column ranges only share out the work.
  const int D = shape.D;
  const int ranges = std::min(kObjectiveParts, D);
  auto job = [&](int q) {
    csr_gradient_columns(simd, columns_, split_point(D, q, ranges), split_point(D, q + 1, ranges), shape,
                         csr_dz_.data(), out);
  };
  team.run(ranges, job, true);
}

ObjectiveScratch FullBatchObjective::scratch_of(std::size_t part, const ObjectiveShape& shape) {
  return ObjectiveScratch::in(scratch_.data() + part * ObjectiveScratch::size(shape),
                              tiles_.data() + part * kObjectiveTileRows * static_cast<std::size_t>(shape.Dp) * tile_bytes_,
                              shape);
}

void FullBatchObjective::pad_weights(const double* params, const ObjectiveShape& shape, bool transposed,
                                     std::vector<double>& out) {
  const std::size_t C = static_cast<std::size_t>(shape.C), D = static_cast<std::size_t>(shape.D);
  const std::size_t Ck = static_cast<std::size_t>(shape.Ck), Dp = static_cast<std::size_t>(shape.Dp);
  out.assign(Ck * Dp, 0.0);
  for (std::size_t c = 0; c < C; ++c) {
    if (transposed) {
      for (std::size_t d = 0; d < D; ++d) out[d * Ck + c] = params[c * D + d];
    } else {
      std::copy(params + c * D, params + (c + 1) * D, out.begin() + static_cast<std::ptrdiff_t>(c * Dp));
    }
  }
}

double FullBatchObjective::sum_parts(std::size_t np, const ObjectiveShape& shape, const ObjectiveRows& rows,
                                     double* out) const {
  // The parts' sums in part order, whatever the threads and ranks; pixel sums' 1/255 once per weight.
  const std::size_t C = static_cast<std::size_t>(shape.C);
  const std::size_t D = static_cast<std::size_t>(shape.D);
  const std::size_t Dp = static_cast<std::size_t>(shape.Dp);
  const bool pixels = rows.layout == RowLayout::kPixels;
  const std::size_t bias_at = stride_ - C - 1;
  if (!rows.transposed()) {  // CSR: sum_columns wrote the weights' gradient
    for (std::size_t c = 0; c < C; ++c) {
      double* o = out + c * D;
      for (std::size_t d = 0; d < D; ++d) {
        double sum = parts_[c * Dp + d];
        for (std::size_t p = 1; p < np; ++p) sum += parts_[p * stride_ + c * Dp + d];
        o[d] = pixels ? sum / 255.0 : sum;
      }
    }
  }
  for (std::size_t c = 0; c < C; ++c) {
    double sum_b = parts_[bias_at + c];
    for (std::size_t p = 1; p < np; ++p) sum_b += parts_[p * stride_ + bias_at + c];
    out[C * D + c] = sum_b;
  }
  double loss_sum = 0.0;
  for (std::size_t p = 0; p < np; ++p) loss_sum += parts_[p * stride_ + stride_ - 1];
  return loss_sum;
}

ObjectiveRows FullBatchObjective::pixel_rows() const {
  ObjectiveRows r;
  r.layout = RowLayout::kPixels;
  r.pixels = pixels_.data();
  r.labels = labels_.data();
  r.inv_total = 1.0 / static_cast<double>(rows_.size());
  return r;
}

double FullBatchObjective::evaluate(const ImageSet& images, const LabelSet& labels,
                                    const std::vector<std::uint32_t>& rows, const double* params, double l2,
                                    double* grad, LossHead head, int classes, int dim, CpuSimd simd,
                                    ThreadTeam& team) {
  take_rows(images, labels, rows, classes);
  return evaluate_rows(pixel_rows(), rows.size(), params, l2, grad, head, classes, dim, simd, team);
}

double FullBatchObjective::evaluate_rows(const ObjectiveRows& rows, std::size_t n, const double* params, double l2,
                                         double* grad, LossHead head, int classes, int dim, CpuSimd simd,
                                         ThreadTeam& team) {
  const PassSizes sizes = PassSizes::of(n, classes, dim, rows.transposed());
  const int ni = sizes.rows, parts = sizes.parts;
  const ObjectiveShape& shape = sizes.shape;
  const std::size_t C = sizes.C, padded = sizes.padded, n_weights = sizes.n_weights, n_params = sizes.n_params;
  pad_weights(params, shape, rows.transposed(), w_);
  const double* b = params + n_weights;
  // The softmax head keeps its rows' probabilities, in the least recently used of the two slots, once a
  // Hessian-vector product has asked for them (Newton-CG; an L-BFGS fit never reads them).
  KeptProbabilities* keep = nullptr;
  if (head == LossHead::kSoftmax && keep_probabilities_) {
    keep = kept_[0].used <= kept_[1].used ? &kept_[0] : &kept_[1];
    keep->params.clear();  // valid again only once the pass is done
  }
  // Only this rank's rows' probabilities (all rows in a single process): under N ranks about n / N of them.
  const std::pair<std::size_t, std::size_t> my_rows = ranks::rows_of(n, parts);
  const std::size_t first_row = my_rows.first;
  if (keep != nullptr) keep->probs.resize((my_rows.second - my_rows.first) * C);
  const std::size_t np = static_cast<std::size_t>(parts);
  const std::size_t stride = start_parts(parts, shape, rows);
  start_columns(rows, n, parts, shape);
  double* probs = keep != nullptr ? keep->probs.data() : nullptr;
  auto job = [&](int part) {
    const std::size_t p = static_cast<std::size_t>(part);
    double* sums = parts_.data() + p * stride;  // this part's (Ck, Dp) value sums (not for CSR), C bias sums, loss
    std::fill(sums, sums + stride, 0.0);
    const int r0 = split_point(ni, part, parts);
    double* part_probs = probs != nullptr ? probs + (static_cast<std::size_t>(r0) - first_row) * C : nullptr;
    sums[stride - 1] = objective_rows(simd, rows, r0, split_point(ni, part + 1, parts), head, shape, w_.data(), b,
                                      part_gradient(p, rows, r0, shape), sums + padded, part_probs,
                                      scratch_of(p, shape));
  };
  run_my_parts(parts, job, team);
  sum_columns(rows, shape, simd, team, grad);
  if (keep != nullptr) {
    keep->params.assign(params, params + n_params);
    keep->used = ++clock_;
  }

  const double loss_sum = sum_parts(np, shape, rows, grad);
  const double penalty = add_weight_penalty(params, grad, n_weights, l2);
  return loss_sum * rows.inv_total + penalty;
}

void FullBatchObjective::hessian_vector(const ImageSet& images, const LabelSet& labels,
                                        const std::vector<std::uint32_t>& rows, const double* params, double l2,
                                        const double* v, double* hv, LossHead head, int classes, int dim, CpuSimd simd,
                                        ThreadTeam& team) {
  require_hessian(head);
  take_rows(images, labels, rows, classes);
  hessian_vector_rows(pixel_rows(), rows.size(), params, l2, v, hv, head, classes, dim, simd, team);
}

void FullBatchObjective::hessian_vector_rows(const ObjectiveRows& rows, std::size_t n, const double* params,
                                             double l2, const double* v, double* hv, LossHead head, int classes,
                                             int dim, CpuSimd simd, ThreadTeam& team) {
  require_hessian(head);
  const PassSizes sizes = PassSizes::of(n, classes, dim, rows.transposed());
  const int ni = sizes.rows, parts = sizes.parts;
  const ObjectiveShape& shape = sizes.shape;
  const std::size_t C = sizes.C, padded = sizes.padded, n_weights = sizes.n_weights, n_params = sizes.n_params;
  auto kept_at = [&]() -> KeptProbabilities* {
    for (KeptProbabilities& k : kept_) {
      if (k.params.size() == n_params && std::memcmp(k.params.data(), params, n_params * sizeof(double)) == 0) return &k;
    }
    return nullptr;
  };
  keep_probabilities_ = true;
  KeptProbabilities* kept = kept_at();
  if (kept == nullptr) {  // a point not evaluated lately, or before the first product: evaluate it (its gradient
                          // is not needed)
    std::vector<double> unused(n_params);
    evaluate_rows(rows, n, params, l2, unused.data(), head, classes, dim, simd, team);
    kept = kept_at();
  }
  kept->used = ++clock_;
  pad_weights(v, shape, rows.transposed(), v_);
  const double* vb = v + n_weights;
  const std::size_t np = static_cast<std::size_t>(parts);
  const std::size_t stride = start_parts(parts, shape, rows);
  start_columns(rows, n, parts, shape);
  const double* probs = kept->probs.data();
  const std::size_t first_row = ranks::rows_of(n, parts).first;
  auto job = [&](int part) {
    const std::size_t p = static_cast<std::size_t>(part);
    std::fill(parts_.data() + p * stride, parts_.data() + (p + 1) * stride, 0.0);
    const int r0 = split_point(ni, part, parts);
    cpu::hessian_vector_rows(simd, rows, r0, split_point(ni, part + 1, parts), shape, v_.data(), vb,
                             probs + (static_cast<std::size_t>(r0) - first_row) * C, part_gradient(p, rows, r0, shape),
                             parts_.data() + p * stride + padded, scratch_of(p, shape));
  };
  run_my_parts(parts, job, team);
  sum_columns(rows, shape, simd, team, hv);
  sum_parts(np, shape, rows, hv);
  add_weight_penalty_hv(v, hv, n_weights, l2);
}

}  // namespace logreg::cpu
