// make_rank_sync_sgd_backend (rank_sgd.hpp): synchronous SGD over MPI ranks, each step's global batch through a
// full-batch engine whose objective sums fixed row parts shared out over the ranks (any FullBatchEngine: cpu,
// reference, cuda, or a feature file's rows), then the reference's update. Not here: the objectives' loops and
// exchange (the engines, ranks.hpp), the host loop (training.cpp), local SGD (local_sgd.cpp).
#include <algorithm>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "logreg/cpu_reference.hpp"
#include "logreg/errors.hpp"
#include "logreg/rank_sgd.hpp"

namespace logreg {
namespace {

class RankSyncSgdBackend final : public TrainerBackend {
 public:
  RankSyncSgdBackend(std::unique_ptr<FullBatchEngine> engine, const Model& initial, const OptimizerConfig& optimizer,
                     const std::vector<float>& velocity)
      : engine_(std::move(engine)), model_(initial), optimizer_(optimizer), velocity_(velocity) {
    const std::size_t state = model_.weights.size() + model_.bias.size();
    if (optimizer_.momentum != 0.0f && velocity_.empty()) velocity_.assign(state, 0.0f);
    if (!velocity_.empty() && velocity_.size() != state) {
      throw DataError("", "optimizer state has " + std::to_string(velocity_.size()) + " values, the model needs " +
                              std::to_string(state));
    }
  }

  std::string name() const override {
    return engine_->name() + ", synchronous SGD over ranks (each batch summed in double in fixed parts)";
  }
  // The engine's: a GPU engine gets each epoch in one call (chunks_per_epoch).
  BackendTraits traits() const override { return engine_->traits(); }

  // Per step: the batch's mean loss and its gradient in double from the engine (l2 = 0: --weight-decay is the
  // update's), then sgd_param_step on every parameter (reference_sgd_update).
  Totals train_epoch(const std::vector<std::uint32_t>& order, int batch_size, float lr) override {
    if (batch_size < 1) throw UsageError("batch size must be at least 1, got " + std::to_string(batch_size));
    const std::size_t n_weights = model_.weights.size();
    const std::size_t batch = static_cast<std::size_t>(batch_size);
    params_.resize(n_weights + model_.bias.size());
    grad_.resize(params_.size());
    Totals totals;
    for (std::size_t start = 0; start < order.size(); start += batch) {
      const std::size_t n = std::min(batch, order.size() - start);
      rows_.assign(order.begin() + static_cast<std::ptrdiff_t>(start),
                   order.begin() + static_cast<std::ptrdiff_t>(start + n));
      std::copy(model_.weights.begin(), model_.weights.end(), params_.begin());
      std::copy(model_.bias.begin(), model_.bias.end(), params_.begin() + static_cast<std::ptrdiff_t>(n_weights));
      const double mean_loss = engine_->full_batch_objective(rows_, params_.data(), 0.0, grad_.data());
      reference_sgd_update(model_, grad_.data(), grad_.data() + n_weights, lr, optimizer_,
                           velocity_.empty() ? nullptr : velocity_.data());
      Totals step;
      step.loss_sum = mean_loss * static_cast<double>(n);
      step.count = static_cast<std::int64_t>(n);
      totals.add_step(step);
    }
    return totals;
  }

  Totals evaluate(const ImageSet& images, const LabelSet& labels) override {
    return reference_evaluate(model_, images, labels);
  }

  Model model() const override { return model_; }
  std::vector<float> optimizer_state() const override {
    return optimizer_.momentum != 0.0f ? velocity_ : std::vector<float>{};
  }

 private:
  std::unique_ptr<FullBatchEngine> engine_;
  Model model_;
  OptimizerConfig optimizer_;
  std::vector<float> velocity_;       // (C*D + C) when momentum is on
  std::vector<std::uint32_t> rows_;   // (B) the step's rows
  std::vector<double> params_;        // (C*D + C) the model in double
  std::vector<double> grad_;          // (C*D + C) the batch's gradient
};

}  // namespace

std::unique_ptr<TrainerBackend> make_rank_sync_sgd_backend(std::unique_ptr<FullBatchEngine> engine,
                                                           const Model& initial, const OptimizerConfig& optimizer,
                                                           const std::vector<float>& velocity) {
  return std::make_unique<RankSyncSgdBackend>(std::move(engine), initial, optimizer, velocity);
}

}  // namespace logreg
