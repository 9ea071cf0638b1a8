// The backend-agnostic host loop: one seeded shuffle per epoch over the training split, SGD through the
// backend with the epoch's learning rate, evaluation, divergence and early-stopping checks, reports.
#include "logreg/training.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>

#include "logreg/errors.hpp"
#include "logreg/rng.hpp"

namespace logreg {

std::string format_epoch_line(const EpochReport& r) {
  char buf[320];
  int n = std::snprintf(buf, sizeof buf, "Epoch: %d. Loss: %.4f. Accuracy: %.2f. Time: %.2f s. Throughput: %.0f samples/s",
                        r.epoch, r.train.mean_loss(), r.test.accuracy_percent(), r.seconds, r.samples_per_second);
  if (r.has_val && n > 0 && static_cast<std::size_t>(n) < sizeof buf) {
    std::snprintf(buf + n, sizeof buf - static_cast<std::size_t>(n), ". Val loss: %.4f. Val accuracy: %.2f",
                  r.val.mean_loss(), r.val.accuracy_percent());
  }
  return buf;
}

std::string format_early_stop_line(int last_epoch, int patience) {
  return "Early stop after epoch " + std::to_string(last_epoch) + ": the validation loss has not improved for " +
         std::to_string(patience) + " epochs";
}

float lr_for_epoch(const TrainConfig& cfg, int epoch) {
  const double t = static_cast<double>(epoch - 1);
  switch (cfg.schedule) {
    case LrSchedule::kConstant:
      return cfg.lr;
    case LrSchedule::kStep:
      return static_cast<float>(cfg.lr * std::pow(static_cast<double>(cfg.lr_gamma), std::floor(t / cfg.lr_step)));
    case LrSchedule::kCosine:
      return static_cast<float>(cfg.lr * 0.5 * (1.0 + std::cos(M_PI * t / static_cast<double>(cfg.epochs))));
  }
  return cfg.lr;
}

void check_fitted_classes(const RowSplit& split, std::uint32_t count, std::uint32_t limit, double val_fraction,
                          const FittedClasses& classes) {
  if (split.train_rows.size() == count) return;  // every row: the loader checked them
  std::vector<std::size_t> per_class(static_cast<std::size_t>(classes.num_classes), 0);
  for (const std::uint32_t r : split.train_rows) {
    const std::size_t label = classes.class_of(r);
    if (label < per_class.size()) ++per_class[label];  // a label out of range is the backends' to report
  }
  std::string missing;
  int present = 0, n_missing = 0;
  std::size_t only = 0;
  for (std::size_t c = 0; c < per_class.size(); ++c) {
    if (per_class[c] > 0) {
      ++present;
      only = c;
    } else if (++n_missing <= 10) {
      missing += (missing.empty() ? "" : ", ") + classes.class_name(c);
    }
  }
  if (n_missing == 0) return;
  if (n_missing > 10) missing += ", ...";
  std::string which;
  if (limit > 0 && limit < count) which = "--limit-train " + std::to_string(limit);
  if (!split.val_rows.empty()) {
    char fraction[32];
    std::snprintf(fraction, sizeof fraction, "%g", val_fraction);
    which += std::string(which.empty() ? "" : ", ") + "less " + std::to_string(split.val_rows.size()) +
             " rows held out by --val-split " + fraction;
  }
  const std::string rows = "the " + std::to_string(split.train_rows.size()) + " training rows fitted (" + which + ")";
  if (present < 2) {
    throw DataError(classes.labels_path, rows + " are all of class " + classes.class_name(only) +
                                             ": a classifier needs rows of at least 2 classes; fit more rows");
  }
  throw DataError(classes.labels_path,
                  rows + " have no row of class " + missing + " (" + std::to_string(n_missing) + " of the data's " +
                      std::to_string(classes.num_classes) + " classes): a class without fitted rows cannot be learned; "
                      "fit more rows");
}

RowSplit split_training_rows(std::uint32_t count, std::uint32_t limit, double val_fraction, std::uint64_t seed) {
  const std::uint32_t n = limit > 0 && limit < count ? limit : count;
  RowSplit split;
  split.train_rows.resize(n);
  for (std::uint32_t i = 0; i < n; ++i) split.train_rows[i] = i;
  const auto n_val = static_cast<std::uint32_t>(std::llround(val_fraction * n));
  if (n_val == 0) return split;
  if (n_val >= n) throw UsageError("--val-split leaves no training rows (" + std::to_string(n) + " rows in all)");
  std::vector<std::uint32_t>& rows = split.train_rows;
  Rng rng(seed, 0xA11DA7Eull);  // a stream of its own: the split does not move when epochs change
  for (std::uint32_t i = n; i > 1; --i) std::swap(rows[i - 1], rows[static_cast<std::uint32_t>(rng.below(i))]);
  split.val_rows.assign(rows.end() - n_val, rows.end());
  rows.resize(n - n_val);
  std::sort(rows.begin(), rows.end());
  std::sort(split.val_rows.begin(), split.val_rows.end());
  return split;
}

TrainSplit make_train_split(const Dataset& data, std::uint32_t limit, double val_fraction, std::uint64_t seed) {
  RowSplit rows = split_training_rows(data.train_images.count, limit, val_fraction, seed);
  FittedClasses classes;
  classes.labels_path = data.train_labels.path;
  classes.num_classes = data.num_classes;
  classes.class_of = [&data](std::uint32_t r) { return static_cast<std::size_t>(data.train_labels.labels[r]); };
  classes.class_name = [](std::size_t c) { return std::to_string(c); };
  check_fitted_classes(rows, data.train_images.count, limit, val_fraction, classes);
  TrainSplit split;
  split.train_rows = std::move(rows.train_rows);
  const std::vector<std::uint32_t>& val = rows.val_rows;
  const auto n_val = static_cast<std::uint32_t>(val.size());
  if (n_val == 0) return split;
  const std::size_t dim = data.train_images.dim();
  split.val_images.path = data.train_images.path + " (validation split)";
  split.val_images.rows = data.train_images.rows;
  split.val_images.cols = data.train_images.cols;
  split.val_images.count = n_val;
  split.val_images.pixels.resize(static_cast<std::size_t>(n_val) * dim);
  split.val_labels.path = data.train_labels.path + " (validation split)";
  split.val_labels.labels.resize(n_val);
  for (std::uint32_t k = 0; k < n_val; ++k) {
    std::copy_n(data.train_images.image(val[k]), dim, split.val_images.pixels.data() + static_cast<std::size_t>(k) * dim);
    split.val_labels.labels[k] = data.train_labels.labels[val[k]];
  }
  return split;
}

namespace {

bool model_is_finite(const Model& m) {
  for (float w : m.weights) if (!std::isfinite(w)) return false;
  for (float b : m.bias) if (!std::isfinite(b)) return false;
  return true;
}

// "0.001", "1e+06": a learning rate or loss, shortest form.
std::string format_number(double v) {
  char text[32];
  std::snprintf(text, sizeof text, "%.6g", v);
  return text;
}

}  // namespace

TrainOutcome run_training(TrainerBackend& backend, const Dataset& data, const TrainSplit& split, const TrainConfig& cfg,
                          const TrainHooks& hooks) {
  TrainingRun run;
  run.train_rows = split.train_rows;
  run.num_classes = data.num_classes;
  run.test = [&data](TrainerBackend& b) { return b.evaluate(data.test_images, data.test_labels); };
  if (split.has_val()) run.val = [&split](TrainerBackend& b) { return b.evaluate(split.val_images, split.val_labels); };
  return run_training(backend, run, cfg, hooks);
}

TrainOutcome run_training(TrainerBackend& backend, const TrainingRun& run, const TrainConfig& cfg,
                          const TrainHooks& hooks) {
  using Clock = std::chrono::steady_clock;
  const auto n = static_cast<std::uint32_t>(run.train_rows.size());
  const auto batch = static_cast<std::size_t>(cfg.batch_size);
  // Hand each epoch over in chunks of whole batches (identical result). The progress hook is told after each
  // chunk and never changes their number: the work is the same with and without a progress bar.
  const std::size_t batches = (n + batch - 1) / batch;
  const std::size_t chunks = static_cast<std::size_t>(std::max(hooks.chunks_per_epoch, 1));
  const std::size_t chunk_rows = std::max<std::size_t>(1, (batches + chunks - 1) / chunks) * batch;
  // Softmax losses stay finite however large the weights grow (log-sum-exp), so an exploding loss is
  // divergence too: far above the loss of predicting every class with equal probability.
  const double classes = static_cast<double>(std::max(2, run.num_classes));
  const double uniform_loss = cfg.head == LossHead::kOvr ? classes * std::log(2.0) : std::log(classes);
  TrainOutcome outcome;
  outcome.last_epoch = cfg.first_epoch - 1;  // a resumed run has these already, even if stopped at once
  double best_val = cfg.best_val_loss;
  int best_epoch = cfg.best_val_epoch;
  for (int epoch = cfg.first_epoch; epoch <= cfg.epochs; ++epoch) {
    backend.begin_epoch(epoch);
    const auto t0 = Clock::now();
    std::vector<std::uint32_t> order = epoch_order(cfg.seed, epoch - 1, n);
    for (auto& o : order) o = run.train_rows[o];
    EpochReport report;
    report.epoch = epoch;
    report.lr = lr_for_epoch(cfg, epoch);
    for (std::size_t start = 0; start < order.size(); start += chunk_rows) {
      const std::size_t end = std::min(order.size(), start + chunk_rows);
      const Totals t = chunk_rows >= order.size()
                           ? backend.train_epoch(order, cfg.batch_size, report.lr)
                           : backend.train_epoch(std::vector<std::uint32_t>(order.begin() + static_cast<std::ptrdiff_t>(start),
                                                                            order.begin() + static_cast<std::ptrdiff_t>(end)),
                                                 cfg.batch_size, report.lr);
      report.train.loss_sum += t.loss_sum;
      report.train.correct += t.correct;
      report.train.count += t.count;
      report.train.last_batch_loss = t.last_batch_loss;
      const auto steps_done = static_cast<std::int64_t>((end + batch - 1) / batch);
      auto where = [&] {  // built only when needed: this runs once per chunk
        return "training diverged in epoch " + std::to_string(epoch) + " by step " + std::to_string(steps_done) +
               " of " + std::to_string(batches) + " (learning rate " + format_number(report.lr) + "): ";
      };
      if (!std::isfinite(t.loss_sum) || (end == order.size() && !model_is_finite(backend.model()))) {
        backend.end_epoch(epoch);
        throw DivergedError(where() + "the loss or the weights are no longer finite; try a smaller --lr");
      }
      const double chunk_loss = t.count > 0 ? t.loss_sum / static_cast<double>(t.count) : 0.0;
      if (chunk_loss > kDivergedLossFactor * uniform_loss) {
        backend.end_epoch(epoch);
        throw DivergedError(where() + "the mean training loss " + format_number(chunk_loss) + " is over " +
                            format_number(kDivergedLossFactor) + " times that of a uniform guess (" +
                            format_number(uniform_loss) + "); try a smaller --lr");
      }
      if (hooks.on_progress) hooks.on_progress(epoch, static_cast<std::int64_t>(end), static_cast<std::int64_t>(order.size()));
      if (end < order.size() && hooks.stop_requested && hooks.stop_requested()) {
        backend.end_epoch(epoch);
        outcome.stopped = true;
        outcome.partial_epoch = true;
        outcome.steps_in_partial_epoch = steps_done;
        return outcome;
      }
    }
    const auto t1 = Clock::now();
    report.test = run.test(backend);
    if (run.val) {
      report.val = run.val(backend);
      report.has_val = true;
    }
    const auto t2 = Clock::now();
    backend.end_epoch(epoch);
    report.train_seconds = std::chrono::duration<double>(t1 - t0).count();
    report.seconds = std::chrono::duration<double>(t2 - t0).count();
    report.samples_per_second = report.train_seconds > 0.0 ? static_cast<double>(n) / report.train_seconds : 0.0;
    outcome.last_epoch = epoch;
    bool patience_spent = false;
    if (report.has_val && cfg.early_stop > 0) {
      if (report.val.mean_loss() < best_val) {
        best_val = report.val.mean_loss();
        best_epoch = epoch;
      } else {
        patience_spent = epoch - best_epoch >= cfg.early_stop;
      }
    }
    report.best_val_loss = best_val;
    report.best_val_epoch = best_epoch;
    if (hooks.on_epoch) hooks.on_epoch(report);
    if (patience_spent) {
      outcome.early_stopped = true;
      break;
    }
    if (hooks.stop_requested && hooks.stop_requested()) {
      outcome.stopped = true;
      break;
    }
  }
  return outcome;
}

}  // namespace logreg
