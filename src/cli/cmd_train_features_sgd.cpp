// `train --data FILE --solver sgd` (the default solver) on a feature file: the rows handed to an SGD engine
// (uint8 rows without weights as an IDX image set on the pixel engines; every other matrix as dense float32 rows
// on the feature engines, feature_sgd.hpp: reference, cpu or cuda as --device says; under mpirun, synchronous SGD
// over ranks through the batches' feature objective, rank_sgd.hpp), the host loop of training.hpp with the test
// split scored each epoch, the epoch lines, --val-split's scores and --early-stop, --metrics, --save (the class
// labels and the scaler, as the full-batch path writes), --init and --resume (the epochs after the saved ones) and
// the final confusion matrix. The data, its scaler and weights come prepared from cmd_train_features.cpp.
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cmd_train_features.hpp"
#include "commands.hpp"
#include "logreg/backend_factory.hpp"
#include "logreg/errors.hpp"
#include "logreg/evaluation.hpp"
#include "logreg/feature_sgd.hpp"
#include "logreg/fit_weights.hpp"
#include "logreg/metrics_log.hpp"
#include "logreg/model_file.hpp"
#include "logreg/rank_sgd.hpp"
#include "logreg/ranks.hpp"
#include "logreg/thread_team.hpp"
#include "logreg/training.hpp"

