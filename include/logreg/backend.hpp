// The SGD engine every training backend implements (CPU reference, fast CPU, CUDA): steps over a row order on the
// model it holds, and the totals they report. The host loop (training.hpp) owns shuffling, epochs and reporting;
// a backend owns the model state. The other primitives (logits, the full-batch objective) are in engine.hpp.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "logreg/dataset.hpp"
#include "logreg/engine.hpp"
#include "logreg/model.hpp"

namespace logreg {

// Sums over the rows seen: loss summed over rows (not averaged), correct predictions, rows.
struct Totals {
  double loss_sum = 0.0;
  std::int64_t correct = 0;
  std::int64_t count = 0;
  double last_batch_loss = 0.0;  // mean loss of the epoch's last batch (training only)

  double mean_loss() const { return count > 0 ? loss_sum / static_cast<double>(count) : 0.0; }
  // Adds one SGD step's totals to an epoch's; the step's mean loss becomes the last batch's.
  void add_step(const Totals& step) {
    loss_sum += step.loss_sum;
    correct += step.correct;
    count += step.count;
    last_batch_loss = step.mean_loss();
  }
  double accuracy_percent() const {
    return count > 0 ? 100.0 * static_cast<double>(correct) / static_cast<double>(count) : 0.0;
  }
};

// name(), traits(), logits() and accuracy_percent() come from Engine.
class TrainerBackend : public Engine {
 public:
  // One epoch of mini-batch SGD over the training rows in `order`: consecutive batches of
  // `batch_size` (the last one partial), each step w <- w - lr * grad(mean loss of the batch).
  // Returns the training loss summed over rows and the correct predictions made before each update.
  virtual Totals train_epoch(const std::vector<std::uint32_t>& order, int batch_size, float lr) = 0;

  // Loss and accuracy of the current model on a labelled image set (no update): the per-epoch test and
  // validation scores, where the parameters are (on the device for CUDA, without copying them back).
  virtual Totals evaluate(const ImageSet& images, const LabelSet& labels) = 0;

  // The current parameters (copied back from the device for the CUDA backend).
  virtual Model model() const = 0;

  // Replaces the parameters with m's (same shape; the momentum state is kept): what local SGD over MPI ranks
  // does after averaging the ranks' models (rank_sgd.hpp). The default throws UsageError.
  virtual void set_model(const Model& m);

  // Momentum velocities, (C*D) for the weights then (C) for the bias; empty without momentum.
  virtual std::vector<float> optimizer_state() const { return {}; }

  // Bracket each epoch (training and its evaluation); epoch is 1-based. The CUDA backend opens the
  // NVTX range "epoch" here and starts/stops the profiler on --profile-epoch.
  virtual void begin_epoch(int /*epoch*/) {}
  virtual void end_epoch(int /*epoch*/) {}
};

// For the CPU backends: throws DataError naming the file when the images do not have the model's D pixels,
// the labels are not one per image, or a label is not below the model's C classes (the message the CUDA
// backend gives too: "label L at row I is not below the model's C classes").
void check_set_fits_model(const Model& m, const ImageSet& images, const LabelSet& labels);

}  // namespace logreg
