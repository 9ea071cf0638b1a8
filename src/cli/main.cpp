// Entry point of logreg_cuda: builds the CLI11 app from the subcommands, parses, and maps every
// exception to a one-line message on stderr and the documented exit code.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>
#include <iostream>
#include <new>

#include "commands.hpp"
#include "logreg/data_source.hpp"
#include "logreg/errors.hpp"

namespace logreg::cli {

void add_data_option(CLI::App* sub, std::optional<std::string>* dir) {
  sub->add_option("--data", *dir,
                  "Directory with the four IDX files (raw or .gz), or DIR/MNIST/raw. Default: ./data, "
                  "then Debian's Fashion-MNIST");
}

Dataset load_cli_dataset(const std::optional<std::string>& dir) {
  std::string note;
  const DataFiles files = locate_data(dir, &note);
  if (!note.empty()) std::cerr << note << "\n";
  return load_dataset(files);
}

}  // namespace logreg::cli

int main(int argc, char** argv) {
  using logreg::ExitCode;
  CLI::App app{"logreg_cuda: multinomial logistic regression on MNIST-format IDX data, on an NVIDIA GPU "
               "(CUDA) or the CPU"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "logreg_cuda 0.1.0");
  logreg::cli::setup_info_command(app);
  logreg::cli::setup_show_command(app);
  logreg::cli::setup_train_command(app);
  logreg::cli::setup_eval_command(app);
  logreg::cli::setup_predict_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);  // prints help/version (rc 0) or the parse error
    return rc == 0 ? 0 : static_cast<int>(ExitCode::kUsage);
  } catch (const logreg::Error& e) {
    std::cerr << "logreg_cuda: error: " << e.what() << "\n";
    return static_cast<int>(e.code());
  } catch (const std::bad_alloc&) {
    std::cerr << "logreg_cuda: error: out of host memory\n";
    return static_cast<int>(ExitCode::kDevice);
  } catch (const std::exception& e) {
    std::cerr << "logreg_cuda: error: " << e.what() << "\n";
    return static_cast<int>(ExitCode::kFailure);
  }
  return 0;
}
