// The subcommands of the logreg_cuda CLI. Each cmd_*.cpp registers one subcommand on the CLI11 app;
// its callback throws logreg::Error on failure and main.cpp turns that into a message and exit code.
#pragma once

#include <CLI/CLI.hpp>

#include <optional>
#include <string>

#include "logreg/dataset.hpp"

namespace logreg::cli {

// The whole logreg_cuda app: description, --version, every subcommand below (cli_app.cpp).
void build_cli(CLI::App& app);

void setup_info_command(CLI::App& app);
void setup_show_command(CLI::App& app);
void setup_train_command(CLI::App& app);
void setup_eval_command(CLI::App& app);
void setup_predict_command(CLI::App& app);

// Adds --data DIR to a subcommand.
void add_data_option(CLI::App* sub, std::optional<std::string>* dir);

// Finds (saying on stderr which data set was chosen) and loads the data set.
Dataset load_cli_dataset(const std::optional<std::string>& dir);

}  // namespace logreg::cli
