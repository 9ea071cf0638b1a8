// The CPU reference engines: the SGD backend (one step at a time with plain loops, float32 parameters and every
// sum (logits, gradients, losses) in double) and the full-batch engine (the objective and its Hessian-vector
// product in double, in row order). The per-row maths comes from row_math.hpp and objective_math.hpp.
#include "logreg/cpu_reference.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

#include "logreg/errors.hpp"
#include "logreg/maths/objective_math.hpp"
#include "logreg/maths/row_math.hpp"
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

class CpuReferenceBackend final : public TrainerBackend {
 public:
  CpuReferenceBackend(const ImageSet& images, const LabelSet& labels, const Model& initial,
                      const OptimizerConfig& optimizer, const std::vector<float>& velocity)
      : images_(images), labels_(labels), model_(initial), optimizer_(optimizer), velocity_(velocity) {
    check_set_fits_model(model_, images_, labels_);
    const std::size_t state = model_.weights.size() + model_.bias.size();
    if (optimizer_.momentum != 0.0f && velocity_.empty()) velocity_.assign(state, 0.0f);
    if (!velocity_.empty() && velocity_.size() != state) {
      throw DataError("", "optimizer state has " + std::to_string(velocity_.size()) + " values, the model needs " +
                              std::to_string(state));
    }
  }

  std::string name() const override { return kReferenceName; }

  Totals train_epoch(const std::vector<std::uint32_t>& order, int batch_size, float lr) override {
    const std::size_t D = images_.dim();
    Totals totals;
    std::vector<float> x(static_cast<std::size_t>(batch_size) * D);
    std::vector<std::uint8_t> y(static_cast<std::size_t>(batch_size));
    for (std::size_t start = 0; start < order.size(); start += static_cast<std::size_t>(batch_size)) {
      const int n = static_cast<int>(std::min<std::size_t>(static_cast<std::size_t>(batch_size), order.size() - start));
      for (int i = 0; i < n; ++i) {
        const std::uint32_t row = order[start + static_cast<std::size_t>(i)];
        const std::uint8_t* px = images_.image(row);
        for (std::size_t d = 0; d < D; ++d) x[static_cast<std::size_t>(i) * D + d] = pixel_to_unit<float>(px[d]);
        y[static_cast<std::size_t>(i)] = labels_.labels[row];
      }
      const Totals step = reference_sgd_step(model_, x.data(), y.data(), n, lr, nullptr, nullptr, nullptr, nullptr,
                                             optimizer_, velocity_.empty() ? nullptr : velocity_.data());
      totals.loss_sum += step.loss_sum;
      totals.correct += step.correct;
      totals.count += step.count;
      totals.last_batch_loss = step.mean_loss();
    }
    return totals;
  }

  Totals evaluate(const ImageSet& images, const LabelSet& labels) override {
    check_set_fits_model(model_, images, labels);
    const std::size_t D = images.dim();
    std::vector<float> x(D);
    std::vector<double> z(static_cast<std::size_t>(model_.num_classes));
    Totals totals;
    for (std::size_t i = 0; i < images.count; ++i) {
      const std::uint8_t* px = images.image(i);
      for (std::size_t d = 0; d < D; ++d) x[d] = pixel_to_unit<float>(px[d]);
      reference_logits(model_, x.data(), z.data());
      const int label = labels.labels[i];
      totals.loss_sum += row_loss_grad<double>(model_.head, z.data(), model_.num_classes, label, 1.0, nullptr);
      totals.correct += row_argmax(z.data(), model_.num_classes) == label ? 1 : 0;
      totals.count += 1;
    }
    return totals;
  }

  Model model() const override { return model_; }
  std::vector<float> optimizer_state() const override { return optimizer_.momentum != 0.0f ? velocity_ : std::vector<float>{}; }

 private:
  const ImageSet& images_;
  const LabelSet& labels_;
  Model model_;
  OptimizerConfig optimizer_;
  std::vector<float> velocity_;  // (C*D + C) when momentum is on
};

// The full-batch engine: the training set and the model's shape, nothing else.
class CpuReferenceFullBatch final : public FullBatchEngine {
 public:
  CpuReferenceFullBatch(const ImageSet& images, const LabelSet& labels, const Model& shape)
      : images_(images), labels_(labels), head_(shape.head), classes_(shape.num_classes) {
    check_set_fits_model(shape, images_, labels_);
  }

  std::string name() const override { return kReferenceName; }

  double full_batch_objective(const std::vector<std::uint32_t>& rows, const double* params, double l2,
                              double* grad) override {
    return reference_full_batch_objective(images_, labels_, rows, head_, classes_, params, l2, grad);
  }

  void full_batch_hessian_vector(const std::vector<std::uint32_t>& rows, const double* params, double l2,
                                 const double* v, double* hv) override {
    reference_full_batch_hessian_vector(images_, labels_, rows, head_, classes_, params, l2, v, hv);
  }

 private:
  const ImageSet& images_;
  const LabelSet& labels_;
  LossHead head_;
  int classes_;
};

}  // namespace

