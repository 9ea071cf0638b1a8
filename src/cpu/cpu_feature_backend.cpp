// The cpu engine's SGD over a feature file's float32 rows (`--device cpu`, make_cpu_feature_backend): float32
// logits and gradients in plain loops the compiler vectorises, the loss rows, bias gradient and update of the
// CUDA kernels' bodies (step_bodies.hpp), per-row weights folded into each row's scale, and no bias update without
// an intercept. One thread, and every sum in a fixed order: reruns are bit-identical. The IDX pixel engine (and
// uint8 feature rows without weights) is cpu_fast_backend.cpp.
#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "logreg/cpu_reference.hpp"
#include "logreg/errors.hpp"
#include "logreg/feature_sgd.hpp"
#include "logreg/maths/step_bodies.hpp"

namespace logreg {
namespace {

class CpuFeatureBackend final : public TrainerBackend {
 public:
  CpuFeatureBackend(const FeatureRows& rows, const Model& initial, const OptimizerConfig& optimizer,
                    const std::vector<float>& velocity)
      : rows_(rows), head_(initial.head), C_(initial.num_classes), D_(rows.dim), optimizer_(optimizer) {
    check_feature_rows_fit_model(initial, rows);
    if (C_ < 1 || C_ > kernels::kMaxClasses || initial.weights.size() != static_cast<std::size_t>(C_) * D_ ||
        initial.bias.size() != static_cast<std::size_t>(C_)) {
      throw DataError(rows.path, "model parameters do not match Linear(" + std::to_string(D_) + " -> " +
                                     std::to_string(C_) + ")");
    }
    n_weights_ = static_cast<std::size_t>(C_) * D_;
    params_ = initial.weights;
    params_.insert(params_.end(), initial.bias.begin(), initial.bias.end());
    if (!rows.terms.intercept) std::fill(params_.begin() + static_cast<std::ptrdiff_t>(n_weights_), params_.end(), 0.0f);
    grads_.assign(params_.size(), 0.0f);
    if (optimizer_.momentum != 0.0f) velocity_.assign(params_.size(), 0.0f);
    if (optimizer_.momentum != 0.0f && !velocity.empty()) {  // a resumed run's momentum
      if (velocity.size() != params_.size()) {
        throw DataError(rows.path, "optimizer state has " + std::to_string(velocity.size()) + " values, the model needs " +
                                       std::to_string(params_.size()));
      }
      velocity_ = velocity;
    }
  }

  std::string name() const override { return "cpu (float32 feature rows, one thread)"; }

  Totals train_epoch(const std::vector<std::uint32_t>& order, int batch_size, float lr) override {
    if (batch_size < 1) throw UsageError("batch size must be at least 1, got " + std::to_string(batch_size));
    const std::size_t B = static_cast<std::size_t>(batch_size);
    logits_.resize(B * static_cast<std::size_t>(C_));
    dz_.resize(B * static_cast<std::size_t>(C_));
    y_.resize(B);
    kernels::SgdStepParams p;
    p.lr = lr;
    p.momentum = optimizer_.momentum;
    p.weight_decay = optimizer_.weight_decay;
    p.nesterov = optimizer_.nesterov;
    p.n_weights = n_weights_;
    p.n = rows_.terms.intercept ? params_.size() : n_weights_;  // without an intercept the bias stays 0
    Totals totals;
    for (std::size_t start = 0; start < order.size(); start += B) {
      const int n = static_cast<int>(std::min(B, order.size() - start));
      const std::uint32_t* batch = order.data() + start;
      const Totals step = step_once(batch, n, p);
      totals.add_step(step);
    }
    return totals;
  }

  Totals evaluate(const ImageSet& images, const LabelSet& labels) override {
    return reference_evaluate(model(), images, labels);
  }

  Model model() const override {
    Model m;
    m.input_dim = static_cast<int>(D_);
    m.num_classes = C_;
    m.head = head_;
    m.weights.assign(params_.begin(), params_.begin() + static_cast<std::ptrdiff_t>(n_weights_));
    m.bias.assign(params_.begin() + static_cast<std::ptrdiff_t>(n_weights_), params_.end());
    return m;
  }

