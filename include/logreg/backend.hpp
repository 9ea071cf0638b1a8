// The interface every training backend implements (CPU reference, CUDA), and the totals they report.
// The host loop (training.hpp) owns shuffling, epochs and reporting; a backend owns the model state.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "logreg/dataset.hpp"
#include "logreg/model.hpp"

namespace logreg {

// Sums over the rows seen: loss summed over rows (not averaged), correct predictions, rows.
struct Totals {
  double loss_sum = 0.0;
  std::int64_t correct = 0;
  std::int64_t count = 0;
  double last_batch_loss = 0.0;  // mean loss of the epoch's last batch (training only)

  double mean_loss() const { return count > 0 ? loss_sum / static_cast<double>(count) : 0.0; }
  double accuracy_percent() const {
    return count > 0 ? 100.0 * static_cast<double>(correct) / static_cast<double>(count) : 0.0;
  }
};

// What a backend is, for the code that drives it (the chunking policy, `--device auto`); never parse
// name() for this.
struct BackendTraits {
  bool gpu = false;       // runs on a CUDA device: an epoch is handed over whole (each call ends in a host sync)
  bool emulated = false;  // that device is the CPU emulator (LOGREG_CUDA=emulated), not a GPU
};

class TrainerBackend {
 public:
  virtual ~TrainerBackend() = default;
  TrainerBackend() = default;
  TrainerBackend(const TrainerBackend&) = delete;
  TrainerBackend& operator=(const TrainerBackend&) = delete;

  // "cpu-reference", "cuda (NVIDIA H100 ...)" and so on: for people (the settings record, messages).
  virtual std::string name() const = 0;

  // What it is, for the code: the CPU backends keep the default (no GPU).
  virtual BackendTraits traits() const { return {}; }

  // One epoch of mini-batch SGD over the training rows in `order`: consecutive batches of
  // `batch_size` (the last one partial), each step w <- w - lr * grad(mean loss of the batch).
  // Returns the training loss summed over rows and the correct predictions made before each update.
  virtual Totals train_epoch(const std::vector<std::uint32_t>& order, int batch_size, float lr) = 0;

  // Loss and accuracy of the current model on a labelled image set (no update).
  virtual Totals evaluate(const ImageSet& images, const LabelSet& labels) = 0;

  // The current parameters (copied back from the device for the CUDA backend).
  virtual Model model() const = 0;

  // Momentum velocities, (C*D) for the weights then (C) for the bias; empty without momentum.
  virtual std::vector<float> optimizer_state() const { return {}; }

  // The full-batch objective of the L-BFGS solver (maths/objective_math.hpp: scikit-learn's) at `params`,
  // over the training rows `rows` (indices into the backend's training set, n = rows.size() > 0):
  //   params: (C*D + C) W (C, D) row-major, then b (C); l2 = l2_strength(C, n) (0: no penalty);
  //   grad:   (C*D + C) receives df/dparams in the same layout. Returns f.
  // Bit-identical for the same arguments, run to run. The trained model (model()) is not changed. The
  // default throws UsageError: the backend has no full-batch objective.
  virtual double full_batch_objective(const std::vector<std::uint32_t>& rows, const double* params, double l2,
                                      double* grad);

  // The Newton-CG solver's Hessian-vector product of the same objective: hv (C*D + C) = H(params) v, v and hv
  // in the layout of params, softmax head only (UsageError for the others). Bit-identical for the same
  // arguments. The default throws UsageError: "--solver newton-cg runs on --device cpu or reference".
  virtual void full_batch_hessian_vector(const std::vector<std::uint32_t>& rows, const double* params, double l2,
                                         const double* v, double* hv);

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