Totals reference_sgd_step(Model& model, const float* x, const std::uint8_t* labels, int batch, float lr,
                          double* logits_out, double* dz_out, double* dw_out, double* db_out,
                          const OptimizerConfig& optimizer, float* velocity) {
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
    totals.loss_sum += row_loss_grad<double>(model.head, z.data(), C, label, scale, dz.data());
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
  if (optimizer.momentum != 0.0f && velocity == nullptr) {
    throw std::invalid_argument("reference_sgd_step: momentum needs a velocity buffer");
  }
  const double step = static_cast<double>(lr);
  const double mu = optimizer.momentum;
  const double decay = optimizer.weight_decay;
  for (std::size_t j = 0; j < dw.size(); ++j) {
    model.weights[j] = sgd_param_step<double>(model.weights[j], dw[j], velocity == nullptr ? nullptr : velocity + j, step, mu,
                                              decay, optimizer.nesterov);
  }
  float* bias_velocity = velocity == nullptr ? nullptr : velocity + dw.size();
  for (std::size_t c = 0; c < db.size(); ++c) {  // no weight decay on the bias
    model.bias[c] = sgd_param_step<double>(model.bias[c], db[c], bias_velocity == nullptr ? nullptr : bias_velocity + c,
                                           step, mu, 0.0, optimizer.nesterov);
  }
  if (dw_out != nullptr) std::copy(dw.begin(), dw.end(), dw_out);
  if (db_out != nullptr) std::copy(db.begin(), db.end(), db_out);
  return totals;
}

double reference_full_batch_objective(const ImageSet& images, const LabelSet& labels,
                                      const std::vector<std::uint32_t>& rows, LossHead head, int num_classes,
                                      const double* params, double l2, double* grad) {
  const int C = num_classes;
  const std::size_t D = images.dim();
  const std::size_t n_weights = static_cast<std::size_t>(C) * D;
  if (rows.empty()) throw std::invalid_argument("reference_full_batch_objective: no rows");
  const double inv_n = 1.0 / static_cast<double>(rows.size());
  std::fill(grad, grad + n_weights + static_cast<std::size_t>(C), 0.0);
  double* grad_b = grad + n_weights;
  std::vector<double> x(D);
  std::vector<std::uint32_t> nonzero;  // the row's nonzero pixels: a zero adds nothing to a sum
  nonzero.reserve(D);
  std::vector<double> z(static_cast<std::size_t>(C));
  std::vector<double> dz(static_cast<std::size_t>(C));
  double loss_sum = 0.0;
  for (const std::uint32_t row : rows) {
    if (row >= images.count) {
      throw DataError(images.path, "row " + std::to_string(row) + " is past the " + std::to_string(images.count) +
                                       " training images");
    }
    if (labels.labels[row] >= C) {
      throw DataError(labels.path, "label " + std::to_string(labels.labels[row]) + " at row " + std::to_string(row) +
                                       " is not below the model's " + std::to_string(C) + " classes");
    }
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
    loss_sum += objective_row<double>(head, z.data(), C, labels.labels[row], inv_n, dz.data());
    for (int c = 0; c < C; ++c) {
      const double g = dz[static_cast<std::size_t>(c)];
      double* gw = grad + static_cast<std::size_t>(c) * D;
      for (const std::uint32_t d : nonzero) gw[d] += g * x[d];
      grad_b[c] += g;
    }
  }
  const double penalty = add_weight_penalty(params, grad, n_weights, l2);
  return loss_sum * inv_n + penalty;
}

void reference_full_batch_hessian_vector(const ImageSet& images, const LabelSet& labels,
                                         const std::vector<std::uint32_t>& rows, LossHead head, int num_classes,
                                         const double* params, double l2, const double* v, double* hv) {
  if (head != LossHead::kSoftmax) {
    throw UsageError(std::string("--solver newton-cg needs the Hessian of --loss softmax; --loss ") +
                     loss_head_name(head) + " has none here (use --solver lbfgs)");
  }
  const int C = num_classes;
  const std::size_t D = images.dim();
  const std::size_t n_weights = static_cast<std::size_t>(C) * D;
  if (rows.empty()) throw std::invalid_argument("reference_full_batch_hessian_vector: no rows");
  const double inv_n = 1.0 / static_cast<double>(rows.size());
  std::fill(hv, hv + n_weights + static_cast<std::size_t>(C), 0.0);
  std::vector<double> x(D);
  std::vector<double> z(static_cast<std::size_t>(C)), dz(static_cast<std::size_t>(C)), p(static_cast<std::size_t>(C));
  std::vector<double> u(static_cast<std::size_t>(C)), r(static_cast<std::size_t>(C));
  for (const std::uint32_t row : rows) {
    if (row >= images.count || labels.labels[row] >= C) {
      throw DataError(images.path, "row " + std::to_string(row) + " is past the set or its label past the classes");
    }
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
      double* h = hv + cs * D;
      for (std::size_t d = 0; d < D; ++d) h[d] += r[cs] * x[d];
      hv[n_weights + cs] += r[cs];
    }
  }
  add_weight_penalty_hv(v, hv, n_weights, l2);
}

std::unique_ptr<TrainerBackend> make_cpu_reference_backend(const ImageSet& train_images,
                                                           const LabelSet& train_labels,
                                                           const Model& initial,
                                                           const OptimizerConfig& optimizer,
                                                           const std::vector<float>& velocity) {
  return std::make_unique<CpuReferenceBackend>(train_images, train_labels, initial, optimizer, velocity);
}

std::unique_ptr<FullBatchEngine> make_cpu_reference_full_batch_engine(const ImageSet& train_images,
                                                                      const LabelSet& train_labels, const Model& shape) {
  return std::make_unique<CpuReferenceFullBatch>(train_images, train_labels, shape);
}

}  // namespace logreg
