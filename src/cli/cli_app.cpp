// The logreg_cuda command line as a CLI11 app: description, version flag and the subcommands, plus
// the helpers they share (--data, loading the data set). Parsing and exit codes are in main.cpp; the
// CLI fuzz target (tests/fuzz/fuzz_cli.cpp) builds the very same app through build_cli().
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <limits>
#include <string>

#include "commands.hpp"
#include "option_values.hpp"
#include "logreg/data_source.hpp"
#include "logreg/errors.hpp"
#include "logreg/whole_file.hpp"

#include <nlohmann/json.hpp>

namespace logreg::cli {
namespace {

// One process runs one subcommand, so the --max-bytes value it parsed is the process's.
IdxLimits g_idx_limits;

}  // namespace

void add_max_bytes_option(CLI::App* sub) {
  sub->add_option("--max-bytes", g_idx_limits.max_bytes,
                  "Largest decoded IDX file accepted, checked before any allocation and while gunzipping "
                  "(bytes, or with a unit: 512M, 8G)")
      ->transform(byte_size())
      ->type_name("SIZE")
      ->capture_default_str();
}

const IdxLimits& cli_idx_limits() { return g_idx_limits; }

void add_data_option(CLI::App* sub, std::optional<std::string>* dir) {
  sub->add_option("--data", *dir,
                  "Directory with the four IDX files (raw or .gz), or DIR/MNIST/raw; or a feature file: a NumPy .npz "
                  "(x_train, y_train, optionally x_test, y_test) or an svmlight/libsvm text file (docs/data-formats.md). "
                  "Default: ./data, then Debian's Fashion-MNIST");
  add_max_bytes_option(sub);
}

bool is_feature_file(const std::optional<std::string>& data) {
  std::error_code ec;
  return data && std::filesystem::exists(*data, ec) && !std::filesystem::is_directory(*data, ec);
}

bool is_non_idx_file(const std::string& path) {
  std::uint64_t file_bytes = 0;
  const std::vector<std::uint8_t> head = read_file_prefix(path, 2, &file_bytes);
  // IDX magic is 00 00 TYPE NDIM: any file starting 00 00 goes to the IDX reader, which names a wrong type.
  const bool idx = head.size() >= 2 && head[0] == 0 && head[1] == 0;
  const bool gz = head.size() >= 2 && head[0] == 0x1f && head[1] == 0x8b;
  return !idx && !gz && !head.empty();
}

void add_test_data_option(CLI::App* sub, std::string* test_data) {
  sub->add_option("--test-data", *test_data,
                  "The test split of a feature file that holds one split (an svmlight file, or an .npz without "
                  "x_test): a file of the same format as --data FILE");
}

FeatureData load_cli_feature_data(const std::string& path, const std::string& test_path,
                                  const FeatureRowWindow& window) {
  return load_feature_data(path, test_path, g_idx_limits, window);
}

std::vector<std::int64_t> default_class_labels(const ModelFile& mf) {
  std::vector<std::int64_t> labels;
  for (int c = 0; c < mf.model.num_classes; ++c) labels.push_back(mf.label_of(c));
  return labels;
}

std::optional<bool> recorded_zero_based(const std::string& settings_json) {
  const nlohmann::json j = nlohmann::json::parse(settings_json, nullptr, false);
  if (!j.is_object() || !j.contains("data") || !j["data"].is_object() || !j["data"].contains("zero_based") ||
      !j["data"]["zero_based"].is_boolean()) {
    return std::nullopt;
  }
  return j["data"]["zero_based"].get<bool>();
}

std::string class_labels_text(const std::vector<std::int64_t>& classes) {
  std::string out;
  const std::size_t n = classes.size();
  for (std::size_t i = 0; i < n; ++i) {
    if (n > 12 && i == 5) {
      out += " ...";
      i = n - 5;
    }
    out += (out.empty() ? "" : " ") + std::to_string(classes[i]);
  }
  return out;
}

Dataset load_cli_dataset(const std::optional<std::string>& dir) {
  std::string note;
  const DataFiles files = locate_data(dir, &note);
  if (!note.empty()) std::cerr << note << "\n";
  return load_dataset(files, g_idx_limits);
}

void throw_non_finite_output(const std::string& model_path, const Model& model, const std::string& images,
                             const std::string& what, double value) {
  float largest = 0.0f;
  for (const float w : model.weights) largest = std::max(largest, std::fabs(w));
  for (const float b : model.bias) largest = std::max(largest, std::fabs(b));
  char largest_text[32];
  std::snprintf(largest_text, sizeof largest_text, "%g", static_cast<double>(largest));
  throw DataError(model_path, "the " + what + " on " + images + " is " + number_text(value) +
                                  ", not a finite number: the model's parameters (largest magnitude " + largest_text +
                                  ") overflow float32 arithmetic, so the model is unusable");
}

std::string json_text(const nlohmann::ordered_json& j) {
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}
std::string json_text(double v) { return json_text(nlohmann::ordered_json(v)); }

std::string shape_text(std::uint32_t rows, std::uint32_t cols) {
  return std::to_string(rows) + "x" + std::to_string(cols);
}

std::string data_differences(const nlohmann::json& recorded, const DataFiles& files) {
  std::string out;
  if (recorded.contains("name") && recorded["name"].is_string() && recorded["name"].get<std::string>() != files.name) {
    out += "data set " + recorded["name"].get<std::string>() + ", now " + files.name;
  }
  if (!recorded.contains("files") || !recorded["files"].is_array()) return out;
  const std::string now[4] = {files.train_images, files.train_labels, files.test_images, files.test_labels};
  for (std::size_t i = 0; i < 4 && i < recorded["files"].size(); ++i) {
    const auto& f = recorded["files"][i];
    if (!f.is_object() || !f.contains("bytes") || !f["bytes"].is_number_unsigned()) continue;
    std::error_code ec;
    const auto bytes = std::filesystem::file_size(now[i], ec);
    if (!ec && bytes != f["bytes"].get<std::uint64_t>()) {
      out += std::string(out.empty() ? "" : "; ") + std::filesystem::path(now[i]).filename().string() + " has " +
             std::to_string(bytes) + " bytes, the recorded file had " + std::to_string(f["bytes"].get<std::uint64_t>());
    }
  }
  return out;
}

void warn_if_data_differ(const std::string& model_path, const std::string& settings_json, const DataFiles& files,
                         const std::string& doing) {
  const nlohmann::json s = nlohmann::json::parse(settings_json, nullptr, false);
  if (s.is_discarded() || !s.is_object() || !s.contains("data") || !s["data"].is_object()) return;
  const std::string differences = data_differences(s["data"], files);
  if (!differences.empty()) {
    std::cerr << "logreg_cuda: warning: " << model_path << " was trained on other data than it is " << doing << ": "
              << differences << "\n";
  }
}

void warn_if_images_differ(const std::string& model_path, const std::string& settings_json, const std::string& images) {
  const nlohmann::json s = nlohmann::json::parse(settings_json, nullptr, false);
  if (s.is_discarded() || !s.is_object() || !s.contains("data") || !s["data"].is_object()) return;
  const nlohmann::json& d = s["data"];
  const std::filesystem::path image_path(images);
  // The same file name as one the model was trained or tested on, but another size.
  if (d.contains("files") && d["files"].is_array()) {
    std::error_code ec;
    const auto bytes = std::filesystem::file_size(images, ec);
    for (const auto& f : d["files"]) {
      if (ec || !f.is_object() || !f.contains("path") || !f["path"].is_string() || !f.contains("bytes") ||
          !f["bytes"].is_number_unsigned()) {
        continue;
      }
      if (std::filesystem::path(f["path"].get<std::string>()).filename() == image_path.filename() &&
          f["bytes"].get<std::uint64_t>() != bytes) {
        std::cerr << "logreg_cuda: warning: " << images << " has " << bytes << " bytes, but the file of that name "
                  << model_path << " was trained with had " << f["bytes"].get<std::uint64_t>() << "\n";
        return;
      }
    }
  }
  // Another known data set than the model's, judged by the directory names.
  if (d.contains("name") && d["name"].is_string()) {
    const std::string trained = d["name"].get<std::string>();
    const std::string now = data_set_name(image_path.has_parent_path() ? image_path.parent_path().string() : ".");
    auto known = [](const std::string& n) { return n == "MNIST" || n == "Fashion-MNIST" || n == "KMNIST"; };
    if (known(trained) && known(now) && trained != now) {
      std::cerr << "logreg_cuda: warning: " << model_path << " was trained on " << trained << ", but " << images
                << " looks like " << now << "\n";
    }
  }
}

std::string recorded_data_dir(const std::string& settings_json) {
  const nlohmann::json s = nlohmann::json::parse(settings_json, nullptr, false);
  if (s.is_discarded() || !s.is_object() || !s.contains("data") || !s["data"].is_object()) return "";
  const nlohmann::json& d = s["data"];
  return d.contains("dir") && d["dir"].is_string() ? d["dir"].get<std::string>() : std::string();
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
  refuse_empty_values(app);  // after every option is defined, so that none is missed
}

}  // namespace logreg::cli
