// The full-batch objective over feature matrices (include/logreg/feature_model.hpp): on the reference, plain
// double loops over the rows' fixed parts, each in row order (dense rows converted once into a row buffer, CSR
// rows over their nonzeros), the parts added in part order;
// on the cpu device, the fast CPU backend's fused pass (cpu/full_batch_objective.hpp) over the rows in their
// stored layout; on the cuda device, the parts' sums of a FeaturePartSums (the CUDA module's), added here. The
// per-row loss and gradient are objective_row (objective_math.hpp), as for every backend.
// Their logits and evaluation: evaluation.cpp.
#include "logreg/feature_model.hpp"

#include <algorithm>
#include <stdexcept>

#include "full_batch_objective.hpp"
#include "logreg/errors.hpp"
#include "logreg/maths/objective_math.hpp"
#include "logreg/maths/row_math.hpp"
#include "logreg/maths/row_parts.hpp"
#include "logreg/part_sums.hpp"
#include "logreg/ranks.hpp"
#include "simd_kernels.hpp"

namespace logreg {
namespace {

// Calls fn(i, index, values, nnz) for every row i of [first, last) in order with its nonzeros in column order
// (dense rows converted to double, zeros skipped: a zero adds nothing to a sum).
template <class Fn>
void for_each_row(const FeatureMatrix& x, std::size_t first, std::size_t last, Fn&& fn) {
  const std::size_t D = x.cols;
  std::vector<double> row(x.sparse ? 0 : D);
  std::vector<std::uint32_t> nonzero;
  std::vector<double> nonzero_values;
  nonzero.reserve(x.sparse ? 0 : D);
  nonzero_values.reserve(x.sparse ? 0 : D);
  for (std::size_t i = first; i < last; ++i) {
    if (x.sparse) {
      const std::uint64_t k0 = x.row_start[i];
      fn(i, x.col_index.data() + k0, x.values.data() + k0, static_cast<std::size_t>(x.row_start[i + 1] - k0));
      continue;
    }
    x.row_to_double(i, row.data());
    nonzero.clear();
    nonzero_values.clear();
    for (std::size_t d = 0; d < D; ++d) {
      if (row[d] != 0.0) {
        nonzero.push_back(static_cast<std::uint32_t>(d));
        nonzero_values.push_back(row[d]);
      }
    }
    fn(i, nonzero.data(), nonzero_values.data(), nonzero.size());
  }
}

// W (C, D) of params transposed to (D, C), so that a feature's C products are contiguous (they vectorise).
std::vector<double> transposed_weights(const double* params, std::size_t C, std::size_t D) {
  std::vector<double> wt(D * C);
  for (std::size_t c = 0; c < C; ++c) {
    for (std::size_t d = 0; d < D; ++d) wt[d * C + c] = params[c * D + d];
  }
  return wt;
}

// z (C) = b + sum over the nonzeros of x_k W[:, index_k] (wt (D, C)), in column order.
void row_logits(const double* wt, const double* b, std::size_t C, const std::uint32_t* idx, const double* val,
                std::size_t nnz, double* z) {
  std::copy(b, b + C, z);
  for (std::size_t k = 0; k < nnz; ++k) {
    const double* w = wt + static_cast<std::size_t>(idx[k]) * C;
    for (std::size_t c = 0; c < C; ++c) z[c] += w[c] * val[k];
  }
}

// gt (D, C) += x r^T over the row's nonzeros, gt_b (C) += r.
void add_row_gradient(const double* r, std::size_t C, const std::uint32_t* idx, const double* val, std::size_t nnz,
                      double* gt, double* gt_b) {
  for (std::size_t k = 0; k < nnz; ++k) {
    double* g = gt + static_cast<std::size_t>(idx[k]) * C;
    for (std::size_t c = 0; c < C; ++c) g[c] += r[c] * val[k];
  }
  for (std::size_t c = 0; c < C; ++c) gt_b[c] += r[c];
}

// grad (C*D + C) = gt (D, C) transposed, then its bias part.
// Runs row(i, index, values, nnz, sums) for the rows of parts [first, last) of the n rows' fixed parts
// (maths/row_parts.hpp), each part's rows in row order into its own (stride) sums; sums is (last - first, stride).
template <class RowFn>
void for_rows_of_parts(const FeatureMatrix& x, int first, int last, std::size_t stride, double* sums, RowFn&& row) {
  const int n = static_cast<int>(x.rows);
  const int parts = full_batch_parts(x.rows);
  for (int p = first; p < last; ++p) {
    double* part = sums + static_cast<std::size_t>(p - first) * stride;
    for_each_row(x, static_cast<std::size_t>(part_start(n, p, parts)), static_cast<std::size_t>(part_start(n, p + 1, parts)),
                 [&](std::size_t i, const std::uint32_t* idx, const double* val, std::size_t nnz) { row(i, idx, val, nnz, part); });
  }
}

void untranspose(const std::vector<double>& gt, std::size_t C, std::size_t D, double* grad) {
  for (std::size_t c = 0; c < C; ++c) {
    for (std::size_t d = 0; d < D; ++d) grad[c * D + d] = gt[d * C + c];
    grad[C * D + c] = gt[C * D + c];
  }
}

}  // namespace

// The cpu device's rows as the fused pass reads them, kept for the whole fit.
struct FeatureObjective::Fused {
  cpu::ObjectiveRows rows;
  std::vector<const std::uint8_t*> pixels;
  std::vector<const float*> f32;
  std::vector<const double*> f64;
  std::vector<std::uint8_t> labels;
  cpu::FullBatchObjective objective;
  cpu::ThreadTeam* team = nullptr;
  CpuSimd simd = CpuSimd::kAuto;
};

FeatureObjective::FeatureObjective(const FeatureMatrix& x, const std::vector<std::uint32_t>& y, LossHead head,
                                   int num_classes, int parts, cpu::ThreadTeam* team, FeatureFitTerms terms,
                                   const FeaturePartsMaker& device)
    : x_(x), y_(y), head_(head), C_(num_classes), terms_(std::move(terms)) {
  if (x.rows == 0 || y.size() != x.rows) throw std::invalid_argument("FeatureObjective: rows and labels disagree");
  if (!terms_.row_weights.empty() && terms_.row_weights.size() != x.rows) {
    throw std::invalid_argument("FeatureObjective: one weight per row");
  }
  if (terms_.weight_total <= 0.0) terms_.weight_total = static_cast<double>(x.rows);
  if (device) {
    if (!x.holds_all_rows()) throw std::invalid_argument("FeatureObjective: a device takes every row of the matrix");
    device_ = device(x_, y_, head_, C_, terms_);
    return;
  }
  if (parts <= 1 || team == nullptr) return;
  if (x.rows > static_cast<std::size_t>(INT32_MAX) || C_ > 256) {
    throw UsageError("--device cpu: the fused objective takes at most 2^31 - 1 rows and 256 classes");
  }
  fused_ = std::make_unique<Fused>();
  Fused& f = *fused_;
  f.team = team;
  f.simd = cpu::resolve_simd(CpuSimd::kAuto);
  cpu::ObjectiveRows& r = f.rows;
  const std::size_t n = x.rows, D = x.cols;
  // A window of dense rows (an MPI rank's parts): the rows outside it are never read (null).
  const std::size_t first = x.first, last = x.first + x.loaded_rows();
  if (x.sparse) {
    if (!x.holds_all_rows()) throw std::invalid_argument("FeatureObjective: CSR rows are summed column by column over all");
    r.layout = cpu::RowLayout::kCsr;
    r.csr_start = x.row_start.data();
    r.csr_index = x.col_index.data();
    r.csr_values = x.values.data();
  } else if (x.dtype == FeatureDtype::kUint8) {
    r.layout = cpu::RowLayout::kPixels;
    f.pixels.assign(n, nullptr);
    for (std::size_t i = first; i < last; ++i) f.pixels[i] = x.dense.data() + (i - first) * D;
    r.pixels = f.pixels.data();
  } else if (x.dtype == FeatureDtype::kFloat32) {
    r.layout = cpu::RowLayout::kFloat32;
    f.f32.assign(n, nullptr);
    const float* base = reinterpret_cast<const float*>(x.dense.data());
    for (std::size_t i = first; i < last; ++i) f.f32[i] = base + (i - first) * D;
    r.f32 = f.f32.data();
  } else {
    r.layout = cpu::RowLayout::kFloat64;
    f.f64.assign(n, nullptr);
    const double* base = reinterpret_cast<const double*>(x.dense.data());
    for (std::size_t i = first; i < last; ++i) f.f64[i] = base + (i - first) * D;
    r.f64 = f.f64.data();
  }
  f.labels.resize(n);
  for (std::size_t i = 0; i < n; ++i) f.labels[i] = static_cast<std::uint8_t>(y[i]);
  r.labels = f.labels.data();
  r.weights = terms_.row_weights.empty() ? nullptr : terms_.row_weights.data();
  r.inv_total = 1.0 / terms_.weight_total;
}

FeatureObjective::~FeatureObjective() = default;

const double* FeatureObjective::with_bias(const double* params, std::vector<double>& out) const {
  if (terms_.intercept) return params;
  const std::size_t n_weights = x_.cols * static_cast<std::size_t>(C_);
  out.assign(n_weights + static_cast<std::size_t>(C_), 0.0);
  std::copy(params, params + n_weights, out.begin());
  return out.data();
}

double FeatureObjective::operator()(const double* params, double l2, double* grad) {
  const double* full = with_bias(params, full_params_);
  double* g = grad;
  if (!terms_.intercept) {
    full_grad_.resize(x_.cols * static_cast<std::size_t>(C_) + static_cast<std::size_t>(C_));
    g = full_grad_.data();
  }
  double f = 0.0;
  if (device_) {
    const std::size_t n_weights = x_.cols * static_cast<std::size_t>(C_);
    f = objective_from_parts(
        x_.rows, terms_.weight_total, n_weights + static_cast<std::size_t>(C_), n_weights, ranks::part_share(),
        device_sums_, [&](int first, int last, double* sums) { device_->part_sums(first, last, full, sums); }, full,
        l2, g);
  } else if (fused_) {
    f = fused_->objective.evaluate_rows(fused_->rows, x_.rows, full, l2, g, head_, C_, static_cast<int>(x_.cols),
                                        fused_->simd, *fused_->team);
  } else {
    f = reference(full, l2, g);
  }
  if (!terms_.intercept) std::copy(g, g + parameter_count(), grad);  // the bias's gradient dropped
  return f;
}

void FeatureObjective::hessian_vector(const double* params, double l2, const double* v, double* hv) {
  if (head_ != LossHead::kSoftmax) {
    throw UsageError(std::string("--solver newton-cg needs the Hessian of --loss softmax; --loss ") +
                     loss_head_name(head_) + " has none here (use --solver lbfgs)");
  }
  if (device_) {
    throw UsageError("--solver newton-cg: the Hessian-vector product of a feature file's objective runs on --device "
                     "cpu or reference, not on " + device_->name() + " (use --solver lbfgs)");
  }
  const double* full = with_bias(params, full_params_);
  const double* fv = with_bias(v, full_v_);
  double* h = hv;
  if (!terms_.intercept) {
    full_grad_.resize(x_.cols * static_cast<std::size_t>(C_) + static_cast<std::size_t>(C_));
    h = full_grad_.data();
  }
  if (fused_) {
    fused_->objective.hessian_vector_rows(fused_->rows, x_.rows, full, l2, fv, h, head_, C_, static_cast<int>(x_.cols),
                                          fused_->simd, *fused_->team);
  } else {
    reference_hessian_vector(full, l2, fv, h);
  }
  if (!terms_.intercept) std::copy(h, h + parameter_count(), hv);
}

// The rows' fixed parts (maths/row_parts.hpp), each part's rows in row order: each logit and each gradient element
// summed over the row's nonzeros in column order; the parts' sums added in part order, after the MPI ranks'
// exchange (part_sums.hpp; for uint8 rows the same values as the CPU reference's IDX objective).
double FeatureObjective::reference(const double* params, double l2, double* grad) const {
  const std::size_t D = x_.cols, C = static_cast<std::size_t>(C_);
  const std::size_t P = C * D + C;
  const std::vector<double> wt = transposed_weights(params, C, D);
  const double* b = params + C * D;
  const double inv_total = 1.0 / terms_.weight_total;
  const double* weights = terms_.row_weights.empty() ? nullptr : terms_.row_weights.data();
  std::vector<double> gt(P + 1), z(C), dz(C), sums;  // gt: (D, C) weight sums, C bias sums, then the loss sum
  auto row = [&](std::size_t i, const std::uint32_t* idx, const double* val, std::size_t nnz, double* part) {
    row_logits(wt.data(), b, C, idx, val, nnz, z.data());
    const double scale = weights != nullptr ? weights[i] * inv_total : inv_total;
    const double loss = objective_row<double>(head_, z.data(), C_, static_cast<int>(y_[i]), scale, dz.data());
    part[P] += weights != nullptr ? weights[i] * loss : loss;
    add_row_gradient(dz.data(), C, idx, val, nnz, part, part + C * D);
  };
  sum_row_parts(x_.rows, P + 1, P + 1, ranks::part_share(), sums,
                [&](int first, int last, double* out) { for_rows_of_parts(x_, first, last, P + 1, out, row); }, gt.data());
  untranspose(gt, C, D, grad);
  return gt[P] * inv_total + add_weight_penalty(params, grad, C * D, l2);
}

// The Hessian-vector product in the same parts, each row's probabilities recomputed at params.
void FeatureObjective::reference_hessian_vector(const double* params, double l2, const double* v, double* hv) const {
  const std::size_t D = x_.cols, C = static_cast<std::size_t>(C_);
  const std::size_t P = C * D + C;
  const std::vector<double> wt = transposed_weights(params, C, D), vt = transposed_weights(v, C, D);
  const double inv_total = 1.0 / terms_.weight_total;
  const double* weights = terms_.row_weights.empty() ? nullptr : terms_.row_weights.data();
  std::vector<double> gt(P), z(C), dz(C), p(C), u(C), r(C), sums;
  auto row = [&](std::size_t i, const std::uint32_t* idx, const double* val, std::size_t nnz, double* part) {
    row_logits(wt.data(), params + C * D, C, idx, val, nnz, z.data());
    const double scale = weights != nullptr ? weights[i] * inv_total : inv_total;
    objective_row_probs<double>(z.data(), C_, static_cast<int>(y_[i]), scale, dz.data(), p.data());
    row_logits(vt.data(), v + C * D, C, idx, val, nnz, u.data());
    hessian_row<double>(p.data(), u.data(), C_, scale, r.data());
    add_row_gradient(r.data(), C, idx, val, nnz, part, part + C * D);
  };
  sum_row_parts(x_.rows, P, P, ranks::part_share(), sums,
                [&](int first, int last, double* out) { for_rows_of_parts(x_, first, last, P, out, row); }, gt.data());
  untranspose(gt, C, D, hv);
  add_weight_penalty_hv(v, hv, C * D, l2);
}

}  // namespace logreg
