// The CPU reference engines: the SGD backend (one step at a time with plain loops, float32 parameters and every
// sum (logits, gradients, losses) in double) and the full-batch engine (the objective and its Hessian-vector
// product in double, each of the fixed row parts in row order, the parts added in part order, part_sums.hpp). The
// per-row maths comes from row_math.hpp and objective_math.hpp.
#include "logreg/cpu_reference.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

#include "logreg/errors.hpp"
#include "logreg/feature_sgd.hpp"
#include "logreg/maths/objective_math.hpp"
#include "logreg/maths/row_math.hpp"
#include "logreg/maths/row_parts.hpp"
#include "logreg/part_sums.hpp"
#include "logreg/ranks.hpp"
#include "logit_rows.hpp"

namespace logreg {
namespace {

// logits (C) = W x + b in double (the reference logit's sum, logit_rows.hpp, not rounded to float). x: (D).
void reference_logits(const Model& m, const float* x, double* z) {
  const std::size_t D = static_cast<std::size_t>(m.input_dim);
  for (int c = 0; c < m.num_classes; ++c) {
    z[c] = cpu::reference_logit(m.weights.data() + static_cast<std::size_t>(c) * D, m.bias[c], D,
                                [&](std::size_t d) { return static_cast<double>(x[d]); });
  }
}

constexpr const char* kReferenceName = "cpu-reference (double accumulation)";

// The SGD backend over IDX pixels (x = pixel_to_unit<float>) or over a feature file's float32 rows (with their
// per-row weights and intercept); every step is reference_sgd_step.
class CpuReferenceBackend final : public TrainerBackend {
 public:
  CpuReferenceBackend(const ImageSet& images, const LabelSet& labels, const Model& initial,
                      const OptimizerConfig& optimizer, const std::vector<float>& velocity)
      : images_(&images), labels_(&labels), model_(initial), optimizer_(optimizer), velocity_(velocity) {
    check_set_fits_model(model_, images, labels);
    init_velocity();
  }

  CpuReferenceBackend(const FeatureRows& rows, const Model& initial, const OptimizerConfig& optimizer,
                      const std::vector<float>& velocity)
      : features_(&rows), labels_(&rows.labels), model_(initial), optimizer_(optimizer), velocity_(velocity) {
    check_feature_rows_fit_model(model_, rows);
    if (!rows.terms.intercept) std::fill(model_.bias.begin(), model_.bias.end(), 0.0f);
    init_velocity();
  }

  std::string name() const override { return kReferenceName; }

  Totals train_epoch(const std::vector<std::uint32_t>& order, int batch_size, float lr) override {
    const std::size_t D = static_cast<std::size_t>(model_.input_dim);
    const std::size_t count = labels_->count();
    Totals totals;
    std::vector<float> x(static_cast<std::size_t>(batch_size) * D);
    std::vector<std::uint8_t> y(static_cast<std::size_t>(batch_size));
    std::vector<double> w(features_ != nullptr && !features_->terms.row_weights.empty() ? static_cast<std::size_t>(batch_size) : 0);
    const bool intercept = features_ == nullptr || features_->terms.intercept;
    for (std::size_t start = 0; start < order.size(); start += static_cast<std::size_t>(batch_size)) {
      const int n = static_cast<int>(std::min<std::size_t>(static_cast<std::size_t>(batch_size), order.size() - start));
      for (int i = 0; i < n; ++i) {
        const std::uint32_t row = order[start + static_cast<std::size_t>(i)];
        if (row >= count) {
          throw DataError(labels_->path, "row " + std::to_string(row) + " is past the " + std::to_string(count) +
                                             " training rows");
        }
        float* xi = x.data() + static_cast<std::size_t>(i) * D;
        if (features_ != nullptr) {
          std::copy_n(features_->row(row), D, xi);
          if (!w.empty()) w[static_cast<std::size_t>(i)] = features_->weight(row);
        } else {
          const std::uint8_t* px = images_->image(row);
          for (std::size_t d = 0; d < D; ++d) xi[d] = pixel_to_unit<float>(px[d]);
        }
        y[static_cast<std::size_t>(i)] = labels_->labels[row];
      }
      const Totals step = reference_sgd_step(model_, x.data(), y.data(), n, lr, nullptr, nullptr, nullptr, nullptr,
                                             optimizer_, velocity_.empty() ? nullptr : velocity_.data(),
                                             w.empty() ? nullptr : w.data(), intercept);
      totals.add_step(step);
    }
    return totals;
  }

