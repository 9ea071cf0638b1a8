// make_local_sgd_backend (rank_sgd.hpp): local SGD over MPI ranks, each rank on its shard of every epoch's order,
// the ranks' models averaged in rank order every K epochs. The steps are the wrapped backend's; not here: the
// host loop (training.cpp), the synchronous variant (cpu/rank_sync_sgd.cpp).
#include <cstddef>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "logreg/rank_sgd.hpp"
#include "logreg/ranks.hpp"

namespace logreg {
namespace {

class LocalSgdBackend final : public TrainerBackend {
 public:
  LocalSgdBackend(std::unique_ptr<TrainerBackend> local, std::uint32_t shard_first, std::uint32_t shard_last,
                  int average_every, int last_epoch)
      : local_(std::move(local)),
        first_(shard_first),
        last_(shard_last),
        every_(average_every),
        last_epoch_(last_epoch) {}

  std::string name() const override {
    return local_->name() + ", local SGD averaged every " + std::to_string(every_) + " epoch" + (every_ > 1 ? "s" : "");
  }
  BackendTraits traits() const override { return local_->traits(); }

  // One call per epoch (the CLI hands the epoch over whole): this rank's shard of the order, then the ranks'
  // totals summed in rank order, then the average when the epoch calls for it.
  Totals train_epoch(const std::vector<std::uint32_t>& order, int batch_size, float lr) override {
    std::vector<std::uint32_t> mine;
    mine.reserve(order.size() / static_cast<std::size_t>(ranks::size()) + 1);
    for (const std::uint32_t row : order) {
      if (row >= first_ && row <= last_) mine.push_back(row);
    }
    const Totals own = mine.empty() ? Totals{} : local_->train_epoch(mine, batch_size, lr);
    const std::size_t n = static_cast<std::size_t>(ranks::size());
    constexpr std::size_t kStride = 4;  // loss sum, correct, count, last batch's mean loss
    std::vector<double> all(n * kStride, 0.0);
    double* slot = all.data() + static_cast<std::size_t>(ranks::rank()) * kStride;
    slot[0] = own.loss_sum;
    slot[1] = static_cast<double>(own.correct);
    slot[2] = static_cast<double>(own.count);
    slot[3] = own.last_batch_loss;
    ranks::allgather_parts(all.data(), ranks::size(), kStride);
    Totals totals;
    for (std::size_t r = 0; r < n; ++r) {
      totals.loss_sum += all[r * kStride];
      totals.correct += static_cast<std::int64_t>(all[r * kStride + 1]);
      totals.count += static_cast<std::int64_t>(all[r * kStride + 2]);
    }
    totals.last_batch_loss = all[3];  // rank 0's
    if (epoch_ % every_ == 0 || epoch_ == last_epoch_) average();
    return totals;
  }

  Totals evaluate(const ImageSet& images, const LabelSet& labels) override { return local_->evaluate(images, labels); }
  Model model() const override { return local_->model(); }
  void set_model(const Model& m) override { local_->set_model(m); }
  std::vector<float> optimizer_state() const override { return local_->optimizer_state(); }
  void begin_epoch(int epoch) override {
    epoch_ = epoch;
    local_->begin_epoch(epoch);
  }
  void end_epoch(int epoch) override { local_->end_epoch(epoch); }

 private:
  // Every rank's parameters (C*D weights, then C biases), summed in double in rank order, divided by the rank
  // count and rounded to float once: the same model on every rank.
  void average() {
    Model m = local_->model();
    const std::size_t n_weights = m.weights.size();
    const std::size_t stride = n_weights + m.bias.size();
    const std::size_t n = static_cast<std::size_t>(ranks::size());
    std::vector<double> all(n * stride);
    double* slot = all.data() + static_cast<std::size_t>(ranks::rank()) * stride;
    for (std::size_t j = 0; j < n_weights; ++j) slot[j] = m.weights[j];
    for (std::size_t c = 0; c < m.bias.size(); ++c) slot[n_weights + c] = m.bias[c];
    ranks::allgather_parts(all.data(), ranks::size(), stride);
    const double inv = 1.0 / static_cast<double>(n);
    for (std::size_t j = 0; j < stride; ++j) {
      double sum = all[j];
      for (std::size_t r = 1; r < n; ++r) sum += all[r * stride + j];
      const float mean = static_cast<float>(sum * inv);
      if (j < n_weights) m.weights[j] = mean; else m.bias[j - n_weights] = mean;
    }
    local_->set_model(m);
  }

  std::unique_ptr<TrainerBackend> local_;
  std::uint32_t first_, last_;  // this rank's shard: training rows first_ .. last_ (inclusive)
  int every_;
  int last_epoch_;
  int epoch_ = 0;  // the epoch begun last
};

}  // namespace

std::unique_ptr<TrainerBackend> make_local_sgd_backend(std::unique_ptr<TrainerBackend> local, std::uint32_t shard_first,
                                                       std::uint32_t shard_last, int average_every, int last_epoch) {
  return std::make_unique<LocalSgdBackend>(std::move(local), shard_first, shard_last, average_every, last_epoch);
}

}  // namespace logreg