namespace logreg::cli {
namespace {

// The SGD engine of the run and the rows it holds (which must outlive it).
struct FeatureSgdEngine {
  ImageSet images;  // uint8 rows without weights: the pixel engines
  LabelSet labels;
  FeatureRows rows;  // every other matrix: the feature engines
  std::unique_ptr<TrainerBackend> backend;
};

// The engine --device names (auto: CUDA on a usable real GPU, else cpu): uint8 rows without weights on the pixel
// engines of make_backend, every other matrix on make_feature_backend's. The factory's note goes to stderr; the
// CUDA-only flags are refused when the engine is not on CUDA.
void make_feature_sgd_engine(const RunSettings& o, const FeatureData& d, FeatureFitTerms terms, const Model& initial,
                             const std::vector<float>& velocity, FeatureSgdEngine* e) {
  BackendRequest request;
  request.device = o.device;
  request.optimizer.momentum = static_cast<float>(o.momentum);
  request.optimizer.nesterov = o.nesterov;
  request.optimizer.weight_decay = static_cast<float>(o.weight_decay);
  request.velocity = velocity;
  request.cuda = cuda_options_of(o);
  const FeatureMatrix& x = d.train_x;
  if (ranks::active()) {  // each batch's FeatureObjective, its fixed row parts shared out over the ranks
    const bool reference = o.device == Device::kReference;
    e->backend = make_rank_sync_sgd_backend(
        make_feature_batch_engine(x, d.train_y, initial.head, initial.num_classes, reference ? 1 : 8,
                                  reference ? nullptr : &cpu::shared_thread_team(), std::move(terms)),
        initial, request.optimizer, velocity);
    return;
  }
  MadeBackend made;
  if (!x.sparse && x.dtype == FeatureDtype::kUint8 && terms.row_weights.empty() && terms.intercept) {
    pixel_rows_of(x, d.train_y, &e->images, &e->labels);
    made = make_backend(request, e->images, e->labels, initial);
  } else {
    e->rows = dense_float_rows(x, d.train_y, std::move(terms), cli_idx_limits().max_bytes);
    made = make_feature_backend(request, e->rows, initial);
  }
  e->backend = std::move(made.backend);
  if (!made.note.empty()) std::fprintf(stderr, "%s\n", made.note.c_str());
  if (!e->backend->traits().gpu) validate_cuda_options(o, e->backend->name() + " (--device auto found no usable GPU)");
}

}  // namespace

FeatureTrainOutcome run_train_features_sgd(const RunSettings& o, FeatureRunData& in,
                                           const std::function<bool()>& stop_requested) {
  const FeatureData& d = in.d;
  const std::size_t D = d.train_x.cols;
  const int C = static_cast<int>(d.classes.size());
  const FeatureFitTerms terms = fit_terms_of(in.sample_weights, in.class_weights, d.train_y, !o.no_intercept, d.train_path);
  Model initial = start_model(o, in, init_model(static_cast<int>(D), C, o.loss, o.seed));
  if (o.no_intercept) std::fill(initial.bias.begin(), initial.bias.end(), 0.0f);
  TrainConfig cfg = sgd_config(o);
  cfg.early_stop = o.early_stop;
  std::vector<float> velocity;
  const bool resumed = in.start && !o.resume.empty();
  if (resumed) {  // the epochs after the saved ones, with its momentum and early stopping's state
    cfg.first_epoch = static_cast<int>(in.start->epochs_done) + 1;
    if (o.momentum != 0.0) velocity = in.start->optimizer_state;
    cfg.best_val_loss = in.early_stop.best_val_loss;
    cfg.best_val_epoch = in.early_stop.best_val_epoch;
  }
  FeatureSgdEngine engine;
  make_feature_sgd_engine(o, d, terms, initial, velocity, &engine);
  TrainerBackend& backend = *engine.backend;

  RunFacts facts;
  facts.backend = backend.name();
  facts.first_epoch = cfg.first_epoch;
  facts.train_rows = in.split.train_rows.size();
  facts.val_rows = static_cast<std::uint32_t>(in.split.val_rows.size());
  facts.data = in.data_record;
  nlohmann::ordered_json settings = settings_record(o, facts);
  if (!o.test_data.empty()) settings["test_data"] = o.test_data;
  if (o.standardize) settings["standardize"] = d.train_x.sparse ? "scale only (CSR rows are not centred)" : "mean and scale";

  const FeatureMatrix& eval_x = d.has_test ? d.test_x : d.train_x;
  const std::vector<std::uint32_t>& eval_y = d.has_test ? d.test_y : d.train_y;
  const char* eval_name = d.has_test ? "Test" : "Training";
  print_feature_data_lines(o, in);
  std::printf("Model: Linear(%zu -> %d), loss %s; backend %s%s\n", D, C, loss_head_name(o.loss), backend.name().c_str(),
              o.no_intercept ? "; no intercept (bias fixed at 0)" : "");
  std::printf("Optimizer: SGD, batch %d, lr %g (%s), momentum %g, weight decay %g, %d epochs, seed %llu%s\n",
              o.batch_size, o.lr, lr_schedule_name(o.lr_schedule), o.momentum, o.weight_decay, o.epochs,
              static_cast<unsigned long long>(o.seed),
              terms.row_weights.empty() ? "" : "; each row's loss times its sample x class weight");
  if (resumed) std::printf("Resuming %s after epoch %u\n", o.resume.c_str(), in.start->epochs_done);
  if (in.start && !resumed) std::printf("Initial weights from %s\n", o.init.c_str());
  std::fflush(stdout);

  const bool has_val = !in.split.val_rows.empty();
  std::unique_ptr<MetricsLog> metrics;
  if (!o.metrics.empty()) {
    metrics = std::make_unique<MetricsLog>(o.metrics, json_text(settings), has_val, resumed ? cfg.first_epoch - 1 : -1);
  }

  const std::unique_ptr<Engine> inference = make_inference_engine();
  TrainingRun run;
  run.train_rows = in.split.train_rows;
  run.num_classes = C;
  run.test = [&](TrainerBackend& b) { return evaluate_model(*inference, b.model(), eval_x, eval_y).totals; };
  if (has_val) run.val = [&](TrainerBackend& b) { return evaluate_model(*inference, b.model(), in.val_x, in.val_y).totals; };

  ModelFile mf;  // what --save writes: the model of the last complete epoch
  mf.model = backend.model();
  mf.rows = 1;
  mf.cols = static_cast<std::uint32_t>(D);
  mf.class_labels = d.classes;
  mf.scaler = in.scaler;
  mf.pixel_scale = in.uint8_input ? kModelFilePixelScale : 1.0f;
  mf.seed = o.seed;
  mf.settings_json = settings_json_with_early_stop(settings, in.early_stop);
  mf.optimizer_state = backend.optimizer_state();
  mf.epochs_done = static_cast<std::uint32_t>(cfg.first_epoch - 1);
  std::string metrics_failure;
  TrainHooks hooks;
  hooks.on_epoch = [&](const EpochReport& r) {
    std::printf("%s\n", format_epoch_line(r).c_str());
    std::fflush(stdout);
    mf.model = backend.model();
    mf.optimizer_state = backend.optimizer_state();
    mf.epochs_done = static_cast<std::uint32_t>(r.epoch);
    mf.settings_json = settings_json_with_early_stop(settings, EarlyStopState{r.best_val_loss, r.best_val_epoch});
    if (metrics && metrics_failure.empty()) {
      try {
        metrics->append(r, r.lr);
      } catch (const ResourceError& e) {
        metrics_failure = e.what();
      }
    }
    if (!o.save.empty() && o.save_every > 0 && r.epoch % o.save_every == 0) save_model_file(o.save, mf);
  };
  hooks.chunks_per_epoch = chunks_per_epoch(backend.traits());
  hooks.stop_requested = [&] { return (stop_requested && stop_requested()) || !metrics_failure.empty(); };
  const TrainOutcome trained = run_training(backend, run, cfg, hooks);
  if (trained.early_stopped) std::printf("%s\n", format_early_stop_line(trained.last_epoch, cfg.early_stop).c_str());

  FeatureTrainOutcome outcome;
  outcome.done_text = std::to_string(trained.last_epoch) + " complete epochs";
  if (!metrics_failure.empty()) {
    if (!o.save.empty()) save_model_file(o.save, mf);
    throw ResourceError(metrics_failure + "; training stopped after epoch " + std::to_string(trained.last_epoch) +
                        (o.save.empty() ? "" : "; model saved to " + o.save));
  }
  if (trained.stopped) {
    outcome.stopped = true;
    if (!o.save.empty()) save_model_file(o.save, mf);
    outcome.saved_text = "the weights of epoch " + std::to_string(trained.last_epoch);
    return outcome;
  }
  if (!o.save.empty()) {
    save_model_file(o.save, mf);
    std::printf("Saved model to %s (%d epochs)\n", o.save.c_str(), trained.last_epoch);
  }
  const EvaluationReport report = evaluate_model(*inference, mf.model, eval_x, eval_y);
  std::printf("\n%s set confusion matrix after epoch %d (rows: true class, columns: predicted; class c is label %s in "
              "that order):\n",
              eval_name, trained.last_epoch, class_labels_text(d.classes).c_str());
  std::fputs(format_confusion_matrix(report).c_str(), stdout);
  return outcome;
}

}  // namespace logreg::cli
