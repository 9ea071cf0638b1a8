// The backend-agnostic host loop: one seeded shuffle per epoch, SGD through the backend, evaluation on
// the test set, and the per-epoch report line.
#include "logreg/training.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "logreg/rng.hpp"

namespace logreg {

std::string format_epoch_line(const EpochReport& r) {
  char buf[256];
  std::snprintf(buf, sizeof buf, "Epoch: %d. Loss: %.4f. Accuracy: %.2f. Time: %.2f s. Throughput: %.0f samples/s",
                r.epoch, r.train.mean_loss(), r.test.accuracy_percent(), r.seconds, r.samples_per_second);
  return buf;
}

void run_training(TrainerBackend& backend, const Dataset& data, std::uint32_t train_rows, const TrainConfig& cfg,
                  const TrainHooks& hooks) {
  using Clock = std::chrono::steady_clock;
  const auto batch = static_cast<std::size_t>(cfg.batch_size);
  // With a progress bar, hand the epoch over in ~50 chunks of whole batches (identical result).
  std::size_t chunk_rows = train_rows;
  if (hooks.on_progress) {
    const std::size_t batches = (train_rows + batch - 1) / batch;
    chunk_rows = ((batches + 49) / 50) * batch;
  }
  for (int epoch = 1; epoch <= cfg.epochs; ++epoch) {
    backend.begin_epoch(epoch);
    const auto t0 = Clock::now();
    std::vector<std::uint32_t> order = epoch_order(cfg.seed, epoch - 1, train_rows);
    EpochReport report;
    report.epoch = epoch;
    if (chunk_rows >= order.size()) {
      report.train = backend.train_epoch(order, cfg.batch_size, cfg.lr);
    } else {
      for (std::size_t start = 0; start < order.size(); start += chunk_rows) {
        const std::size_t end = std::min(order.size(), start + chunk_rows);
        std::vector<std::uint32_t> part(order.begin() + static_cast<std::ptrdiff_t>(start),
                                        order.begin() + static_cast<std::ptrdiff_t>(end));
        const Totals t = backend.train_epoch(part, cfg.batch_size, cfg.lr);
        report.train.loss_sum += t.loss_sum;
        report.train.correct += t.correct;
        report.train.count += t.count;
        report.train.last_batch_loss = t.last_batch_loss;
        hooks.on_progress(epoch, static_cast<std::int64_t>(end), static_cast<std::int64_t>(order.size()));
      }
    }
    const auto t1 = Clock::now();
    report.test = backend.evaluate(data.test_images, data.test_labels);
    const auto t2 = Clock::now();
    backend.end_epoch(epoch);
    report.train_seconds = std::chrono::duration<double>(t1 - t0).count();
    report.seconds = std::chrono::duration<double>(t2 - t0).count();
    report.samples_per_second = report.train_seconds > 0.0 ? static_cast<double>(train_rows) / report.train_seconds : 0.0;
    if (hooks.on_epoch) hooks.on_epoch(report);
  }
}

}  // namespace logreg
