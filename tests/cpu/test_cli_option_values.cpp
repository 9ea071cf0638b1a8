// Values typed on the command line: an empty value is refused for every option of every subcommand (found
// from each subcommand's --help, so a new option is covered without a new test), naming the option; no
// empty --save, --metrics, --resume, --init or --out is taken as "not given".
#include <gtest/gtest.h>

#include <filesystem>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "cli_runner.hpp"
#include "test_support.hpp"

namespace logreg {
namespace {

namespace fs = std::filesystem;
using test::RunCli;

// The subcommands listed by `logreg_cuda --help`.
std::vector<std::string> Subcommands() {
  const std::string help = RunCli("--help").out;
  std::vector<std::string> subs;
  std::istringstream lines(help.substr(help.find("Subcommands:")));
  const std::regex row("^  ([a-z]+) .*");
  for (std::string line; std::getline(lines, line);) {
    std::smatch m;
    if (std::regex_match(line, m, row)) subs.push_back(m[1]);
  }
  return subs;
}

// The options of `sub` that take a value: in --help, a value's type follows the name after one space
// ("--save TEXT"), a flag's help text after several ("--nesterov      Nesterov ..."), or a flag's
// "Excludes:" after one ("--all Excludes: --index").
std::vector<std::string> ValueOptions(const std::string& sub) {
  const std::string help = RunCli(sub + " --help").out;
  std::vector<std::string> options;
  std::istringstream lines(help);
  const std::regex row("^  (?:-[a-zA-Z],)?(--[a-zA-Z0-9-]+) (?!Excludes:|Needs:)[^ ].*");
  for (std::string line; std::getline(lines, line);) {
    std::smatch m;
    if (std::regex_match(line, m, row)) options.push_back(m[1]);
  }
  return options;
}

class OptionValues : public ::testing::Test {
 protected:
  void SetUp() override {
    ImageSet train, test;
    LabelSet train_labels, test_labels;
    test::SeparableSet(120, 4, 8, 5, &train, &train_labels);
    test::SeparableSet(40, 4, 8, 6, &test, &test_labels);
    test::WriteDataDir(dir_, train, train_labels, test, test_labels, /*gzip_train_images=*/false);
  }
  std::string Train(const std::string& args) const {
    return "train --device cpu --data " + dir_.path() + " --epochs 1 " + args;
  }
  test::TempDir dir_;
};

TEST_F(OptionValues, EveryOptionOfEverySubcommandRefusesAnEmptyValue) {
  const std::vector<std::string> subs = Subcommands();
  ASSERT_GE(subs.size(), 6u);
  std::size_t checked = 0;
  for (const std::string& sub : subs) {
    for (const std::string& option : ValueOptions(sub)) {
      SCOPED_TRACE(sub + " " + option);
      const auto r = RunCli(sub + " " + option + " ''");
      EXPECT_EQ(r.exit_code, 2) << r.output;
      EXPECT_NE(r.err.find(option + ": empty value"), std::string::npos) << r.err;
      ++checked;
    }
  }
  EXPECT_GE(checked, 40u);  // train alone has more than 30
}

// The reported cases, with everything else valid: each one used to succeed as if the option were absent.
TEST_F(OptionValues, EmptyOutputsAndInputsAreUsageErrorsNotAbsentOptions) {
  const std::string model = dir_.file("m.lrm");
  ASSERT_EQ(RunCli(Train("--save " + model)).exit_code, 0);
  for (const std::string& args : std::vector<std::string>{"--save ''", "--metrics ''", "--resume ''", "--init ''",
                                 "--solver lbfgs --save ''", "--save " + model + " --metrics ''"}) {
    SCOPED_TRACE(args);
    const auto r = RunCli(Train(args));
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_NE(r.err.find("empty value"), std::string::npos) << r.err;
    EXPECT_EQ(r.out.find("Epoch: 1."), std::string::npos) << "it trained: " << r.out;
  }
  const auto show = RunCli("show --data " + dir_.path() + " --out ''");
  EXPECT_EQ(show.exit_code, 2) << show.output;
  EXPECT_NE(show.err.find("--out: empty value"), std::string::npos) << show.err;
  const auto predict = RunCli("predict --model " + model + " --images " + dir_.file("t10k-images-idx3-ubyte") +
                              " --index 0 --out ''");
  EXPECT_EQ(predict.exit_code, 2) << predict.output;
  EXPECT_NE(predict.err.find("--out: empty value"), std::string::npos) << predict.err;
  const auto format = RunCli("export --model " + model + " --format '' --out " + dir_.file("m.onnx"));
  EXPECT_EQ(format.exit_code, 2) << format.output;
  EXPECT_NE(format.err.find("--format: empty value"), std::string::npos) << format.err;
  EXPECT_FALSE(fs::exists(dir_.file("m.onnx")));
}

}  // namespace
}  // namespace logreg
