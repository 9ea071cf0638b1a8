// Values typed on the command line: an empty value is refused for every option of every subcommand (found
// from each subcommand's --help, so a new option is covered without a new test), naming the option; no
// empty --save, --metrics, --resume, --init or --out is taken as "not given". Every number goes through one
// checked reading: decimal only, no spaces around it, in range, the typed text echoed when refused; a model
// whose outputs are not finite is bad data, never a "nan" figure.
#include <gtest/gtest.h>

#include <filesystem>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "cli_runner.hpp"
#include "logreg/model_file.hpp"
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

// The options of `sub` that take a number: in --help, their type is INT, UINT, FLOAT or SIZE.
std::vector<std::string> NumberOptions(const std::string& sub) {
  const std::string help = RunCli(sub + " --help").out;
  std::vector<std::string> options;
  std::istringstream lines(help);
  const std::regex row("^  (--[a-zA-Z0-9-]+) (INT|UINT|FLOAT|SIZE)\\b.*");
  for (std::string line; std::getline(lines, line);) {
    std::smatch m;
    if (std::regex_match(line, m, row)) options.push_back(m[1]);
  }
  return options;
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
    test::WriteSeparableDataDir(dir_, 120, 40, 4, 8, 5);
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

// Every number option of every subcommand, --C included, refuses hex, surrounding spaces (either side) and
// trailing garbage with one message style that echoes the typed text.
TEST_F(OptionValues, EveryNumberOptionRefusesHexSpacesAndGarbageEchoingTheText) {
  std::size_t checked = 0;
  for (const std::string& sub : Subcommands()) {
    std::vector<std::string> options = NumberOptions(sub);
    if (sub == "train") options.push_back("--C");
    for (const std::string& option : options) {
      for (const std::string& typed : {"0x10", " 1", "1 ", "1x", "1,5"}) {
        if (option == "--C" && typed == "1,5") continue;  // two values of the regularisation path
        SCOPED_TRACE(sub + " " + option + " '" + typed + "'");
        const auto r = RunCli(sub + " " + option + " '" + typed + "'");
        EXPECT_EQ(r.exit_code, 2) << r.output;
        EXPECT_NE(r.err.find(option + ": expected "), std::string::npos) << r.err;
        EXPECT_NE(r.err.find("got '" + typed + "'"), std::string::npos) << r.err;
      }
      ++checked;
    }
  }
  EXPECT_GE(checked, 20u);
}

TEST_F(OptionValues, NumbersAreRefusedWithTheRuleAndTheValueAsTyped) {
  struct Case {
    std::string args, words;
  };
  const std::vector<Case> cases = {
      {"--seed 18446744073709551616", "--seed: expected a whole number from 0 to 18446744073709551615, got '18446744073709551616'"},
      {"--seed 99999999999999999999999", "--seed: expected a whole number from 0 to 18446744073709551615, got '99999999999999999999999'"},
      {"--seed -1", "--seed: expected a whole number from 0 to 18446744073709551615, got '-1' (decimal digits only)"},
      {"--epochs 1e3", "--epochs: expected a whole number from 1 to 1000000, got '1e3' (decimal digits only"},
      {"--epochs 1000001", "--epochs: expected a whole number from 1 to 1000000, got '1000001'"},
      {"--batch-size 99999999999999999999", "--batch-size: expected a whole number from 1 to 16777216, got '99999999999999999999'"},
      {"--limit-train 0x10", "--limit-train: expected a whole number from 0 to 4294967296, got '0x10' (decimal only"},
      {"--epochs ' 1'", "--epochs: expected a whole number from 1 to 1000000, got ' 1' (spaces around a number are refused)"},
      {"--epochs '1 '", "--epochs: expected a whole number from 1 to 1000000, got '1 ' (spaces around a number are refused)"},
      {"--lr 0x1p-3", "--lr: expected a number > 0, got '0x1p-3' (decimal only"},
      {"--lr inf", "--lr: expected a number > 0, got 'inf' (a decimal number"},
      {"--solver lbfgs --tol 1e-400", "--tol: expected a number > 0, got '1e-400' (underflows a double to 0)"},
      {"--solver lbfgs --tol 1e-310", "--tol: expected a number > 0, got '1e-310' (underflows a double"},
      {"--solver lbfgs --C 1e-310", "--C: expected a number > 0, got '1e-310' (underflows a double"},
      {"--solver lbfgs --C '1, 2'", "--C: expected a number > 0, got ' 2' (spaces around a number are refused)"},
      {"--val-split 1", "--val-split: expected a number in [0, 1), got '1'"},
      {"--max-bytes -5", "--max-bytes: expected a size of at least 1 byte, in bytes or with a unit (512M, 8G), got '-5'"},
      {"--max-bytes 1.5G", "--max-bytes: expected a size of at least 1 byte, in bytes or with a unit (512M, 8G), got '1.5G'"},
      {"--max-bytes 0", "--max-bytes: expected a size of at least 1 byte, in bytes or with a unit (512M, 8G), got '0'"},
      {"--max-bytes 99999999999G", "got '99999999999G' (more than 2^64 - 1 bytes)"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.args);
    const auto r = RunCli("train --device cpu --data " + dir_.path() + " " + c.args);
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_NE(r.err.find(c.words), std::string::npos) << r.err;
    EXPECT_EQ(r.out.find("Epoch: 1."), std::string::npos) << r.out;
  }
}

// What the checked reading accepts reads as decimal: 010 is ten rows (not octal 8), 1e-2 is a real, sizes
// take units.
TEST_F(OptionValues, AcceptedNumbersReadAsDecimal) {
  const auto r = RunCli(Train("--limit-train 010 --lr 1e-2 --seed 18446744073709551615 --max-bytes 512M"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.out.find("10 training rows"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("SGD lr 0.01 "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("seed 18446744073709551615;"), std::string::npos) << r.out;
  const auto small = RunCli(Train("--max-bytes 1k"));
  EXPECT_EQ(small.exit_code, 3) << small.output;
  EXPECT_NE(small.err.find("exceeds the limit of 1024 bytes"), std::string::npos) << small.err;
}

// Finite weights near the float32 limit make every logit overflow: eval and predict refuse the model as bad
// data (exit 3) instead of printing "Test loss: -nan" with exit 0.
TEST_F(OptionValues, AModelWhoseOutputsAreNotFiniteIsBadData) {
  const std::string model = dir_.file("m.lrm"), huge = dir_.file("huge.lrm");
  ASSERT_EQ(RunCli(Train("--save " + model)).exit_code, 0);
  ModelFile mf = load_model_file(model);
  for (float& w : mf.model.weights) w = 3e38f;
  save_model_file(huge, mf);
  for (const std::string cmd : {"eval --data " + dir_.path() + " --model " + huge,
                                "eval --json --data " + dir_.path() + " --model " + huge}) {
    SCOPED_TRACE(cmd);
    const auto r = RunCli(cmd);
    EXPECT_EQ(r.exit_code, 3) << r.output;
    EXPECT_NE(r.err.find(huge + ": the test loss on "), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("not a finite number: the model's parameters (largest magnitude 3e+38)"), std::string::npos)
        << r.err;
    EXPECT_EQ(r.out.find("nan"), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("null"), std::string::npos) << r.out;
  }
  const auto p = RunCli("predict --model " + huge + " --images " + dir_.file("t10k-images-idx3-ubyte") + " --all");
  EXPECT_EQ(p.exit_code, 3) << p.output;
  EXPECT_NE(p.err.find(huge + ": the logits of image 0 on "), std::string::npos) << p.err;
  EXPECT_EQ(p.out.find("nan"), std::string::npos) << p.out;
}

}  // namespace
}  // namespace logreg