  Totals evaluate(const ImageSet& images, const LabelSet& labels) override {
    return reference_evaluate(model_, images, labels);
  }

  Model model() const override { return model_; }
  void set_model(const Model& m) override {
    if (m.weights.size() != model_.weights.size() || m.bias.size() != model_.bias.size()) {
      throw UsageError("set_model: the model's shape is not the backend's");
    }
    model_.weights = m.weights;
    model_.bias = m.bias;
  }
  std::vector<float> optimizer_state() const override { return optimizer_.momentum != 0.0f ? velocity_ : std::vector<float>{}; }

 private:
  void init_velocity() {
    const std::size_t state = model_.weights.size() + model_.bias.size();
    if (optimizer_.momentum != 0.0f && velocity_.empty()) velocity_.assign(state, 0.0f);
    if (!velocity_.empty() && velocity_.size() != state) {
      throw DataError("", "optimizer state has " + std::to_string(velocity_.size()) + " values, the model needs " +
                              std::to_string(state));
    }
  }

  const ImageSet* images_ = nullptr;      // IDX pixels, or
  const FeatureRows* features_ = nullptr;  // feature rows
  const LabelSet* labels_ = nullptr;       // the training rows' classes
  Model model_;
  OptimizerConfig optimizer_;
  std::vector<float> velocity_;  // (C*D + C) when momentum is on
};

// The full-batch engine: the training set and the model's shape, nothing else. Under MPI ranks it computes its
// rank's parts of the objective and receives the others' (ranks::part_share()).
class CpuReferenceFullBatch final : public FullBatchEngine {
 public:
  CpuReferenceFullBatch(const ImageSet& images, const LabelSet& labels, const Model& shape)
      : images_(images), labels_(labels), head_(shape.head), classes_(shape.num_classes) {
    check_set_fits_model(shape, images_, labels_);
  }

  std::string name() const override { return kReferenceName; }

  double full_batch_objective(const std::vector<std::uint32_t>& rows, const double* params, double l2,
                              double* grad) override {
    return reference_full_batch_objective(images_, labels_, rows, head_, classes_, params, l2, grad, ranks::part_share());
  }

  void full_batch_hessian_vector(const std::vector<std::uint32_t>& rows, const double* params, double l2,
                                 const double* v, double* hv) override {
    reference_full_batch_hessian_vector(images_, labels_, rows, head_, classes_, params, l2, v, hv, ranks::part_share());
  }

