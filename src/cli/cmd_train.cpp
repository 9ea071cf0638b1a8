// `logreg_cuda train`: runs one training from its parsed options: picks the backend (auto: CUDA when a
// device is usable, else the CPU, saying which), prints the run's settings, runs the host loop with one line
// per epoch, writes metrics / saved models, and prints the confusion matrix at the end. The options
// themselves, their checks and the settings record are the table in run_settings.cpp.
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <csignal>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "run_settings.hpp"
#include "cmd_train_features.hpp"
#include "cmd_train_lbfgs.hpp"
#include "train_settings.hpp"
#include "logreg/checked_files.hpp"
#include "logreg/cpu_fast.hpp"
#include "logreg/backend_factory.hpp"
#include "logreg/data_source.hpp"
#include "logreg/errors.hpp"
#include "logreg/evaluation.hpp"
#include "logreg/export_safetensors.hpp"
#include "logreg/metrics_log.hpp"
#include "logreg/model_file.hpp"
#include "logreg/rank_sgd.hpp"
#include "logreg/ranks.hpp"
#include "logreg/thread_team.hpp"
#include "logreg/training.hpp"

namespace logreg::cli {
namespace {

// SIGINT / SIGTERM / SIGHUP: the first one asks the host loop to stop after the current step (the model of
// the last complete epoch is then saved with --save and the metrics file is complete); the handler then
// restores the default action, so a second Ctrl-C ends the process at once.
volatile std::sig_atomic_t g_stop_signal = 0;

extern "C" void on_stop_signal(int sig) {
  g_stop_signal = sig;
  std::signal(sig, SIG_DFL);
}

constexpr std::array<int, 3> kStopSignals = {SIGINT, SIGTERM, SIGHUP};

class StopSignalScope {
 public:
  StopSignalScope() {
    g_stop_signal = 0;
    for (std::size_t i = 0; i < kStopSignals.size(); ++i) previous_[i] = std::signal(kStopSignals[i], on_stop_signal);
  }
  ~StopSignalScope() {
    for (std::size_t i = 0; i < kStopSignals.size(); ++i) std::signal(kStopSignals[i], previous_[i]);
  }
  StopSignalScope(const StopSignalScope&) = delete;
  StopSignalScope& operator=(const StopSignalScope&) = delete;

