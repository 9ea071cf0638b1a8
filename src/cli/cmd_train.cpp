// `logreg_cuda train`: parses the training options, picks the backend (auto: CUDA when a device is
// usable, else the CPU, saying which), prints the run's settings, runs the host loop with one line per
// epoch, writes metrics / saved models, and prints the confusion matrix at the end.
#include <stdlib.h>
#include <unistd.h>

#include <csignal>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "logreg/backend_factory.hpp"
#include "logreg/data_source.hpp"
#include "logreg/errors.hpp"
#include "logreg/evaluation.hpp"
#include "logreg/export_safetensors.hpp"
#include "logreg/metrics_log.hpp"
#include "logreg/model_file.hpp"
#include "logreg/training.hpp"

namespace logreg::cli {
namespace {

// SIGINT / SIGTERM: the first one asks the host loop to stop after the current step (the model is then
// saved with --save and the metrics file is complete); the handler then restores the default action,
// so a second Ctrl-C ends the process at once.
volatile std::sig_atomic_t g_stop_signal = 0;

extern "C" void on_stop_signal(int sig) {
  g_stop_signal = sig;
  std::signal(sig, SIG_DFL);
}

class StopSignalScope {
 public:
  StopSignalScope() {
    g_stop_signal = 0;
    previous_int_ = std::signal(SIGINT, on_stop_signal);
    previous_term_ = std::signal(SIGTERM, on_stop_signal);
  }
  ~StopSignalScope() {
    std::signal(SIGINT, previous_int_);
    std::signal(SIGTERM, previous_term_);
  }
  StopSignalScope(const StopSignalScope&) = delete;
  StopSignalScope& operator=(const StopSignalScope&) = delete;

