// The logreg_cuda command line as a CLI11 app: description, version flag and the subcommands, plus
// the helpers they share (--data, loading the data set). Parsing and exit codes are in main.cpp; the
// CLI fuzz target (tests/fuzz/fuzz_cli.cpp) builds the very same app through build_cli().
#include <cstdint>
#include <iostream>
#include <limits>
#include <string>

#include "commands.hpp"
#include "logreg/data_source.hpp"

namespace logreg::cli {
namespace {

// One process runs one subcommand, so the --max-bytes value it parsed is the process's.
IdxLimits g_idx_limits;

}  // namespace

void add_max_bytes_option(CLI::App* sub) {
  sub->add_option("--max-bytes", g_idx_limits.max_bytes,
                  "Largest decoded IDX file accepted, checked before any allocation and while gunzipping "
                  "(bytes, or with a unit: 512M, 8G)")
      ->check([](const std::string& v) {
        return v.find('-') == std::string::npos ? std::string() : "must be a positive size, found " + v;
      })
      ->transform(CLI::AsSizeValue(false))
      ->check(CLI::Range(std::uint64_t{1}, std::numeric_limits<std::uint64_t>::max()))
      ->capture_default_str();
}

const IdxLimits& cli_idx_limits() { return g_idx_limits; }

void add_data_option(CLI::App* sub, std::optional<std::string>* dir) {
  sub->add_option("--data", *dir,
                  "Directory with the four IDX files (raw or .gz), or DIR/MNIST/raw. Default: ./data, "
                  "then Debian's Fashion-MNIST");
  add_max_bytes_option(sub);
}

Dataset load_cli_dataset(const std::optional<std::string>& dir) {
  std::string note;
  const DataFiles files = locate_data(dir, &note);
  if (!note.empty()) std::cerr << note << "\n";
  return load_dataset(files, g_idx_limits);
}

void build_cli(CLI::App& app) {
  app.description("logreg_cuda: multinomial logistic regression on MNIST-format IDX data, on an NVIDIA GPU "
                  "(CUDA) or the CPU");
  app.require_subcommand(1);
#ifndef LOGREG_BUILD_FLAGS
#define LOGREG_BUILD_FLAGS "build flags unknown"
#endif
  app.set_version_flag("--version", "logreg_cuda 0.1.0 (" LOGREG_BUILD_FLAGS ")");  // the -O level: CMakeLists.txt
  setup_info_command(app);
  setup_show_command(app);
  setup_train_command(app);
  setup_eval_command(app);
  setup_predict_command(app);
  setup_export_command(app);
}

}  // namespace logreg::cli
