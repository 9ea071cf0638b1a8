// Writes the seed corpora of the fuzz targets into OUT_DIR/<target>/ and OUT_DIR/fuzz_cli.dict:
// small valid IDX image and label files (raw and gzip) made by the project's writers, valid model
// files (every loss head, with and without optimizer state) made by save_model_file, and command
// lines for every subcommand; the dictionary lists every subcommand and option name of build_cli's app.
// Usage: make_fuzz_corpus OUT_DIR   (tools/testing/fuzz.sh runs it; no data set is kept in git).
#include <CLI/CLI.hpp>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "commands.hpp"
#include "logreg/idx.hpp"
#include "logreg/export_safetensors.hpp"
#include "logreg/model_file.hpp"

namespace {

namespace fs = std::filesystem;
using namespace logreg;

ImageSet sample_images(std::uint32_t count, std::uint32_t rows, std::uint32_t cols) {
  ImageSet s;
  s.count = count;
  s.rows = rows;
  s.cols = cols;
  s.pixels.resize(static_cast<std::size_t>(count) * rows * cols);
  for (std::size_t i = 0; i < s.pixels.size(); ++i) s.pixels[i] = static_cast<std::uint8_t>((i * 37) % 256);
  return s;
}

LabelSet sample_labels(std::size_t count, int classes) {
  LabelSet s;
  for (std::size_t i = 0; i < count; ++i) s.labels.push_back(static_cast<std::uint8_t>(i % static_cast<std::size_t>(classes)));
  return s;
}

ModelFile sample_model(std::uint32_t rows, std::uint32_t cols, int classes, LossHead head, bool with_state) {
  ModelFile f;
  f.rows = rows;
  f.cols = cols;
  f.model = init_model(static_cast<int>(rows * cols), classes, head, 7);
  f.epochs_done = 3;
  f.seed = 42;
  f.settings_json = R"({"epochs":3,"lr":0.001,"loss":")" + std::string(loss_head_name(head)) + R"("})";
  if (with_state) {
    f.optimizer_state.resize(f.model.weights.size() + f.model.bias.size());
    for (std::size_t i = 0; i < f.optimizer_state.size(); ++i) f.optimizer_state[i] = 0.01f * static_cast<float>(i);
  }
  return f;
}

void write_cli_seed(const fs::path& dir, int n, const std::vector<std::string>& args) {
  std::ofstream out(dir / ("args_" + std::to_string(n)), std::ios::binary);
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (i > 0) out.put('\0');
    out << args[i];
  }
}

// Every subcommand and option name, in libFuzzer's dictionary syntax.
void write_cli_dictionary(const fs::path& file) {
  CLI::App app;
  cli::build_cli(app);
  std::set<std::string> words;
  auto add_options = [&](const CLI::App* a) {
    for (const CLI::Option* opt : a->get_options()) {
      for (const std::string& l : opt->get_lnames()) words.insert("--" + l);
      for (const std::string& s : opt->get_snames()) words.insert("-" + s);
    }
  };
  add_options(&app);
  for (const CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) {
    words.insert(sub->get_name());
    add_options(sub);
  }
  for (const char* v : {"cpu", "cuda", "auto", "softmax", "sigmoid-softmax", "ovr", "train", "test", "csv", "jsonl",
                        "constant", "step", "cosine", "-1", "0", "1e308", "nan", "inf", "18446744073709551616"}) {
    words.insert(v);
  }
  std::ofstream out(file);
  for (const std::string& w : words) out << '"' << w << "\"\n";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUT_DIR\n", argv[0]);
    return 2;
  }
  const fs::path out = argv[1];
  const fs::path idx = out / "fuzz_idx", model = out / "fuzz_model_file", cli_dir = out / "fuzz_cli";
  const fs::path safetensors = out / "fuzz_safetensors";
  for (const fs::path& d : {idx, model, cli_dir, safetensors}) fs::create_directories(d);

  // IDX: images and labels, raw and gzip; the smallest legal files too.
  for (bool gz : {false, true}) {
    const std::string ext = gz ? ".gz" : "";
    write_idx_images((idx / ("images_3x4x5" + ext)).string(), sample_images(3, 4, 5), gz);
    write_idx_images((idx / ("images_2x28x28" + ext)).string(), sample_images(2, 28, 28), gz);
    write_idx_images((idx / ("images_0x1x1" + ext)).string(), sample_images(0, 1, 1), gz);
    write_idx_labels((idx / ("labels_10" + ext)).string(), sample_labels(10, 10), gz);
    write_idx_labels((idx / ("labels_0" + ext)).string(), sample_labels(0, 10), gz);
  }

  // Model files: each loss head; with and without momentum state; a 1-class 1x1 model.
  save_model_file((model / "softmax_4x5x3.lrm").string(), sample_model(4, 5, 3, LossHead::kSoftmax, false));
  save_model_file((model / "sigmoid_softmax_2x3x4.lrm").string(), sample_model(2, 3, 4, LossHead::kSigmoidSoftmax, false));
  save_model_file((model / "ovr_3x3x2_state.lrm").string(), sample_model(3, 3, 2, LossHead::kOvr, true));
  save_model_file((model / "softmax_1x1x1.lrm").string(), sample_model(1, 1, 1, LossHead::kSoftmax, false));
  // safetensors files: our writer's, each loss head.
  for (const auto& [name, head] : {std::pair<const char*, LossHead>{"softmax_4x5x3", LossHead::kSoftmax},
                                   {"sigmoid_softmax_2x3x4", LossHead::kSigmoidSoftmax}, {"ovr_3x3x2", LossHead::kOvr}}) {
    const std::string bytes = safetensors_model_bytes(sample_model(name[0] == 'o' ? 3 : 2, 3, 4, head, false));
    std::ofstream((safetensors / (std::string(name) + ".safetensors")).string(), std::ios::binary) << bytes;
  }

  // Command lines, one per subcommand and a few of each command's options and errors.
  const std::vector<std::vector<std::string>> seeds = {
      {"--help"},
      {"--version"},
      {"info", "--data", "/nonexistent"},
      {"show", "--data", "/nonexistent", "--split", "test", "--index", "3", "--out", "x.png", "--scale", "4"},
      {"show", "--scale", "65"},
      {"train", "--help"},
      {"train", "--data", "/nonexistent", "--device", "cpu", "--epochs", "2", "--batch-size", "16", "--lr", "0.1",
       "--loss", "ovr", "--seed", "3", "--limit-train", "100"},
      {"train", "--momentum", "0.9", "--nesterov", "--weight-decay", "1e-4", "--lr-schedule", "step", "--lr-step",
       "5", "--lr-gamma", "0.5", "--val-split", "0.1", "--early-stop", "3"},
      {"train", "--metrics", "m.csv", "--save", "m.lrm", "--save-every", "2", "--resume", "old.lrm"},
      {"eval", "--model", "m.lrm", "--data", "/nonexistent", "--json"},
      {"predict", "--model", "m.lrm", "--images", "x.idx", "--index", "0", "--top-k", "3", "--format", "jsonl",
       "--out", "p.jsonl"},
      {"predict", "--model", "m.lrm", "--images", "x.idx", "--all", "--index", "1"},
      {"train", "--epochs", "-1", "--lr=abc"},
      {"bogus"},
  };
  for (std::size_t i = 0; i < seeds.size(); ++i) write_cli_seed(cli_dir, static_cast<int>(i), seeds[i]);
  write_cli_dictionary(out / "fuzz_cli.dict");
  return 0;
}