 private:
  void (*previous_int_)(int) = SIG_DFL;
  void (*previous_term_)(int) = SIG_DFL;
};

struct TrainOptions {
  std::optional<std::string> data;
  Device device = Device::kAuto;
  int epochs = 50;
  int batch_size = 32;
  double lr = 0.001;
  LossHead loss = LossHead::kSoftmax;
  std::uint64_t seed = 0;
  std::int64_t limit_train = 0;
  int profile_epoch = 0;
  Residency residency = Residency::kAuto;  // CUDA only (CudaOptions::residency)
  std::string cuda_graphs = "on";  // CUDA: on or off (CudaOptions::cuda_graphs; device residency only)
  double momentum = 0.0;
  bool nesterov = false;
  double weight_decay = 0.0;
  LrSchedule lr_schedule = LrSchedule::kConstant;
  int lr_step = 10;
  double lr_gamma = 0.1;
  double val_split = 0.0;
  int early_stop = 0;
  std::string metrics;
  std::string save;
  int save_every = 0;
  std::string resume;
  std::string init;  // --init: starting weights from a safetensors nn.Linear (export_safetensors.hpp)
  // Which options the user gave (CLI11 results), for --resume's defaults.
  bool loss_given = false;
  bool seed_given = false;
};

void draw_progress(int epoch, std::int64_t done, std::int64_t total) {
  const int width = 40;
  const int filled = total > 0 ? static_cast<int>(width * done / total) : width;
  std::fprintf(stderr, "\rEpoch %d [%s%s] %3d%%", epoch, std::string(static_cast<std::size_t>(filled), '#').c_str(),
               std::string(static_cast<std::size_t>(width - filled), '.').c_str(),
               total > 0 ? static_cast<int>(100 * done / total) : 100);
  if (done >= total) std::fprintf(stderr, "\r%*s\r", width + 20, "");
  std::fflush(stderr);
}

// Creating (and removing) a scratch file tells a read-only or full directory apart before hours of
// training, where checking permission bits would not (root, read-only mounts).
void check_can_create_file_in(const char* flag, const std::string& path, const std::string& dir) {
  std::string probe = (std::filesystem::path(dir) / ".logreg_cuda_probe.XXXXXX").string();
  const int fd = mkstemp(probe.data());
  if (fd < 0) {
    throw ResourceError(std::string(flag) + " " + path + ": cannot create files in " + dir + ": " +
                        std::strerror(errno));
  }
  ::close(fd);
  ::unlink(probe.c_str());
}

void validate(const TrainOptions& o) {
  if (!(o.lr > 0.0) || !std::isfinite(o.lr)) throw UsageError("--lr: must be a positive finite number, got " + std::to_string(o.lr));
  if (!(o.momentum >= 0.0 && o.momentum < 1.0)) throw UsageError("--momentum: must be in [0, 1), got " + std::to_string(o.momentum));
  if (o.nesterov && o.momentum == 0.0) throw UsageError("--nesterov needs --momentum > 0");
  if (!(o.weight_decay >= 0.0) || !std::isfinite(o.weight_decay)) {
    throw UsageError("--weight-decay: must be >= 0, got " + std::to_string(o.weight_decay));
  }
  if (!(o.lr_gamma > 0.0) || !std::isfinite(o.lr_gamma)) throw UsageError("--lr-gamma: must be > 0, got " + std::to_string(o.lr_gamma));
  if (!(o.val_split >= 0.0 && o.val_split < 1.0)) throw UsageError("--val-split: must be in [0, 1), got " + std::to_string(o.val_split));
  if (o.early_stop > 0 && o.val_split == 0.0) throw UsageError("--early-stop needs a validation split (--val-split F)");
  if (o.save_every > 0 && o.save.empty()) throw UsageError("--save-every needs --save FILE");
  // Fail before training, not after it, when an output cannot be written.
  for (const auto& [flag, path] : {std::pair<const char*, const std::string&>{"--save", o.save}, {"--metrics", o.metrics}}) {
    if (path.empty()) continue;
    const std::filesystem::path parent = std::filesystem::absolute(path).parent_path();
    std::error_code ec;
    if (!std::filesystem::is_directory(parent, ec)) {
      throw ResourceError(std::string(flag) + " " + path + ": the directory " + parent.string() + " does not exist");
    }
    if (std::filesystem::is_directory(path, ec)) throw ResourceError(std::string(flag) + " " + path + ": is a directory");
    check_can_create_file_in(flag, path, parent.string());
  }
}

nlohmann::ordered_json data_record(const DataFiles& files) {
  nlohmann::ordered_json d;
  d["name"] = files.name;
  d["dir"] = files.dir;
  for (const std::string& p : {files.train_images, files.train_labels, files.test_images, files.test_labels}) {
    std::error_code ec;
    const auto bytes = std::filesystem::file_size(p, ec);
    d["files"].push_back({{"path", p}, {"bytes", ec ? 0 : bytes}});
  }
  return d;
}

nlohmann::ordered_json settings_record(const TrainOptions& o, const TrainConfig& cfg, const OptimizerConfig& opt,
                                       const DataFiles& files, const TrainSplit& split, const std::string& backend) {
  nlohmann::ordered_json s;
  s["program"] = "logreg_cuda 0.1.0";
  s["backend"] = backend;
  s["device"] = device_name(o.device);
  s["loss"] = loss_head_name(cfg.head);
  s["epochs"] = cfg.epochs;
  s["first_epoch"] = cfg.first_epoch;
  s["batch_size"] = cfg.batch_size;
  s["lr"] = o.lr;
  s["lr_schedule"] = lr_schedule_name(cfg.schedule);
  s["lr_step"] = cfg.lr_step;
  s["lr_gamma"] = o.lr_gamma;
  s["momentum"] = opt.momentum;
  s["nesterov"] = opt.nesterov;
  s["weight_decay"] = opt.weight_decay;
  s["seed"] = cfg.seed;
  s["limit_train"] = o.limit_train;
  s["train_rows"] = split.train_rows.size();
  s["val_split"] = o.val_split;
  s["val_rows"] = split.val_images.count;
  s["early_stop"] = cfg.early_stop;
  s["resume"] = o.resume;
  s["init"] = o.init;
  s["data"] = data_record(files);
  return s;
}

void print_settings(const nlohmann::ordered_json& s, const Dataset& data) {
  std::printf("Data: %s (%s), %zu training rows, %u validation rows, %u test rows, %d classes, %ux%u pixels\n",
              data.name.c_str(), data.dir.c_str(), s["train_rows"].get<std::size_t>(), s["val_rows"].get<unsigned>(),
              data.test_images.count, data.num_classes, data.train_images.rows, data.train_images.cols);
  for (const auto& f : s["data"]["files"]) {
    std::printf("  %s (%llu bytes)\n", f["path"].get<std::string>().c_str(),
                static_cast<unsigned long long>(f["bytes"].get<std::uint64_t>()));
  }
  std::printf("Model: Linear(%zu -> %d), loss %s, seed %llu; backend %s\n", data.train_images.dim(), data.num_classes,
              s["loss"].get<std::string>().c_str(), static_cast<unsigned long long>(s["seed"].get<std::uint64_t>()),
              s["backend"].get<std::string>().c_str());
  std::printf("Optimizer: SGD lr %g (%s schedule), momentum %g%s, weight decay %g, batch %d, epochs %d..%d\n",
              s["lr"].get<double>(), s["lr_schedule"].get<std::string>().c_str(), s["momentum"].get<double>(),
              s["nesterov"].get<bool>() ? " (Nesterov)" : "", s["weight_decay"].get<double>(), s["batch_size"].get<int>(),
              s["first_epoch"].get<int>(), s["epochs"].get<int>());
  std::fflush(stdout);
}

ModelFile model_file_of(const TrainerBackend& backend, const Dataset& data, int epochs_done, std::uint64_t seed,
                        const std::string& settings) {
  ModelFile mf;
  mf.model = backend.model();
  mf.rows = data.train_images.rows;
  mf.cols = data.train_images.cols;
  mf.epochs_done = static_cast<std::uint32_t>(epochs_done);
  mf.seed = seed;
  mf.settings_json = settings;
  mf.optimizer_state = backend.optimizer_state();
  return mf;
}

void run_train(const TrainOptions& o) {
  validate(o);
  TrainConfig cfg;
  cfg.head = o.loss;
  cfg.schedule = o.lr_schedule;
  cfg.epochs = o.epochs;
  cfg.batch_size = o.batch_size;
  cfg.lr = static_cast<float>(o.lr);
  cfg.lr_step = o.lr_step;
  cfg.lr_gamma = static_cast<float>(o.lr_gamma);
  cfg.seed = o.seed;
  cfg.early_stop = o.early_stop;
  OptimizerConfig opt;
  opt.momentum = static_cast<float>(o.momentum);
  opt.nesterov = o.nesterov;
  opt.weight_decay = static_cast<float>(o.weight_decay);

  std::string note;
  const DataFiles files = locate_data(o.data, &note);
  if (!note.empty()) std::cerr << note << "\n";
  const Dataset data = load_dataset(files, cli_idx_limits());
  const int dim = static_cast<int>(data.train_images.dim());

  Model initial;
  std::vector<float> velocity;
  if (!o.resume.empty()) {
    ModelFile mf = load_model_file(o.resume);
    if (mf.rows != data.train_images.rows || mf.cols != data.train_images.cols || mf.model.num_classes != data.num_classes) {
      throw DataError(o.resume, "the model is for " + std::to_string(mf.rows) + "x" + std::to_string(mf.cols) + " images and " +
                                    std::to_string(mf.model.num_classes) + " classes, the data has " +
                                    std::to_string(data.train_images.rows) + "x" + std::to_string(data.train_images.cols) +
                                    " and " + std::to_string(data.num_classes));
    }
    if (o.loss_given && mf.model.head != cfg.head) {
      throw UsageError(std::string("--loss ") + loss_head_name(o.loss) + " differs from the resumed model's loss head " + loss_head_name(mf.model.head));
    }
    cfg.head = mf.model.head;
    if (!o.seed_given) cfg.seed = mf.seed;
    cfg.first_epoch = static_cast<int>(mf.epochs_done) + 1;
    if (opt.momentum != 0.0f) velocity = std::move(mf.optimizer_state);
    initial = std::move(mf.model);
    std::printf("Resuming %s after epoch %u\n", o.resume.c_str(), mf.epochs_done);
  } else if (!o.init.empty()) {
    initial = load_safetensors_initial_model(o.init, dim, data.num_classes, cfg.head);
    std::printf("Initial weights from %s\n", o.init.c_str());
  } else {
    initial = init_model(dim, data.num_classes, cfg.head, cfg.seed);
  }
  const TrainSplit split = make_train_split(data, static_cast<std::uint32_t>(o.limit_train), o.val_split, cfg.seed);
  BackendRequest request;
  request.device = o.device;
  request.optimizer = opt;
  request.velocity = std::move(velocity);
  request.cuda.profile_epoch = o.profile_epoch;
  request.cuda.residency = o.residency;
  request.cuda.cuda_graphs = o.cuda_graphs == "on";
  MadeBackend made = make_backend(request, data.train_images, data.train_labels, initial);
  if (!made.note.empty()) std::cerr << made.note << "\n";
  const std::unique_ptr<TrainerBackend> backend = std::move(made.backend);
  const std::string settings = settings_record(o, cfg, opt, files, split, backend->name()).dump();
  print_settings(nlohmann::ordered_json::parse(settings), data);

  std::unique_ptr<MetricsLog> metrics;
  if (!o.metrics.empty()) metrics = std::make_unique<MetricsLog>(o.metrics, settings, split.has_val());

  TrainHooks hooks;
  hooks.on_epoch = [&](const EpochReport& r) {
    std::printf("%s\n", format_epoch_line(r).c_str());
    std::fflush(stdout);
    if (metrics) metrics->append(r, r.lr);
    if (o.save_every > 0 && r.epoch % o.save_every == 0) {
      save_model_file(o.save, model_file_of(*backend, data, r.epoch, cfg.seed, settings));
    }
  };
  if (isatty(STDERR_FILENO) != 0) hooks.on_progress = draw_progress;
  hooks.chunks_per_epoch = chunks_per_epoch(backend->traits());  // the factory's policy
  hooks.stop_requested = [] { return g_stop_signal != 0; };
  const StopSignalScope signals;
  const TrainOutcome outcome = run_training(*backend, data, split, cfg, hooks);
  if (outcome.stopped) {
    const int sig = static_cast<int>(g_stop_signal);
    const char* name = sig == SIGTERM ? "SIGTERM" : "SIGINT";
    std::string what = std::string("interrupted by ") + name + " after " + std::to_string(outcome.last_epoch) +
                       " complete epochs";
    if (outcome.partial_epoch) {
      what += " and " + std::to_string(outcome.steps_in_partial_epoch) + " steps of epoch " +
              std::to_string(outcome.last_epoch + 1);
    }
    if (!o.save.empty()) {
      save_model_file(o.save, model_file_of(*backend, data, outcome.last_epoch, cfg.seed, settings));
      what += "; model saved to " + o.save + " (its epoch count is the complete epochs)";
    }
    if (metrics) what += "; metrics in " + o.metrics + " are complete up to epoch " + std::to_string(outcome.last_epoch);
    throw Error(sig == SIGTERM ? ExitCode::kTerminated : ExitCode::kInterrupted, what);
  }
  if (outcome.early_stopped) {
    std::printf("Early stop after epoch %d: the validation loss has not improved for %d epochs\n", outcome.last_epoch,
                cfg.early_stop);
  }
  const int epochs_done = outcome.last_epoch;  // cfg.first_epoch - 1 when no epoch ran
  if (!o.save.empty()) {
    save_model_file(o.save, model_file_of(*backend, data, epochs_done, cfg.seed, settings));
    std::printf("Saved model to %s (%d epochs)\n", o.save.c_str(), epochs_done);
  }
  const EvaluationReport report = evaluate_model(backend->model(), data.test_images, data.test_labels);
  std::printf("\nTest set confusion matrix after epoch %d (rows: true class, columns: predicted):\n", epochs_done);
  std::fputs(format_confusion_matrix(report).c_str(), stdout);
}

}  // namespace

void setup_train_command(CLI::App& app) {
  auto opts = std::make_shared<TrainOptions>();
  CLI::App* sub = app.add_subcommand("train", "Train the model with mini-batch SGD and report each epoch");
  add_data_option(sub, &opts->data);
  add_enum_option(sub, "--device", &opts->device, kDeviceNames, "Where to train");
  sub->add_option("--epochs", opts->epochs, "Train until this epoch (with --resume: the total, counting the saved epochs)")
      ->check(CLI::Range(1, 1000000))
      ->capture_default_str();
  sub->add_option("--batch-size", opts->batch_size, "Rows per SGD step (the last batch of an epoch may be smaller)")
      ->check(CLI::Range(1, 1 << 24))
      ->capture_default_str();
  sub->add_option("--lr", opts->lr, "Learning rate (> 0)")->capture_default_str();
  CLI::Option* loss = add_enum_option(sub, "--loss", &opts->loss, kLossHeadNames, "Loss head");
  CLI::Option* seed = sub->add_option("--seed", opts->seed, "Seed of the weight initialisation, the shuffles and the validation split")
                          ->capture_default_str();
  sub->add_option("--limit-train", opts->limit_train, "Use only the first N training rows (0 = all)")
      ->check(CLI::Range(static_cast<std::int64_t>(0), static_cast<std::int64_t>(1) << 32))
      ->capture_default_str();
  sub->add_option("--momentum", opts->momentum, "SGD momentum in [0, 1) (PyTorch's SGD, dampening 0)")->capture_default_str();
  sub->add_flag("--nesterov", opts->nesterov, "Nesterov momentum (needs --momentum > 0)");
  sub->add_option("--weight-decay", opts->weight_decay, "L2 weight decay on the weights (not the bias)")->capture_default_str();
  add_enum_option(sub, "--lr-schedule", &opts->lr_schedule, kLrScheduleNames, "Learning-rate schedule");
  sub->add_option("--lr-step", opts->lr_step, "Epochs between steps of the step schedule")
      ->check(CLI::Range(1, 1000000))
      ->capture_default_str();
  sub->add_option("--lr-gamma", opts->lr_gamma, "Factor of the step schedule")->capture_default_str();
  sub->add_option("--val-split", opts->val_split, "Hold out this fraction of the training rows for validation")
      ->capture_default_str();
  sub->add_option("--early-stop", opts->early_stop, "Stop when the validation loss has not improved for N epochs (0 = off)")
      ->check(CLI::Range(0, 1000000))
      ->capture_default_str();
  sub->add_option("--metrics", opts->metrics, "Write per-epoch metrics to FILE (.csv or .jsonl)");
  sub->add_option("--save", opts->save, "Save the model to FILE at the end (atomically)");
  sub->add_option("--save-every", opts->save_every, "Also save every N epochs (needs --save)")->check(CLI::Range(0, 1000000));
  sub->add_option("--resume", opts->resume, "Continue training from a saved model (its seed, loss and epoch count)");
  sub->add_option("--init", opts->init,
                  "Start from the weights of a safetensors nn.Linear state_dict (weight [C, D], bias [C] float32, e.g. "
                  "saved from PyTorch) instead of a random initialisation")
      ->excludes("--resume");
  sub->add_option("--profile-epoch", opts->profile_epoch,
                  "CUDA: bracket this epoch with cudaProfilerStart/Stop (for nsys/ncu capture ranges)")
      ->check(CLI::Range(0, 1000000));
  add_enum_option(sub, "--residency", &opts->residency, kResidencyNames, "CUDA: where the training set lives");
  sub->add_option("--cuda-graphs", opts->cuda_graphs,
                  "CUDA, device residency: replay one captured training step as a CUDA graph per full batch "
                  "(bit-identical results to off)")
      ->check(CLI::IsMember({"on", "off"}))
      ->capture_default_str();
  sub->callback([opts, loss, seed]() {
    opts->loss_given = loss->count() > 0;
    opts->seed_given = seed->count() > 0;
    run_train(*opts);
  });
}

}  // namespace logreg::cli
