// Writes the seed corpora of the fuzz targets into OUT_DIR/<target>/ and OUT_DIR/fuzz_cli.dict:
// small valid IDX image and label files (raw and gzip) made by the project's writers, valid model
// files (every loss head, with and without optimizer state, a feature model with labels and a scaler) made by
// save_model_file, and command lines for every subcommand; the dictionary lists every subcommand and option
// name of build_cli's app.
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
#include "logreg/export_npz.hpp"
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
  const fs::path npz = out / "fuzz_npz", svmlight = out / "fuzz_svmlight";
  for (const fs::path& d : {idx, model, cli_dir, safetensors, npz, svmlight}) fs::create_directories(d);

  // IDX: images and labels, raw and gzip; the smallest legal files too.
  for (bool gz : {false, true}) {
    const std::string ext = gz ? ".gz" : "";
    write_idx_images((idx / ("images_3x4x5" + ext)).string(), sample_images(3, 4, 5), gz);
    write_idx_images((idx / ("images_2x28x28" + ext)).string(), sample_images(2, 28, 28), gz);
    write_idx_images((idx / ("images_0x1x1" + ext)).string(), sample_images(0, 1, 1), gz);
    write_idx_labels((idx / ("labels_10" + ext)).string(), sample_labels(10, 10), gz);
    write_idx_labels((idx / ("labels_0" + ext)).string(), sample_labels(0, 10), gz);
  }

  // .npz: float64 features with int64 labels, and uint8 images with a test split (stored members; the
  // fuzzer's mutations reach the deflate path through the method field).
  {
    const std::string x(6 * 8, '\x3f'), y("\x01\0\0\0\0\0\0\0\x02\0\0\0\0\0\0\0\x01\0\0\0\0\0\0\0", 24);
    std::ofstream((npz / "float64_3x2.npz").string(), std::ios::binary)
        << stored_zip_bytes({{"x_train.npy", npy_bytes("<f8", {3, 2}, x)}, {"y_train.npy", npy_bytes("<i8", {3}, y)}});
    std::ofstream((npz / "uint8_images_split.npz").string(), std::ios::binary)
        << stored_zip_bytes({{"x_train.npy", npy_bytes("|u1", {2, 2, 2}, std::string("\0\x10\x20\x30\x40\x50\x60\x70", 8))},
                             {"y_train.npy", npy_bytes("|u1", {2}, std::string("\0\x01", 2))},
                             {"x_test.npy", npy_bytes("|u1", {1, 2, 2}, std::string("\x01\x02\x03\x04", 4))},
                             {"y_test.npy", npy_bytes("|u1", {1}, std::string("\x01", 1))}});
  }
  // svmlight: 1-based with qid and comments, 0-based.
  std::ofstream((svmlight / "one_based.svm").string()) << "# comment\n1 qid:3 1:0.5 7:-2e-3\n-1 2:1 # c\n+1\n";
  std::ofstream((svmlight / "zero_based.svm").string()) << "0 0:1 3:2.5\n2 1:1\r\n1 2:0\n";

  // Model files: each loss head; with and without momentum state; a 1-class 1x1 model.
  save_model_file((model / "softmax_4x5x3.lrm").string(), sample_model(4, 5, 3, LossHead::kSoftmax, false));
  save_model_file((model / "sigmoid_softmax_2x3x4.lrm").string(), sample_model(2, 3, 4, LossHead::kSigmoidSoftmax, false));
  save_model_file((model / "ovr_3x3x2_state.lrm").string(), sample_model(3, 3, 2, LossHead::kOvr, true));
  save_model_file((model / "softmax_1x1x1.lrm").string(), sample_model(1, 1, 1, LossHead::kSoftmax, false));
  // A feature model with class labels and a scaler (version 3), also as safetensors.
  ModelFile scaled = sample_model(1, 4, 3, LossHead::kSoftmax, false);
  scaled.class_labels = {-2, 5, 9};
  scaled.pixel_scale = 1.0f;
  scaled.scaler.mean = {0.5, -1.0, 0.0, 3.25};
  scaled.scaler.scale = {2.0, 1.0, 0.125, 7.5};
  save_model_file((model / "scaled_1x4x3.lrm").string(), scaled);
  std::ofstream((safetensors / "scaled_1x4x3.safetensors").string(), std::ios::binary)
      << safetensors_model_bytes(scaled);
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
      {"predict", "--model", "m.lrm", "--images", "x.npz", "--all", "--output", "logits", "--top-k", "2"},
      {"train", "--data", "x.npz", "--solver", "lbfgs", "--standardize"},
      {"train", "--epochs", "-1", "--lr=abc"},
      {"bogus"},
  };
  for (std::size_t i = 0; i < seeds.size(); ++i) write_cli_seed(cli_dir, static_cast<int>(i), seeds[i]);
  write_cli_dictionary(out / "fuzz_cli.dict");
  return 0;
}
