// Entry point of logreg_cuda: builds the CLI11 app (cli_app.cpp), parses, and maps every exception to a
// one-line message on stderr and the documented exit code.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>
#include <iostream>
#include <new>

#include "commands.hpp"
#include "logreg/errors.hpp"

int main(int argc, char** argv) {
  using logreg::ExitCode;
  CLI::App app;
  logreg::cli::build_cli(app);
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