  std::vector<float> optimizer_state() const override { return velocity_; }

 private:
  // One step over the n rows batch[0..n): logits, loss rows (scale a_i / n), dW = dzᵀ X and db, the update.
  Totals step_once(const std::uint32_t* batch, int n, const kernels::SgdStepParams& p) {
    const float* w = params_.data();
    const float* bias = params_.data() + n_weights_;
    Totals t;
    for (int i = 0; i < n; ++i) {
      const std::uint32_t r = batch[i];
      if (r >= rows_.count) {
        throw DataError(rows_.path, "row " + std::to_string(r) + " is past the " + std::to_string(rows_.count) +
                                        " training rows");
      }
      const float* x = rows_.row(r);
      float* z = logits_.data() + static_cast<std::size_t>(i) * C_;
      for (int c = 0; c < C_; ++c) {
        const float* wc = w + static_cast<std::size_t>(c) * D_;
        float acc = 0.0f;
        for (std::size_t d = 0; d < D_; ++d) acc += wc[d] * x[d];
        z[c] = acc;
      }
      y_[static_cast<std::size_t>(i)] = rows_.labels.labels[r];
      const double a = rows_.weight(r);
      const kernels::RowOutcome out = kernels::loss_grad_row(i, head_, logits_.data(), bias, y_.data(), C_,
                                                             kernels::weighted_row_scale(a, n), logits_.data(), dz_.data());
      t.loss_sum += a * static_cast<double>(out.loss);
      t.correct += out.correct;
    }
    t.count = n;
    std::fill(grads_.begin(), grads_.end(), 0.0f);
    for (int i = 0; i < n; ++i) {  // dW[c, :] += dz[i, c] x_i, rows in batch order
      const float* x = rows_.row(batch[i]);
      const float* g = dz_.data() + static_cast<std::size_t>(i) * C_;
      for (int c = 0; c < C_; ++c) {
        float* dwc = grads_.data() + static_cast<std::size_t>(c) * D_;
        const float gc = g[c];
        for (std::size_t d = 0; d < D_; ++d) dwc[d] += gc * x[d];
      }
    }
    for (int c = 0; c < C_; ++c) bias_partial_[static_cast<std::size_t>(c)] = kernels::bias_grad_partial(c, dz_.data(), n, C_, 1);
    for (int c = 0; c < C_; ++c) {
      grads_[n_weights_ + static_cast<std::size_t>(c)] = kernels::bias_grad_combine(c, bias_partial_.data(), C_, 1);
    }
    float* v = velocity_.empty() ? nullptr : velocity_.data();
    for (std::size_t j = 0; j < p.n; ++j) kernels::sgd_update_element(j, params_.data(), grads_.data(), v, p);
    return t;
  }

  const FeatureRows& rows_;
  LossHead head_;
  int C_;
  std::size_t D_;
  std::size_t n_weights_ = 0;  // C*D
  OptimizerConfig optimizer_;
  std::vector<float> params_;    // (C*D + C) W (C, D) row-major, then b
  std::vector<float> grads_;     // (C*D + C) the step's gradient, same layout
  std::vector<float> velocity_;  // (C*D + C) momentum buffers, empty without momentum
  std::vector<float> logits_;    // (B, C) logits with bias after loss_grad_row
  std::vector<float> dz_;        // (B, C) a_i / n * dloss/dz
  std::vector<std::uint8_t> y_;  // (B) the batch's labels
  std::vector<double> bias_partial_ = std::vector<double>(static_cast<std::size_t>(C_));  // (C) db's one group
};

}  // namespace

std::unique_ptr<TrainerBackend> make_cpu_feature_backend(const FeatureRows& rows, const Model& initial,
                                                         const OptimizerConfig& optimizer,
                                                         const std::vector<float>& velocity) {
  return std::make_unique<CpuFeatureBackend>(rows, initial, optimizer, velocity);
}

}  // namespace logreg