 private:
  const ImageSet& images_;
  const LabelSet& labels_;
  LossHead head_;
  int classes_;
};

}  // namespace

Totals reference_evaluate(const Model& model, const ImageSet& images, const LabelSet& labels) {
  check_set_fits_model(model, images, labels);
  const std::size_t D = images.dim();
  std::vector<float> x(D);
  std::vector<double> z(static_cast<std::size_t>(model.num_classes));
  Totals totals;
  for (std::size_t i = 0; i < images.count; ++i) {
    const std::uint8_t* px = images.image(i);
    for (std::size_t d = 0; d < D; ++d) x[d] = pixel_to_unit<float>(px[d]);
    reference_logits(model, x.data(), z.data());
    const int label = labels.labels[i];
    totals.loss_sum += row_loss_grad<double>(model.head, z.data(), model.num_classes, label, 1.0, nullptr);
    totals.correct += row_argmax(z.data(), model.num_classes) == label ? 1 : 0;
    totals.count += 1;
  }
  return totals;
}

void check_feature_rows_fit_model(const Model& m, const FeatureRows& rows) {
  if (rows.dim != static_cast<std::size_t>(m.input_dim) || rows.x.size() != rows.count * rows.dim) {
    throw DataError(rows.path, "the rows have " + std::to_string(rows.dim) + " features, the model takes " +
                                   std::to_string(m.input_dim));
  }
  if (rows.labels.count() != rows.count ||
      (!rows.terms.row_weights.empty() && rows.terms.row_weights.size() != rows.count)) {
    throw DataError(rows.path, "expected one label and one weight per row (" + std::to_string(rows.count) + " rows)");
  }
  for (std::size_t i = 0; i < rows.count; ++i) {
    if (rows.labels.labels[i] >= m.num_classes) {
      throw DataError(rows.path, "label " + std::to_string(rows.labels.labels[i]) + " at row " + std::to_string(i) +
                                     " is not below the model's " + std::to_string(m.num_classes) + " classes");
    }
  }
}

void reference_sgd_update(Model& model, const double* dw, const double* db, float lr, const OptimizerConfig& optimizer,
                          float* velocity, bool fit_intercept) {
  if (optimizer.momentum != 0.0f && velocity == nullptr) {
    throw std::invalid_argument("reference_sgd_update: momentum needs a velocity buffer");
  }
  const double step = static_cast<double>(lr);
  const double mu = optimizer.momentum;
  const double decay = optimizer.weight_decay;
  const std::size_t n_weights = model.weights.size();
  for (std::size_t j = 0; j < n_weights; ++j) {
    model.weights[j] = sgd_param_step<double>(model.weights[j], dw[j], velocity == nullptr ? nullptr : velocity + j, step, mu,
                                              decay, optimizer.nesterov);
  }
  float* bias_velocity = velocity == nullptr ? nullptr : velocity + n_weights;
  for (std::size_t c = 0; c < model.bias.size() && fit_intercept; ++c) {  // no weight decay on the bias
    model.bias[c] = sgd_param_step<double>(model.bias[c], db[c], bias_velocity == nullptr ? nullptr : bias_velocity + c,
                                           step, mu, 0.0, optimizer.nesterov);
  }
}

Totals reference_sgd_step(Model& model, const float* x, const std::uint8_t* labels, int batch, float lr,
                          double* logits_out, double* dz_out, double* dw_out, double* db_out,
                          const OptimizerConfig& optimizer, float* velocity, const double* row_weights,
                          bool fit_intercept) {
  const int C = model.num_classes;
  const std::size_t D = static_cast<std::size_t>(model.input_dim);
  const double scale = 1.0 / static_cast<double>(batch);
  std::vector<double> z(static_cast<std::size_t>(C));
  std::vector<double> dz(static_cast<std::size_t>(C));
  std::vector<double> dw(static_cast<std::size_t>(C) * D, 0.0);
  std::vector<double> db(static_cast<std::size_t>(C), 0.0);
  Totals totals;
  for (int i = 0; i < batch; ++i) {
    const float* xi = x + static_cast<std::size_t>(i) * D;
    reference_logits(model, xi, z.data());
    const int label = labels[i];
    const double weight = row_weights == nullptr ? 1.0 : row_weights[i];
    totals.loss_sum += weight * row_loss_grad<double>(model.head, z.data(), C, label, weight * scale, dz.data());
    totals.correct += row_argmax(z.data(), C) == label ? 1 : 0;
    totals.count += 1;
    for (int c = 0; c < C; ++c) {
      db[static_cast<std::size_t>(c)] += dz[static_cast<std::size_t>(c)];
      double* dwc = dw.data() + static_cast<std::size_t>(c) * D;
      const double g = dz[static_cast<std::size_t>(c)];
      for (std::size_t d = 0; d < D; ++d) dwc[d] += g * static_cast<double>(xi[d]);
    }
    if (logits_out != nullptr) std::copy(z.begin(), z.end(), logits_out + static_cast<std::size_t>(i) * C);
    if (dz_out != nullptr) std::copy(dz.begin(), dz.end(), dz_out + static_cast<std::size_t>(i) * C);
  }
  reference_sgd_update(model, dw.data(), db.data(), lr, optimizer, velocity, fit_intercept);
  if (dw_out != nullptr) std::copy(dw.begin(), dw.end(), dw_out);
  if (db_out != nullptr) std::copy(db.begin(), db.end(), db_out);
  return totals;
}

namespace {

// Every row below the set's count and every label below C (the same checks on every MPI rank, whichever parts
// it computes).
void check_objective_rows(const ImageSet& images, const LabelSet& labels, const std::vector<std::uint32_t>& rows,
                          int C) {
  for (const std::uint32_t row : rows) {
    if (row >= images.count) {
      throw DataError(images.path, "row " + std::to_string(row) + " is past the " + std::to_string(images.count) +
                                       " training images");
    }
    if (labels.labels[row] >= C) {
      throw DataError(labels.path, "label " + std::to_string(labels.labels[row]) + " at row " + std::to_string(row) +
                                       " is not below the model's " + std::to_string(C) + " classes");
    }
  }
}

// Runs body(position, part's sums) for the rows of parts [first, last) of `rows`, each part's rows in row order
// into its own (stride) sums; sums is (last - first, stride), zeroed by the caller.
template <typename RowBody>
void for_rows_of_parts(std::size_t n, int first, int last, std::size_t stride, double* sums, RowBody&& body) {
  const int ni = static_cast<int>(n);
  const int parts = full_batch_parts(n);
  for (int p = first; p < last; ++p) {
    double* part = sums + static_cast<std::size_t>(p - first) * stride;
    for (int i = part_start(ni, p, parts); i < part_start(ni, p + 1, parts); ++i) body(static_cast<std::size_t>(i), part);
  }
}

}  // namespace

double reference_full_batch_objective(const ImageSet& images, const LabelSet& labels,
                                      const std::vector<std::uint32_t>& rows, LossHead head, int num_classes,
                                      const double* params, double l2, double* grad, const PartShare& share) {
  const int C = num_classes;
  const std::size_t D = images.dim();
  const std::size_t n_weights = static_cast<std::size_t>(C) * D;
  const std::size_t n_params = n_weights + static_cast<std::size_t>(C);
  if (rows.empty()) throw std::invalid_argument("reference_full_batch_objective: no rows");
  check_objective_rows(images, labels, rows, C);
  const double inv_n = 1.0 / static_cast<double>(rows.size());
  std::vector<double> x(D);
  std::vector<std::uint32_t> nonzero;  // the row's nonzero pixels: a zero adds nothing to a sum
  nonzero.reserve(D);
  std::vector<double> z(static_cast<std::size_t>(C));
  std::vector<double> dz(static_cast<std::size_t>(C));
  // One row into its part's sums: (C*D + C) data gradient, then the loss sum.
  auto row_into = [&](std::size_t i, double* sums) {
    const std::uint32_t row = rows[i];
    const std::uint8_t* px = images.image(row);
    nonzero.clear();
    for (std::size_t d = 0; d < D; ++d) {
      x[d] = pixel_to_unit<double>(px[d]);
      if (px[d] != 0) nonzero.push_back(static_cast<std::uint32_t>(d));
    }
    for (int c = 0; c < C; ++c) {
      const double* w = params + static_cast<std::size_t>(c) * D;
      double acc = params[n_weights + static_cast<std::size_t>(c)];
      for (const std::uint32_t d : nonzero) acc += w[d] * x[d];
      z[static_cast<std::size_t>(c)] = acc;
    }
    sums[n_params] += objective_row<double>(head, z.data(), C, labels.labels[row], inv_n, dz.data());
    for (int c = 0; c < C; ++c) {
      const double g = dz[static_cast<std::size_t>(c)];
      double* gw = sums + static_cast<std::size_t>(c) * D;
      for (const std::uint32_t d : nonzero) gw[d] += g * x[d];
      sums[n_weights + static_cast<std::size_t>(c)] += g;
    }
  };
  std::vector<double> part_sums;
  return objective_from_parts(
      rows.size(), static_cast<double>(rows.size()), n_params, n_weights, share, part_sums,
      [&](int first, int last, double* sums) { for_rows_of_parts(rows.size(), first, last, n_params + 1, sums, row_into); },
      params, l2, grad);
}

void reference_full_batch_hessian_vector(const ImageSet& images, const LabelSet& labels,
                                         const std::vector<std::uint32_t>& rows, LossHead head, int num_classes,
                                         const double* params, double l2, const double* v, double* hv,
                                         const PartShare& share) {
  if (head != LossHead::kSoftmax) {
    throw UsageError(std::string("--solver newton-cg needs the Hessian of --loss softmax; --loss ") +
                     loss_head_name(head) + " has none here (use --solver lbfgs)");
  }
  const int C = num_classes;
  const std::size_t D = images.dim();
  const std::size_t n_weights = static_cast<std::size_t>(C) * D;
  const std::size_t n_params = n_weights + static_cast<std::size_t>(C);
  if (rows.empty()) throw std::invalid_argument("reference_full_batch_hessian_vector: no rows");
  check_objective_rows(images, labels, rows, C);
  const double inv_n = 1.0 / static_cast<double>(rows.size());
  std::vector<double> x(D);
  std::vector<double> z(static_cast<std::size_t>(C)), dz(static_cast<std::size_t>(C)), p(static_cast<std::size_t>(C));
  std::vector<double> u(static_cast<std::size_t>(C)), r(static_cast<std::size_t>(C));
  // One row's share of H v into its part's sums (C*D + C).
  auto row_into = [&](std::size_t i, double* sums) {
    const std::uint32_t row = rows[i];
    const std::uint8_t* px = images.image(row);
    for (std::size_t d = 0; d < D; ++d) x[d] = pixel_to_unit<double>(px[d]);
    for (int c = 0; c < C; ++c) {
      const std::size_t cs = static_cast<std::size_t>(c);
      double zc = params[n_weights + cs];
      double uc = v[n_weights + cs];
      for (std::size_t d = 0; d < D; ++d) {
        zc += params[cs * D + d] * x[d];
        uc += v[cs * D + d] * x[d];
      }
      z[cs] = zc;
      u[cs] = uc;
    }
    objective_row_probs<double>(z.data(), C, labels.labels[row], inv_n, dz.data(), p.data());
    hessian_row<double>(p.data(), u.data(), C, inv_n, r.data());
    for (int c = 0; c < C; ++c) {
      const std::size_t cs = static_cast<std::size_t>(c);
      double* h = sums + cs * D;
      for (std::size_t d = 0; d < D; ++d) h[d] += r[cs] * x[d];
      sums[n_weights + cs] += r[cs];
    }
  };
  std::vector<double> part_sums;
  hessian_vector_from_parts(
      rows.size(), n_params, n_weights, share, part_sums,
      [&](int first, int last, double* sums) { for_rows_of_parts(rows.size(), first, last, n_params, sums, row_into); },
      v, l2, hv);
}

std::unique_ptr<TrainerBackend> make_cpu_reference_backend(const ImageSet& train_images,
                                                           const LabelSet& train_labels,
                                                           const Model& initial,
                                                           const OptimizerConfig& optimizer,
                                                           const std::vector<float>& velocity) {
  return std::make_unique<CpuReferenceBackend>(train_images, train_labels, initial, optimizer, velocity);
}

std::unique_ptr<TrainerBackend> make_reference_feature_backend(const FeatureRows& rows, const Model& initial,
                                                               const OptimizerConfig& optimizer,
                                                               const std::vector<float>& velocity) {
  return std::make_unique<CpuReferenceBackend>(rows, initial, optimizer, velocity);
}

std::unique_ptr<FullBatchEngine> make_cpu_reference_full_batch_engine(const ImageSet& train_images,
                                                                      const LabelSet& train_labels, const Model& shape) {
  return std::make_unique<CpuReferenceFullBatch>(train_images, train_labels, shape);
}

}  // namespace logreg
