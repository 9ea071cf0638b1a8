// libFuzzer target for the logreg_cuda command line: the input is an argument list (arguments separated
// by NUL or newline bytes) handed to the very app main.cpp builds (build_cli). All of parsing runs
// (options, validators, requirements, extras, help and error formatting); then a parse-complete callback
// on the top-level app, which CLI11 runs before any subcommand's callback, stops it, so no data is
// loaded and nothing trains. (The subcommand callbacks stay in place: they own their options' storage.)
// Outcomes main.cpp handles (CLI11 parse errors, logreg::Error) are fine; any other exception escapes
// and is a finding.
#include <CLI/CLI.hpp>

#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

#include "commands.hpp"
#include "logreg/errors.hpp"

namespace {

constexpr std::size_t kMaxArgs = 64;

struct ParsedWithoutRunning {};

std::vector<std::string> split_args(const std::uint8_t* data, std::size_t size) {
  std::vector<std::string> args{"logreg_cuda"};
  std::string current;
  for (std::size_t i = 0; i < size && args.size() < kMaxArgs; ++i) {
    const char c = static_cast<char>(data[i]);
    if (c == '\0' || c == '\n') {
      args.push_back(current);
      current.clear();
    } else {
      current += c;
    }
  }
  if (!current.empty() && args.size() < kMaxArgs) args.push_back(current);
  return args;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::vector<std::string> args = split_args(data, size);
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  CLI::App app;
  logreg::cli::build_cli(app);
  app.parse_complete_callback([] { throw ParsedWithoutRunning{}; });
  std::ostringstream sink;
  try {
    app.parse(static_cast<int>(args.size()), argv.data());
  } catch (const CLI::ParseError& e) {
    app.exit(e, sink, sink);  // what main.cpp prints for --help, --version and parse errors
  } catch (const logreg::Error&) {
  } catch (const ParsedWithoutRunning&) {
  }
  return 0;
}
