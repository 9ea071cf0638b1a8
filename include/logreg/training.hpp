// The backend-agnostic host loop: epochs, seeded shuffles, learning-rate schedules, the validation
// split and early stopping, per-epoch evaluation, divergence checks and the report line.
#pragma once

#include <cmath>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "logreg/backend.hpp"
#include "logreg/dataset.hpp"
#include "logreg/name_table.hpp"

namespace logreg {

enum class LrSchedule { kConstant, kStep, kCosine };

struct TrainConfig {
  int first_epoch = 1;  // > 1 when resuming from a saved model
  int epochs = 50;      // the last epoch to run (1-based, inclusive)
  int batch_size = 32;
  float lr = 0.001f;    // the base learning rate
  LrSchedule schedule = LrSchedule::kConstant;
  int lr_step = 10;         // step: multiply by lr_gamma every lr_step epochs
  float lr_gamma = 0.1f;
  LossHead head = LossHead::kSoftmax;
  std::uint64_t seed = 0;
  int early_stop = 0;  // patience in epochs on the validation loss; 0 = off (needs a validation split)
  // Early stopping's state at first_epoch (a resumed run continues it): the best validation loss so far
  // and the epoch that had it.
  double best_val_loss = INFINITY;
  int best_val_epoch = 0;
};

// The learning rate of 1-based `epoch`: constant; step: lr * gamma^floor((epoch-1)/lr_step);
// cosine: lr * (1 + cos(pi * (epoch-1) / epochs)) / 2 (PyTorch's CosineAnnealingLR, T_max = epochs).
float lr_for_epoch(const TrainConfig& cfg, int epoch);

inline constexpr NameTable<LrSchedule, 3> kLrScheduleNames = {{
    {LrSchedule::kConstant, "constant", "the base learning rate throughout"},
    {LrSchedule::kStep, "step", "x lr-gamma every lr-step epochs"},
    {LrSchedule::kCosine, "cosine", "PyTorch's CosineAnnealingLR over the epochs"},
}};

inline const char* lr_schedule_name(LrSchedule s) { return name_of(kLrScheduleNames, s); }
inline bool parse_lr_schedule(const std::string& s, LrSchedule* out) { return parse_name(kLrScheduleNames, s, out); }

// Which training rows are trained on and which are held out for validation.
struct TrainSplit {
  std::vector<std::uint32_t> train_rows;  // row indices into the training set, ascending
  ImageSet val_images;                    // copies of the held-out rows (empty without a split)
  LabelSet val_labels;
  bool has_val() const { return val_images.count > 0; }
};

// The first `limit` training rows (0 = all); with val_fraction > 0, a seeded random round(F * n) of
// them are held out for validation. Throws UsageError when nothing would be left to train on, and DataError
// (naming the labels file and the classes) when the rows fitted hold fewer than 2 classes or lack any class
// of the data: the class checks of load_dataset, on the rows actually fitted.
TrainSplit make_train_split(const Dataset& data, std::uint32_t limit, double val_fraction, std::uint64_t seed);

// The rule of make_train_split on row indices alone, for any kind of rows (IDX images, a feature file's rows):
// of `count` training rows the first n = `limit` (0, or a limit >= count: all), and with val_fraction > 0 a
// seeded random round(F * n) of those held out (a Fisher-Yates shuffle of 0..n-1 from stream 0xA11DA7E of the
// seed, its last round(F * n) held out). Both lists ascending. UsageError when nothing would be left to fit.
struct RowSplit {
  std::vector<std::uint32_t> train_rows;  // the rows fitted
  std::vector<std::uint32_t> val_rows;    // the rows held out (empty without a split)
};
RowSplit split_training_rows(std::uint32_t count, std::uint32_t limit, double val_fraction, std::uint64_t seed);

// What the class check of the fitted rows needs to know of the data: the file its labels came from, the number
// of classes, each training row's class index and how a message names class c.
struct FittedClasses {
  std::string labels_path;
  int num_classes = 0;
  std::function<std::size_t(std::uint32_t row)> class_of;
  std::function<std::string(std::size_t c)> class_name;
};

// make_train_split's class check on `split` (of `count` rows, cut by `limit` and `val_fraction`): DataError naming
// the labels file, the options that took rows away and the classes left without a fitted row.
void check_fitted_classes(const RowSplit& split, std::uint32_t count, std::uint32_t limit, double val_fraction,
                          const FittedClasses& classes);

struct EpochReport {
  int epoch = 0;          // 1-based
  float lr = 0.0f;        // the learning rate used in this epoch
  Totals train;           // summed over the epoch's training rows (before each update)
  Totals test;            // evaluation of the model at the end of the epoch
  Totals val;             // the same on the validation split, when there is one
  bool has_val = false;
  double seconds = 0.0;   // wall time of training + evaluation
  double train_seconds = 0.0;
  double samples_per_second = 0.0;  // training rows / train_seconds
  // Early stopping's state after this epoch (TrainConfig's at first_epoch while it is off or has no rows):
  // what a snapshot saves for --resume to continue it.
  double best_val_loss = INFINITY;
  int best_val_epoch = 0;
};

// "Epoch: 3. Loss: 0.3127. Accuracy: 91.12. Time: 1.84 s. Throughput: 32600 samples/s"
// (+ ". Val loss: 0.3301. Val accuracy: 90.87" with a validation split)
std::string format_epoch_line(const EpochReport& r);

// "Early stop after epoch 7: the validation loss has not improved for 3 epochs"
std::string format_early_stop_line(int last_epoch, int patience);

// on_epoch runs after each epoch. Each epoch is handed to the backend in `chunks_per_epoch` calls of whole
// batches (identical result; a sync per call); on_progress, when set, is called after each of them and does
// not change their number (a progress bar must not change the work). stop_requested is polled after every
// chunk: true ends the run there, after a whole step.
struct TrainHooks {
  std::function<void(const EpochReport&)> on_epoch;
  std::function<void(int epoch, std::int64_t done, std::int64_t total)> on_progress;
  std::function<bool()> stop_requested;
  int chunks_per_epoch = 1;
};

struct TrainOutcome {
  int last_epoch = 0;          // the last epoch completed (cfg.first_epoch - 1 when none ran: resumed epochs count)
  bool early_stopped = false;  // the validation loss stopped improving
  bool stopped = false;        // stop_requested said so
  bool partial_epoch = false;  // stopped inside epoch last_epoch + 1 (its steps so far are in the model)
  std::int64_t steps_in_partial_epoch = 0;
};

// A chunk's mean training loss above this many times the loss of a uniform guess (ln C; C·ln 2 for
// one-vs-rest) counts as divergence.
inline constexpr double kDivergedLossFactor = 1000.0;

// Throws DivergedError when the training loss or the model turns non-finite, or the loss explodes past
// kDivergedLossFactor times a uniform guess's, naming the epoch and the step by which it happened (to the
// resolution of the chunks).
TrainOutcome run_training(TrainerBackend& backend, const Dataset& data, const TrainSplit& split,
                          const TrainConfig& cfg, const TrainHooks& hooks);

// What the host loop trains on and scores when the rows are not an IDX Dataset (a feature file's rows): the
// training rows (indices into the backend's training set, ascending), the number of classes (the divergence
// check's uniform loss) and the end-of-epoch scores of the model the backend holds: `test` always, `val` when
// set (then EpochReport::has_val).
struct TrainingRun {
  std::vector<std::uint32_t> train_rows;
  int num_classes = 0;
  std::function<Totals(TrainerBackend&)> test;
  std::function<Totals(TrainerBackend&)> val;
};

// The same loop over `run`: the IDX overload above is this one with the backend's evaluate() on the test set and
// the validation split.
TrainOutcome run_training(TrainerBackend& backend, const TrainingRun& run, const TrainConfig& cfg,
                          const TrainHooks& hooks);

}  // namespace logreg
