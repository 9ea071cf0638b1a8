// The subcommands of the logreg_cuda CLI. Each cmd_*.cpp registers one subcommand on the CLI11 app;
// its callback throws logreg::Error on failure and main.cpp turns that into a message and exit code.
#pragma once

#include <CLI/CLI.hpp>

#include <optional>
#include <string>

#include "logreg/dataset.hpp"
#include "logreg/idx.hpp"

namespace logreg::cli {

// The whole logreg_cuda app: description, --version, every subcommand below (cli_app.cpp).
void build_cli(CLI::App& app);

void setup_info_command(CLI::App& app);
void setup_show_command(CLI::App& app);
void setup_train_command(CLI::App& app);
void setup_eval_command(CLI::App& app);
void setup_predict_command(CLI::App& app);
void setup_export_command(CLI::App& app);  // cmd_export.cpp

// Adds --data DIR and --max-bytes N to a subcommand.
void add_data_option(CLI::App* sub, std::optional<std::string>* dir);

// Adds --max-bytes N alone (for commands that read one IDX file) and gives its parsed value.
void add_max_bytes_option(CLI::App* sub);
const IdxLimits& cli_idx_limits();

// Finds (saying on stderr which data set was chosen) and loads the data set within cli_idx_limits().
Dataset load_cli_dataset(const std::optional<std::string>& dir);

}  // namespace logreg::cli