 private:
  std::array<void (*)(int), 3> previous_{};
};

// The exit code and name of a stop signal (docs/hardening.md, "Exit codes": 128 + the signal's number).
ExitCode exit_code_of(int sig) {
  if (sig == SIGTERM) return ExitCode::kTerminated;
  if (sig == SIGHUP) return ExitCode::kHangup;
  return ExitCode::kInterrupted;
}
const char* signal_name(int sig) { return sig == SIGTERM ? "SIGTERM" : sig == SIGHUP ? "SIGHUP" : "SIGINT"; }

// stdout failed (EPIPE from `| head`, a full disk): training stops at the end of the epoch, like a signal.
bool stdout_failed() { return std::ferror(stdout) != 0; }

void draw_progress(int epoch, std::int64_t done, std::int64_t total) {
  const int width = 40;
  const int filled = total > 0 ? static_cast<int>(width * done / total) : width;
  std::fprintf(stderr, "\rEpoch %d [%s%s] %3d%%", epoch, std::string(static_cast<std::size_t>(filled), '#').c_str(),
               std::string(static_cast<std::size_t>(width - filled), '.').c_str(),
               total > 0 ? static_cast<int>(100 * done / total) : 100);
  if (done >= total) std::fprintf(stderr, "\r%*s\r", width + 20, "");
  std::fflush(stderr);
}

// What --save writes: the model and velocity of the last complete epoch (an interrupted epoch's partial steps
// are not kept, so a resumed run continues bit for bit as a straight run would), with the run's settings
// and early stopping's state in the settings record.
struct EpochSnapshot {
  Model model;
  std::vector<float> velocity;
  int epoch = 0;
  EarlyStopState early_stop;
};

ModelFile model_file_of(const EpochSnapshot& snap, const Dataset& data, std::uint64_t seed,
                        const nlohmann::ordered_json& settings) {
  ModelFile mf;
  mf.model = snap.model;
  mf.rows = data.train_images.rows;
  mf.cols = data.train_images.cols;
  mf.epochs_done = static_cast<std::uint32_t>(snap.epoch);
  mf.seed = seed;
  mf.settings_json = settings_json_with_early_stop(settings, snap.early_stop);
  mf.optimizer_state = snap.velocity;
  return mf;
}

// scikit-learn's start: every weight and bias 0.
Model zero_model(Model m) {
  std::fill(m.weights.begin(), m.weights.end(), 0.0f);
  std::fill(m.bias.begin(), m.bias.end(), 0.0f);
  return m;
}

// --solver lbfgs and newton-cg (cmd_train_lbfgs.hpp), with the signals and exit codes of an SGD run.
void run_lbfgs(const RunSettings& o, const Dataset& data, const TrainSplit& split, FullBatchEngine& engine,
               const Model& start, const nlohmann::ordered_json& settings) {
  LbfgsRunInputs in;
  in.data = &data;
  in.split = &split;
  const std::uint32_t count = data.train_images.count;
  in.all_rows = o.limit_train > 0 && static_cast<std::uint64_t>(o.limit_train) < count
                    ? static_cast<std::uint32_t>(o.limit_train) : count;
  in.engine = &engine;
  in.start = start;
  in.settings = settings;
  in.stop_requested = [] { return g_stop_signal != 0 || stdout_failed(); };
  const StopSignalScope signals;
  const LbfgsRunOutcome outcome = run_lbfgs_training(o, std::move(in));
  if (!outcome.stopped) return;
  const int sig = static_cast<int>(g_stop_signal);
  std::string what = sig != 0 ? std::string("interrupted by ") + signal_name(sig)
                              : std::string("standard output failed, training stopped");
  if (outcome.stopped_in_cv) {
    what += " during cross-validation (no model fitted on all rows; nothing saved)";
  } else if (outcome.stopped_in_path) {
    what += " during the regularisation path, after " + std::to_string(outcome.iterations) + " " +
            full_batch_title(o.solver) + " iterations of one C";
    if (!o.save.empty()) {
      what += "; model saved to " + o.save + " (that C's last iterate on the training rows, neither chosen nor refitted: "
              "its record says so)";
    }
  } else {
    what += " after " + std::to_string(outcome.iterations) + " " + full_batch_title(o.solver) + " iterations";
    if (!o.save.empty()) what += "; model saved to " + o.save + " (the last iteration's weights)";
  }
  throw Error(sig != 0 ? exit_code_of(sig) : ExitCode::kDevice, what);
}

// Under mpirun (any rank count): what runs over ranks (the full-batch solvers and synchronous SGD, whose objectives
// sum fixed row parts that the ranks share out, ranks.hpp: IDX images on every device, with one GPU per rank on
// cuda, and feature files on cpu and reference; local SGD on IDX files, rank_sgd.hpp), and only rank 0 writes
// --save and --metrics.
void apply_rank_rules(RunSettings& o) {
  if (!is_full_batch(o.solver) && o.device == Device::kCuda && is_feature_file(o.data)) {
    throw UsageError("--device cuda does not run SGD over MPI ranks on a feature file (" + *o.data +
                     "): use --device cpu or reference");
  }
  if (!ranks::is_root()) {
    o.save.clear();
    o.metrics.clear();
  }
}

// Under mpirun SGD runs on a rank engine (rank_sgd.hpp), whatever the rank count (so that 1 rank gives the bits of
// N): synchronous SGD through the device's full-batch engine (make_full_batch_engine: cpu, reference, cuda with
// one GPU per rank), or local SGD (--average-every) around the device's own SGD backend on the rank's shard.
std::unique_ptr<TrainerBackend> make_rank_sgd_backend(const RunSettings& o, const BackendRequest& request,
                                                      const Dataset& data, const TrainSplit& split,
                                                      const Model& initial, std::string* note) {
  if (o.average_every == 0) {  // the engine's objective cuts each batch into fixed parts the ranks share out
    MadeFullBatchEngine made = make_full_batch_engine(request, data.train_images, data.train_labels, initial);
    *note = made.note;
    return make_rank_sync_sgd_backend(std::move(made.engine), initial, request.optimizer, request.velocity);
  }
  MadeBackend made = make_backend(request, data.train_images, data.train_labels, initial);
  *note = made.note;
  // This rank's shard: its contiguous share of the training rows (ascending), cut as the full-batch parts are.
  const auto n = static_cast<int>(split.train_rows.size());
  const int first = cpu::split_point(n, ranks::rank(), ranks::size());
  const int last = cpu::split_point(n, ranks::rank() + 1, ranks::size());
  const std::uint32_t lo = first < last ? split.train_rows[static_cast<std::size_t>(first)] : 1;
  const std::uint32_t hi = first < last ? split.train_rows[static_cast<std::size_t>(last - 1)] : 0;
  return make_local_sgd_backend(std::move(made.backend), lo, hi, o.average_every, o.epochs);
}

// Under MPI ranks, a full-batch fit without validation rows fits rows 0..n-1 (n: --limit-train or the file's
// count), so each rank reads only the rows of its parts of the objective (ranks::rows_of), and rank 0 alone the
// test set. With --val-split the fitted rows are a random subset: every rank loads the whole set.
bool loads_rank_share(const RunSettings& o) { return ranks::size() > 1 && is_full_batch(o.solver) && o.val_split == 0.0; }

// The rows every rank reads alike for the data check: kSampleRows spread evenly over the n fitted rows.
constexpr std::uint32_t kSampleRows = 64;
std::vector<std::uint32_t> sample_rows(std::uint32_t n) {
  std::vector<std::uint32_t> rows;
  for (std::uint32_t k = 0; k < kSampleRows && n > 0; ++k) {
    rows.push_back(static_cast<std::uint32_t>(static_cast<std::uint64_t>(n - 1) * k / (kSampleRows - 1)));
  }
  return rows;
}

DatasetShare rank_share(const RunSettings& o) {
  DatasetShare share;
  share.test_set = ranks::is_root();
  const auto limit = static_cast<std::uint32_t>(o.limit_train);
  share.train_rows = [limit](std::uint32_t count) {
    const std::uint32_t n = limit > 0 && limit < count ? limit : count;
    ImageRowRequest want;
    if (n == 0) return want;  // load_dataset reports the empty set
    const auto mine = ranks::rows_of(n, std::min<int>(kFullBatchParts, static_cast<int>(n)));
    want.first = static_cast<std::uint32_t>(mine.first);
    want.last = static_cast<std::uint32_t>(mine.second);
    want.sample = sample_rows(n);
    return want;
  };
  return share;
}

// Every rank must fit the same rows (each computes some parts of one objective): a fingerprint of the rows
// fitted (their count, shape and labels, and the pixels of the sample rows when each rank holds only its share,
// else of every fitted row), compared over the ranks; DataError naming the first rank that differs.
void check_same_rows_on_ranks(const Dataset& data, const TrainSplit& split, const std::vector<std::uint8_t>& sample_pixels,
                              bool share) {
  ranks::Fingerprint f;
  f.mix(split.train_rows.size());
  f.mix(data.train_images.dim());
  for (const std::uint32_t r : split.train_rows) f.mix(&data.train_labels.labels[r], 1);
  if (share) {
    f.mix(sample_pixels.data(), sample_pixels.size());
  } else {
    for (const std::uint32_t r : split.train_rows) f.mix(data.train_images.image(r), data.train_images.dim());
    f.mix(split.val_images.count);
  }
  ranks::check_same(f.value, "training rows (their pixels and labels)");
}

void run_train(RunSettings o) {
  validate_train_options(o);
  if (o.average_every > 0 && (!ranks::active() || is_feature_file(o.data))) {
    throw UsageError("--average-every " + std::to_string(o.average_every) + " is local SGD over MPI ranks: run under "
                     "mpirun -np N, on IDX files");
  }
  if (ranks::active()) apply_rank_rules(o);
  if (is_feature_file(o.data)) {
    // An .npz or svmlight file: its own path (cmd_train_features.cpp: SGD epochs or a full-batch fit), with the
    // same signals.
    const StopSignalScope signals;
    const FeatureTrainOutcome outcome = run_train_features(o, [] { return g_stop_signal != 0 || stdout_failed(); });
    if (!outcome.stopped) return;
    const int sig = static_cast<int>(g_stop_signal);
    std::string what = (sig != 0 ? std::string("interrupted by ") + signal_name(sig)
                                 : std::string("standard output failed, training stopped")) +
                       " after " + outcome.done_text;
    if (outcome.stopped_in_cv) what += " during cross-validation (no model fitted on all rows; nothing saved)";
    else if (outcome.stopped_in_path) what += " during the regularisation path (no C chosen; nothing saved)";
    else if (!o.save.empty()) what += "; model saved to " + o.save + " (" + outcome.saved_text + ")";
    throw Error(sig != 0 ? exit_code_of(sig) : ExitCode::kDevice, what);
  }
  if (!o.test_data.empty()) {
    throw UsageError("--test-data needs --data FILE (an .npz or svmlight file), not a directory of IDX files");
  }
  // 1. Outputs, before any work: regular files or absent (symlinks written through), temporary names that fit.
  const std::string metrics_settings = o.metrics.empty() ? std::string() : metrics_settings_path(o.metrics);
  if (!o.save.empty()) check_output_target("--save", o.save);
  if (!o.metrics.empty()) {
    metrics_format_of(o.metrics);  // UsageError for another extension
    check_output_target("--metrics", o.metrics);
    if (!metrics_settings.empty()) check_output_target("--metrics (its settings file)", metrics_settings);
  }
  if (!o.init.empty()) require_regular_input(o.init, "--init");

  // 2. --resume: the saved run's settings, unless given; then the checks again on what was restored.
  std::optional<ModelFile> resumed;
  EarlyStopState early_stop_state;
  if (!o.resume.empty()) {
    ResumedRun run = resume_run(o);
    resumed = std::move(run.file);
    early_stop_state = run.early_stop;
  }

  TrainConfig cfg = sgd_config(o);
  cfg.early_stop = o.early_stop;
  cfg.best_val_loss = early_stop_state.best_val_loss;
  cfg.best_val_epoch = early_stop_state.best_val_epoch;
  OptimizerConfig opt;
  opt.momentum = static_cast<float>(o.momentum);
  opt.nesterov = o.nesterov;
  opt.weight_decay = static_cast<float>(o.weight_decay);

  // 3. The data; no output may be an input or another output; the outputs are locked against a second run.
  std::string note;
  const DataFiles files = locate_data(o.data, &note);
  if (!note.empty()) std::cerr << note << "\n";
  std::vector<FileRole> roles = {{"--data file", files.train_images, false}, {"--data file", files.train_labels, false},
                                 {"--data file", files.test_images, false},  {"--data file", files.test_labels, false},
                                 {"--resume", o.resume, false},              {"--init", o.init, false},
                                 {"--save", o.save, true},                   {"--metrics", o.metrics, true},
                                 {"--metrics (its settings file)", metrics_settings, true}};
  check_distinct_files(roles, {{"--save", "--resume"}});  // the model is read whole, then replaced atomically
  std::optional<OutputLock> save_lock;
  if (!o.save.empty()) save_lock.emplace("--save", o.save);
  const bool share = loads_rank_share(o);
  std::vector<std::uint8_t> sample_pixels;
  const Dataset data = share ? load_dataset_share(files, rank_share(o), &sample_pixels, cli_idx_limits())
                             : load_dataset(files, cli_idx_limits());
  const int dim = static_cast<int>(data.train_images.dim());

  Model initial;
  std::vector<float> velocity;
  if (resumed) {
    ModelFile& mf = *resumed;
    if (mf.rows != data.train_images.rows || mf.cols != data.train_images.cols || mf.model.num_classes != data.num_classes) {
      throw DataError(o.resume, "the model is for " + std::to_string(mf.rows) + "x" + std::to_string(mf.cols) + " images and " +
                                    std::to_string(mf.model.num_classes) + " classes, the data has " +
                                    std::to_string(data.train_images.rows) + "x" + std::to_string(data.train_images.cols) +
                                    " and " + std::to_string(data.num_classes));
    }
    warn_if_data_differ(o.resume, mf.settings_json, files, "resumed on");
    cfg.first_epoch = static_cast<int>(mf.epochs_done) + 1;
    if (opt.momentum != 0.0f) velocity = std::move(mf.optimizer_state);
    initial = std::move(mf.model);
    initial.head = cfg.head;
    std::printf("Resuming %s after epoch %u\n", o.resume.c_str(), mf.epochs_done);
  } else if (!o.init.empty()) {
    initial = load_safetensors_initial_model(o.init, dim, data.num_classes, cfg.head);
    std::printf("Initial weights from %s\n", o.init.c_str());
  } else {
    initial = init_model(dim, data.num_classes, cfg.head, cfg.seed);
  }
  const TrainSplit split = make_train_split(data, static_cast<std::uint32_t>(o.limit_train), o.val_split, cfg.seed);
  check_val_rows(o, split.train_rows.size(), split.val_images.count);
  if (ranks::size() > 1) check_same_rows_on_ranks(data, split, sample_pixels, share);
  // The snapshot --save writes on an interrupt: the state at the start of the first epoch to run.
  EpochSnapshot snapshot;
  snapshot.epoch = cfg.first_epoch - 1;
  snapshot.early_stop = early_stop_state;
  if (!o.save.empty()) {
    snapshot.model = initial;
    snapshot.velocity = opt.momentum != 0.0f ? velocity : std::vector<float>();
  }
  BackendRequest request;
  request.device = o.device;
  request.optimizer = opt;
  request.velocity = std::move(velocity);
  request.cuda = cuda_options_of(o);
  // The engine's note, the CUDA-only options checked off a GPU, and the settings record printed.
  auto announce = [&](const std::string& note, const Engine& engine) {
    if (!note.empty()) std::cerr << note << "\n";
    if (!engine.traits().gpu) validate_cuda_options(o, engine.name() + " (--device auto found no usable GPU)");
    RunFacts facts;
    facts.backend = engine.name();
    if (ranks::size() > 1) facts.backend += " on each of " + std::to_string(ranks::size()) + " MPI ranks";
    facts.first_epoch = cfg.first_epoch;
    facts.train_rows = split.train_rows.size();
    facts.val_rows = split.val_images.count;
    facts.data = data_record(files);
    nlohmann::ordered_json record = settings_record(o, facts);
    print_settings(record, data);
    return record;
  };
  if (is_full_batch(o.solver)) {  // an engine with the objective alone: no SGD state
    MadeFullBatchEngine made = make_full_batch_engine(request, data.train_images, data.train_labels, initial);
    const std::unique_ptr<FullBatchEngine> engine = std::move(made.engine);
    const nlohmann::ordered_json settings = announce(made.note, *engine);
    if (o.solver == Solver::kNewtonCg && engine->traits().gpu) {
      throw UsageError("--solver newton-cg runs on --device cpu or reference (--device auto chose " + engine->name() + ")");
    }
    run_lbfgs(o, data, split, *engine, o.init.empty() ? zero_model(initial) : initial, settings);
    return;
  }
  std::unique_ptr<TrainerBackend> backend;
  std::string backend_note;
  if (ranks::active()) {
    backend = make_rank_sgd_backend(o, request, data, split, initial, &backend_note);
  } else {
    MadeBackend made = make_backend(request, data.train_images, data.train_labels, initial);
    backend = std::move(made.backend);
    backend_note = made.note;
  }
  const nlohmann::ordered_json settings = announce(backend_note, *backend);
  if (!o.save.empty() && opt.momentum != 0.0f && snapshot.velocity.empty()) snapshot.velocity = backend->optimizer_state();

  std::unique_ptr<MetricsLog> metrics;
  if (!o.metrics.empty()) {
    metrics = std::make_unique<MetricsLog>(o.metrics, json_text(settings), split.has_val(),
                                           resumed ? cfg.first_epoch - 1 : -1);
  }

  TrainHooks hooks;
  EarlyStopState early_stop = early_stop_state;
  // A metrics file that cannot be written (a full disk) stops training, like a signal: the epoch's model is
  // kept first, so that --save still gets it.
  std::string metrics_failure;
  hooks.on_epoch = [&](const EpochReport& r) {
    std::printf("%s\n", format_epoch_line(r).c_str());
    std::fflush(stdout);
    early_stop.best_val_loss = r.best_val_loss;
    early_stop.best_val_epoch = r.best_val_epoch;
    if (!o.save.empty()) {
      snapshot.model = backend->model();
      snapshot.velocity = backend->optimizer_state();
      snapshot.epoch = r.epoch;
      snapshot.early_stop = early_stop;
    }
    if (metrics && metrics_failure.empty()) {
      try {
        metrics->append(r, r.lr);
      } catch (const ResourceError& e) {
        metrics_failure = e.what();
        return;
      }
    }
    if (!o.save.empty() && o.save_every > 0 && r.epoch % o.save_every == 0) {
      save_model_file(o.save, model_file_of(snapshot, data, cfg.seed, settings));
    }
  };
  if (isatty(STDERR_FILENO) != 0) hooks.on_progress = draw_progress;
  // The factory's policy; local SGD takes each epoch whole (a rank's shard of it, in whole batches).
  hooks.chunks_per_epoch = o.average_every > 0 ? 1 : chunks_per_epoch(backend->traits());
  hooks.stop_requested = [&metrics_failure] { return g_stop_signal != 0 || stdout_failed() || !metrics_failure.empty(); };
  const StopSignalScope signals;
  const TrainOutcome outcome = run_training(*backend, data, split, cfg, hooks);
  if (!metrics_failure.empty()) {
    std::string what = metrics_failure + "; training stopped after epoch " + std::to_string(snapshot.epoch);
    if (o.save.empty()) throw ResourceError(what + " (no --save was given, so no model is kept)");
    save_model_file(o.save, model_file_of(snapshot, data, cfg.seed, settings));  // its own ResourceError if it fails
    throw ResourceError(what + "; model saved to " + o.save + " (the weights of epoch " + std::to_string(snapshot.epoch) +
                        ", whose metrics record is missing)");
  }
  if (outcome.stopped) {
    const int sig = static_cast<int>(g_stop_signal);
    const int out_errno = errno;
    std::string what = sig != 0 ? std::string("interrupted by ") + signal_name(sig)
                                : std::string("standard output failed (") +
                                      (out_errno == EPIPE ? "Broken pipe" : "write error") + "), training stopped";
    what += " after " + std::to_string(outcome.last_epoch) + " complete epochs";
    if (outcome.partial_epoch) {
      what += " and " + std::to_string(outcome.steps_in_partial_epoch) + " steps of epoch " +
              std::to_string(outcome.last_epoch + 1);
    }
    if (!o.save.empty()) {
      save_model_file(o.save, model_file_of(snapshot, data, cfg.seed, settings));
      what += "; model saved to " + o.save + " (the weights of epoch " + std::to_string(snapshot.epoch) +
              (outcome.partial_epoch ? ", the last complete one: --resume continues exactly)" : ")");
    }
    if (metrics) what += "; metrics in " + o.metrics + " are complete up to epoch " + std::to_string(outcome.last_epoch);
    throw Error(sig != 0 ? exit_code_of(sig) : ExitCode::kDevice, what);
  }
  if (outcome.early_stopped) {
    std::printf("%s\n", format_early_stop_line(outcome.last_epoch, cfg.early_stop).c_str());
  }
  const int epochs_done = outcome.last_epoch;  // cfg.first_epoch - 1 when no epoch ran
  if (!o.save.empty()) {
    save_model_file(o.save, model_file_of(snapshot, data, cfg.seed, settings));
    std::printf("Saved model to %s (%d epochs)\n", o.save.c_str(), epochs_done);
  }
  const EvaluationReport report = evaluate_model(*backend, backend->model(), data.test_images, data.test_labels);
  std::printf("\nTest set confusion matrix after epoch %d (rows: true class, columns: predicted):\n", epochs_done);
  std::fputs(format_confusion_matrix(report).c_str(), stdout);
}

}  // namespace
void setup_train_command(CLI::App& app) {
  auto opts = std::make_shared<RunSettings>();
  CLI::App* sub = app.add_subcommand("train", "Train the model with mini-batch SGD (each epoch reported) or full-batch L-BFGS or Newton-CG (--solver lbfgs, newton-cg; each iteration reported)");
  add_train_options(sub, opts.get());
  sub->callback([opts, sub]() {
    RunSettings o = *opts;
    for (const CLI::Option* opt : sub->get_options()) {
      if (opt->count() > 0 && !opt->get_lnames().empty()) o.given.insert("--" + opt->get_lnames().front());
    }
    run_train(std::move(o));
  });
}

}  // namespace logreg::cli
