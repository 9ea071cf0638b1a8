// The backend-agnostic host loop: epochs, seeded shuffles, per-epoch evaluation and the report line.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "logreg/backend.hpp"
#include "logreg/dataset.hpp"

namespace logreg {

struct TrainConfig {
  int epochs = 50;
  int batch_size = 32;
  float lr = 0.001f;
  LossHead head = LossHead::kSoftmax;
  std::uint64_t seed = 0;
};

struct EpochReport {
  int epoch = 0;          // 1-based
  Totals train;           // summed over the epoch's training rows (before each update)
  Totals test;            // evaluation of the model at the end of the epoch
  double seconds = 0.0;   // wall time of training + evaluation
  double train_seconds = 0.0;
  double samples_per_second = 0.0;  // training rows / train_seconds
};

// "Epoch: 3. Loss: 0.3127. Accuracy: 91.12. Time: 1.84 s. Throughput: 32600 samples/s"
std::string format_epoch_line(const EpochReport& r);

// Runs cfg.epochs epochs; calls on_epoch after each. `train_rows` is the number of training rows used
// (--limit-train: the first N). With on_progress set, each epoch is handed to the backend in chunks of
// whole batches (same result, a sync per chunk) so a progress bar can move; without it, in one call.
struct TrainHooks {
  std::function<void(const EpochReport&)> on_epoch;
  std::function<void(int epoch, std::int64_t done, std::int64_t total)> on_progress;
};

void run_training(TrainerBackend& backend, const Dataset& data, std::uint32_t train_rows,
                  const TrainConfig& cfg, const TrainHooks& hooks);

}  // namespace logreg
