// `logreg_cuda train`: parses the training options, picks the backend (auto: CUDA when a device is
// usable, else the CPU, saying which), runs the host loop and prints one line per epoch.
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>

#include "commands.hpp"
#include "logreg/cpu_reference.hpp"
#include "logreg/cuda_backend.hpp"
#include "logreg/errors.hpp"
#include "logreg/training.hpp"

namespace logreg::cli {
namespace {

struct TrainOptions {
  std::optional<std::string> data;
  std::string device = "auto";
  int epochs = 50;
  int batch_size = 32;
  double lr = 0.001;
  std::string loss = "softmax";
  std::uint64_t seed = 0;
  std::int64_t limit_train = 0;
  int profile_epoch = 0;
};

std::unique_ptr<TrainerBackend> make_backend(const TrainOptions& o, const Dataset& data, const Model& initial) {
  if (o.device == "cpu") return make_cpu_reference_backend(data.train_images, data.train_labels, initial);
  const CudaProbe probe = probe_cuda();
  if (!probe.usable) {
    if (o.device == "cuda") throw ResourceError("--device cuda: no usable CUDA device: " + probe.reason);
    std::cerr << "logreg_cuda: no usable CUDA device (" << probe.reason << "); training on the CPU\n";
    return make_cpu_reference_backend(data.train_images, data.train_labels, initial);
  }
  CudaOptions copt;
  copt.profile_epoch = o.profile_epoch;
  auto backend = make_cuda_backend(data.train_images, data.train_labels, initial, copt);
  std::cerr << "logreg_cuda: training on " << backend->name() << "\n";
  return backend;
}

void draw_progress(int epoch, std::int64_t done, std::int64_t total) {
  const int width = 40;
  const int filled = total > 0 ? static_cast<int>(width * done / total) : width;
  std::fprintf(stderr, "\rEpoch %d [%s%s] %3d%%", epoch, std::string(static_cast<std::size_t>(filled), '#').c_str(),
               std::string(static_cast<std::size_t>(width - filled), '.').c_str(),
               total > 0 ? static_cast<int>(100 * done / total) : 100);
  if (done >= total) std::fprintf(stderr, "\r%*s\r", width + 20, "");
  std::fflush(stderr);
}

void run_train(const TrainOptions& o) {
  LossHead head{};
  if (!parse_loss_head(o.loss, &head)) throw UsageError("--loss: unknown loss head '" + o.loss + "'");
  if (!(o.lr > 0.0) || !std::isfinite(o.lr)) throw UsageError("--lr: must be a positive finite number, got " + std::to_string(o.lr));

  const Dataset data = load_cli_dataset(o.data);
  std::uint32_t train_rows = data.train_images.count;
  if (o.limit_train > 0 && static_cast<std::uint64_t>(o.limit_train) < train_rows) {
    train_rows = static_cast<std::uint32_t>(o.limit_train);
  }
  TrainConfig cfg;
  cfg.epochs = o.epochs;
  cfg.batch_size = o.batch_size;
  cfg.lr = static_cast<float>(o.lr);
  cfg.head = head;
  cfg.seed = o.seed;

  const Model initial = init_model(static_cast<int>(data.train_images.dim()), data.num_classes, head, o.seed);
  auto backend = make_backend(o, data, initial);
  std::printf("Data: %s (%s), %u training rows of %u, %u test rows, %d classes, %ux%u pixels\n", data.name.c_str(),
              data.dir.c_str(), train_rows, data.train_images.count, data.test_images.count, data.num_classes,
              data.train_images.rows, data.train_images.cols);
  std::printf("Model: Linear(%zu -> %d), loss %s; SGD lr %g, batch %d, %d epochs, seed %llu; backend %s\n",
              data.train_images.dim(), data.num_classes, loss_head_name(head), o.lr, o.batch_size, o.epochs,
              static_cast<unsigned long long>(o.seed), backend->name().c_str());
  std::fflush(stdout);

  TrainHooks hooks;
  hooks.on_epoch = [](const EpochReport& r) {
    std::printf("%s\n", format_epoch_line(r).c_str());
    std::fflush(stdout);
  };
  if (isatty(STDERR_FILENO) != 0) hooks.on_progress = draw_progress;
  run_training(*backend, data, train_rows, cfg, hooks);
}

}  // namespace

void setup_train_command(CLI::App& app) {
  auto opts = std::make_shared<TrainOptions>();
  CLI::App* sub = app.add_subcommand("train", "Train the model with mini-batch SGD and report each epoch");
  add_data_option(sub, &opts->data);
  sub->add_option("--device", opts->device, "auto (CUDA when a GPU is usable, else CPU), cpu or cuda")
      ->check(CLI::IsMember({"auto", "cpu", "cuda"}))
      ->capture_default_str();
  sub->add_option("--epochs", opts->epochs, "Number of passes over the training set")
      ->check(CLI::Range(1, 1000000))
      ->capture_default_str();
  sub->add_option("--batch-size", opts->batch_size, "Rows per SGD step (the last batch of an epoch may be smaller)")
      ->check(CLI::Range(1, 1 << 24))
      ->capture_default_str();
  sub->add_option("--lr", opts->lr, "Learning rate (> 0)")->capture_default_str();
  sub->add_option("--loss", opts->loss,
                  "softmax (multinomial logistic regression), sigmoid-softmax (the PyTorch tutorial's bug, "
                  "kept to reproduce it) or ovr (one-vs-rest logistic regression)")
      ->check(CLI::IsMember({"softmax", "sigmoid-softmax", "ovr"}))
      ->capture_default_str();
  sub->add_option("--seed", opts->seed, "Seed of the weight initialisation and the shuffles")->capture_default_str();
  sub->add_option("--limit-train", opts->limit_train, "Use only the first N training rows (0 = all)")
      ->check(CLI::Range(static_cast<std::int64_t>(0), static_cast<std::int64_t>(1) << 32))
      ->capture_default_str();
  sub->add_option("--profile-epoch", opts->profile_epoch,
                  "CUDA: bracket this epoch with cudaProfilerStart/Stop (for nsys/ncu capture ranges)")
      ->check(CLI::Range(0, 1000000));
  sub->callback([opts]() { run_train(*opts); });
}

}  // namespace logreg::cli
