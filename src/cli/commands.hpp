// The subcommands of the logreg_cuda CLI. Each cmd_*.cpp registers one subcommand on the CLI11 app;
// its callback throws logreg::Error on failure and main.cpp turns that into a message and exit code.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <type_traits>

#include <nlohmann/json.hpp>

#include "logreg/data_source.hpp"
#include "logreg/dataset.hpp"
#include "logreg/feature_data.hpp"
#include "logreg/idx.hpp"
#include "logreg/model.hpp"
#include "logreg/model_file.hpp"
#include "logreg/name_table.hpp"

namespace logreg::cli {

// The whole logreg_cuda app: description, --version, every subcommand below (cli_app.cpp).
void build_cli(CLI::App& app);

void setup_info_command(CLI::App& app);
void setup_show_command(CLI::App& app);
void setup_train_command(CLI::App& app);
void setup_eval_command(CLI::App& app);
void setup_predict_command(CLI::App& app);
void setup_export_command(CLI::App& app);  // cmd_export.cpp

// An option that takes one of an enum's names (its name table): the transform turns the name into the
// value (as CLI11's CheckedTransformer would, but accepting names only, not the enum's integers) and rejects
// any other word naming the valid ones; --help shows each name with its meaning, and the default.
template <class E, std::size_t N>
CLI::Option* add_enum_option(CLI::App* sub, const std::string& flag, E* value, const NameTable<E, N>& table,
                             const std::string& what) {
  const CLI::Validator by_name(
      [table](std::string& input) -> std::string {
        E parsed;
        if (!parse_name(table, input, &parsed)) return "'" + input + "' is not " + names_list(table);
        input = std::to_string(static_cast<std::underlying_type_t<E>>(parsed));
        return std::string();
      },
      "");
  return sub->add_option(flag, *value, what + ": " + names_with_help(table))
      ->transform(by_name)
      ->type_name(names_joined(table))
      ->default_str(name_of(table, *value));
}

// Adds --data DIR and --max-bytes N to a subcommand.
void add_data_option(CLI::App* sub, std::optional<std::string>* dir);

// Adds --max-bytes N alone (for commands that read one IDX file) and gives its parsed value.
void add_max_bytes_option(CLI::App* sub);
const IdxLimits& cli_idx_limits();

// Finds (saying on stderr which data set was chosen) and loads the data set within cli_idx_limits().
Dataset load_cli_dataset(const std::optional<std::string>& dir);

// --data names a file (an .npz or an svmlight file), not a directory of IDX files.
bool is_feature_file(const std::optional<std::string>& data);
// A file that is not IDX (which starts 00 00 or, gzipped, 1f 8b): predict --images takes it as features.
bool is_non_idx_file(const std::string& path);
// Adds --test-data FILE (the test split of a feature file that holds one split) to a subcommand.
void add_test_data_option(CLI::App* sub, std::string* test_data);
// Loads --data FILE (and --test-data) within cli_idx_limits().
FeatureData load_cli_feature_data(const std::string& path, const std::string& test_path,
                                  const FeatureRowWindow& window = {});
// The labels of a model's classes: its class labels, or 0..C-1 for a model without them (version 1).
std::vector<std::int64_t> default_class_labels(const ModelFile& mf);
// The svmlight index base a model's settings record holds ("data": {"zero_based": ...}), when it has one.
std::optional<bool> recorded_zero_based(const std::string& settings_json);
// "labels 0 .. 9" or the first and last few of the labels, for messages and `info`.
std::string class_labels_text(const std::vector<std::int64_t>& classes);

// A model whose outputs are not finite on `images` (weights near the float limit overflow the logits): DataError
// naming the model file, the image file and the largest weight magnitude. `what` says which output ("test
// loss", "logits of image 3"); the file is well-formed, but nothing it computes can be reported.
[[noreturn]] void throw_non_finite_output(const std::string& model_path, const Model& model, const std::string& images,
                                          const std::string& what, double value);

// JSON text that never throws on bytes that are not UTF-8 (a path): they become U+FFFD.
std::string json_text(const nlohmann::ordered_json& j);
std::string json_text(double v);

// The differences between a data record a model file holds (settings "data": name, files with bytes) and
// `files`, "" when none; warn_if_data_differ prints them as a warning ("resumed on", "evaluated on").
std::string data_differences(const nlohmann::json& recorded, const DataFiles& files);
void warn_if_data_differ(const std::string& model_path, const std::string& settings_json, const DataFiles& files,
                         const std::string& doing);

// "ROWSxCOLS", an image shape in messages.
std::string shape_text(std::uint32_t rows, std::uint32_t cols);

// The data directory a model file's settings record names ("" when none): eval's default data.
std::string recorded_data_dir(const std::string& settings_json);

// predict: a warning when the images seem to be of another data set than the model's (a recorded file of the
// same name but another size, or another known data set by the directory names).
void warn_if_images_differ(const std::string& model_path, const std::string& settings_json, const std::string& images);

}  // namespace logreg::cli
