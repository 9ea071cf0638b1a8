// `train --solver lbfgs` as a user meets it: the iteration and final lines, the convergence verdict and its
// reason, the test accuracy every --eval-every iterations, --metrics records, --save, the regularisation path,
// reproducible runs, and a clear error naming the option for every bad value or misplaced flag.
#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "logreg/evaluation.hpp"
#include "logreg/model_file.hpp"
#include "logreg/solver.hpp"
#include "cli_runner.hpp"
#include "test_support.hpp"

namespace logreg {
namespace {

using test::ExpectRefusals;
using test::RunCli;

std::vector<std::string> MatchingLines(const std::string& text, const std::regex& re) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (std::regex_match(line, re)) out.push_back(line);
  }
  return out;
}

const std::regex kIteration(
    R"(Iteration: \d+\. Objective: [0-9.e+-]+\. Gradient: [0-9.e+-]+\. Step: [0-9.e+-]+\. Time: [0-9.]+ s(\. Test accuracy: [0-9.]+)?)");
const std::regex kFinal(
    R"(Solver: lbfgs\. Iterations: (\d+)\. Objective: ([0-9.e+-]+)\. Gradient: ([0-9.e+-]+)\. Converged: (yes|no) \((.+)\)\. Accuracy: ([0-9.]+)\.)");

class LbfgsCli : public ::testing::Test {
 protected:
  void SetUp() override { test::WriteSolverDataDir(dir_); }
  std::string Train(const std::string& extra) const {
    return "train --device cpu --solver lbfgs --data " + dir_.path() + " " + extra;
  }
  test::TempDir dir_;
};

TEST_F(LbfgsCli, PrintsEveryIterationAndTheVerdict) {
  const auto r = RunCli(Train("--C 1 --tol 1e-5 --max-iter 500 --eval-every 5"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.out.find("Optimizer: L-BFGS (libLBFGS, full batch), C 1, tol 1e-05, max-iter 500"), std::string::npos)
      << r.out;
  const std::vector<std::string> iterations = MatchingLines(r.out, kIteration);
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.out, m, kFinal)) << r.out;
  const int n = std::stoi(m[1]);
  EXPECT_EQ(static_cast<int>(iterations.size()), n);
  EXPECT_GT(n, 5);
  EXPECT_EQ(m[4], "yes") << m[5];
  EXPECT_LE(std::stod(m[3]), 1e-5);
  EXPECT_NE(m[5].str().find("<= tol 1e-05"), std::string::npos) << m[5];
  // The test accuracy on every 5th iteration, and only there.
  for (int i = 0; i < n; ++i) {
    const bool has = iterations[static_cast<std::size_t>(i)].find("Test accuracy") != std::string::npos;
    EXPECT_EQ(has, (i + 1) % 5 == 0) << iterations[static_cast<std::size_t>(i)];
  }
  // The objective never increases (every line search ends in a sufficient decrease).
  double last = 1e300;
  for (const std::string& line : iterations) {
    const double f = std::stod(line.substr(line.find("Objective: ") + 11));
    EXPECT_LE(f, last) << line;
    last = f;
  }
  EXPECT_NE(r.out.find("Test set confusion matrix after L-BFGS iteration " + m[1].str()), std::string::npos);
}

TEST_F(LbfgsCli, MaxIterIsNotConvergence) {
  const auto r = RunCli(Train("--tol 1e-10 --max-iter 4"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.out, m, kFinal)) << r.out;
  EXPECT_EQ(m[1], "4");
  EXPECT_EQ(m[4], "no");
  EXPECT_NE(m[5].str().find("max-iter 4 reached"), std::string::npos) << m[5];
}

// The same run twice: the same lines (times aside) and the same weights, bit for bit; the saved model is
// what `eval` reads, with the final line's accuracy.
TEST_F(LbfgsCli, RunsAreReproducibleAndSaveTheFit) {
  const std::string a = dir_.file("a.lrm"), b = dir_.file("b.lrm");
  const auto ra = RunCli(Train("--C 0.5 --max-iter 60 --save " + a));
  const auto rb = RunCli(Train("--C 0.5 --max-iter 60 --save " + b));
  ASSERT_EQ(ra.exit_code, 0) << ra.output;
  ASSERT_EQ(rb.exit_code, 0) << rb.output;
  auto fit_lines = [](const std::string& out) {  // from the first iteration to the final line, times aside
    const std::size_t from = out.find("Iteration: 1."), to = out.find("Saved model");
    return std::regex_replace(out.substr(from, to - from), std::regex(R"(Time: [0-9.]+ s)"), "");
  };
  EXPECT_EQ(fit_lines(ra.out), fit_lines(rb.out));
  EXPECT_NE(fit_lines(ra.out).find("Solver: lbfgs."), std::string::npos);
  const ModelFile ma = load_model_file(a), mb = load_model_file(b);
  EXPECT_EQ(ma.model.weights, mb.model.weights);
  EXPECT_EQ(ma.model.bias, mb.model.bias);
  const nlohmann::json s = nlohmann::json::parse(ma.settings_json);
  EXPECT_EQ(s["solver"], "lbfgs");
  EXPECT_EQ(s["C"], "0.5");
  std::smatch m;
  ASSERT_TRUE(std::regex_search(ra.out, m, kFinal));
  EXPECT_EQ(s["lbfgs_result"]["iterations"].get<int>(), std::stoi(m[1]));
  const auto ev = RunCli("eval --model " + a + " --data " + dir_.path());
  ASSERT_EQ(ev.exit_code, 0) << ev.output;
  EXPECT_NE(ev.out.find(m[6].str() + "%"), std::string::npos) << ev.out << "\nexpected accuracy " << m[6];
}

// The corrections: chosen from the parameters and the training rows unless --lbfgs-memory gives them, recorded
// either way (the flag only when given); another memory is another path; Newton-CG refuses the flag.
TEST_F(LbfgsCli, LbfgsMemoryIsChosenFromTheRowsOrGivenAndRecorded) {
  auto fitted = [&](const std::string& name, const std::string& extra) {
    const std::string path = dir_.file(name);
    const auto r = RunCli(Train("--tol 1e-10 --max-iter 40 " + extra + " --save " + path));
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return load_model_file(path);
  };
  const ModelFile ma = fitted("auto.lrm", ""), mb = fitted("five.lrm", "--lbfgs-memory 5");
  const nlohmann::json sa = nlohmann::json::parse(ma.settings_json), sb = nlohmann::json::parse(mb.settings_json);
  const std::size_t params = ma.model.weights.size() + ma.model.bias.size();
  const int rows = sa["train_rows"].get<int>();
  EXPECT_EQ(sa["lbfgs_result"]["memory"].get<int>(), lbfgs_memory(params, rows)) << rows << " rows";
  EXPECT_FALSE(sa.contains("lbfgs_memory"));
  EXPECT_EQ(sb["lbfgs_memory"].get<int>(), 5);
  EXPECT_EQ(sb["lbfgs_result"]["memory"].get<int>(), 5);
  EXPECT_NE(ma.model.weights, mb.model.weights);
  ExpectRefusals("train --device cpu --data " + dir_.path(),
                 {{"--solver lbfgs --lbfgs-memory -1", "--lbfgs-memory"},
                  {"--solver newton-cg --lbfgs-memory 5", "--lbfgs-memory 5 applies to --solver lbfgs"},
                  {"--lbfgs-memory 5", "--lbfgs-memory"}});
}

TEST_F(LbfgsCli, MetricsHoldEveryIteration) {
  const std::string csv = dir_.file("m.csv"), jsonl = dir_.file("m.jsonl");
  const auto r = RunCli(Train("--max-iter 12 --tol 1e-12 --eval-every 4 --metrics " + csv));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::ifstream f(csv);
  std::vector<std::string> lines;
  for (std::string line; std::getline(f, line);) lines.push_back(line);
  ASSERT_EQ(lines.size(), 13u);
  EXPECT_EQ(lines[0], "iteration,objective,gradient,step,seconds,evaluations,test_accuracy,evaluation_seconds");
  EXPECT_EQ(lines[1].substr(0, 2), "1,");
  auto fields = [](const std::string& line) {
    std::vector<std::string> out;
    std::stringstream in(line);
    for (std::string f; std::getline(in, f, ',');) out.push_back(f);
    return out;
  };
  const std::vector<std::string> four = fields(lines[4]), five = fields(lines[5]);
  ASSERT_EQ(four.size(), 8u) << lines[4];
  ASSERT_EQ(five.size(), 8u) << lines[5];
  EXPECT_FALSE(four[6].empty()) << lines[4];  // iteration 4 has a test accuracy
  EXPECT_TRUE(five[6].empty()) << lines[5];   // iteration 5 has none
  // The objective's share of the seconds so far: some of them, never more.
  EXPECT_GT(std::stod(five[7]), 0.0) << lines[5];
  EXPECT_LE(std::stod(five[7]), std::stod(five[4])) << lines[5];
  const auto rj = RunCli(Train("--max-iter 3 --tol 1e-12 --metrics " + jsonl));
  ASSERT_EQ(rj.exit_code, 0) << rj.output;
  std::ifstream fj(jsonl);
  std::vector<nlohmann::json> recs;
  for (std::string line; std::getline(fj, line);) recs.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(recs.size(), 4u);
  EXPECT_EQ(recs[0]["settings"]["solver"], "lbfgs");
  EXPECT_EQ(recs[3]["iteration"], 3);
  EXPECT_GT(recs[1]["objective"].get<double>(), recs[3]["objective"].get<double>());
}

TEST_F(LbfgsCli, RegularisationPathPicksTheBestCAndRefits) {
  const auto r = RunCli(Train("--C 0.001,1,100 --val-split 0.25 --max-iter 100 --tol 1e-4"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::regex c_line(R"(C: ([0-9.e+-]+|inf)\. Iterations: \d+\. Objective: [0-9.e+-]+\. Gradient: [0-9.e+-]+\. )"
                          R"(Converged: (yes|no)\. Validation accuracy: ([0-9.]+))");
  const std::vector<std::string> cs = MatchingLines(r.out, c_line);
  ASSERT_EQ(cs.size(), 3u) << r.out;
  double best = -1.0;
  std::string best_c;
  for (const std::string& line : cs) {
    std::smatch m;
    ASSERT_TRUE(std::regex_match(line, m, c_line));
    if (std::stod(m[3]) > best) {
      best = std::stod(m[3]);
      best_c = m[1];
    }
  }
  EXPECT_NE(r.out.find("Best C: " + best_c + " "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("refitting on all 400 training rows"), std::string::npos) << r.out;
  EXPECT_TRUE(std::regex_search(r.out, kFinal)) << r.out;
}

// The chosen C is the one of the best validation accuracy wherever it stands in the list: C 1e-8 (every weight
// pushed to 0: one class predicted) before C 1. The refit runs at that C and the record says so.
TEST_F(LbfgsCli, TheChosenCIsTheBestWhereverItStands) {
  const std::string model = dir_.file("path.lrm");
  const auto r = RunCli(Train("--C 1e-8,1 --val-split 0.25 --max-iter 50 --save " + model));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.out.find("Best C: 1 ("), std::string::npos) << r.out;
  const nlohmann::json record = nlohmann::json::parse(load_model_file(model).settings_json);
  EXPECT_EQ(record["C_chosen"], 1.0) << record.dump();
  EXPECT_LT(record["regularisation_path"][0]["val_accuracy"].get<double>(),
            record["regularisation_path"][1]["val_accuracy"].get<double>());
}

TEST(LbfgsCliErrors, EveryBadValueNamesItsOption) {
  ExpectRefusals("train --device cpu --data /nonexistent", {
      {"--solver lbfgs --C 0", "--C: expected a number > 0, got '0'"},
      {"--solver lbfgs --C -1", "--C: expected a number > 0, got '-1'"},
      {"--solver lbfgs --C 1,,2", "--C: expected a number > 0, got '' (empty)"},
      {"--solver lbfgs --C nan", "--C: expected a number > 0, got 'nan' (a decimal number"},
      {"--solver lbfgs --C 1e999", "--C: expected a number > 0, got '1e999' (overflows a double)"},
      {"--solver lbfgs --tol 0", "--tol: expected a number > 0, got '0'"},
      {"--solver lbfgs --tol inf", "--tol: expected a number > 0, got 'inf'"},
      {"--solver lbfgs --max-iter 0", "--max-iter"},
      {"--solver lbfgs --eval-every -1", "--eval-every"},
      {"--solver bfgs", "--solver: 'bfgs' is not sgd, lbfgs or newton-cg"},
      {"--solver lbfgs --C 0.1,1", "--C with several values (the regularisation path) needs a validation split"},
      {"--solver lbfgs --lr 0.1", "--lr applies to --solver sgd only"},
      {"--solver lbfgs --epochs 3", "--epochs applies to --solver sgd only"},
      {"--solver lbfgs --momentum 0.9", "--momentum applies to --solver sgd only"},
      {"--solver lbfgs --resume m.lrm", "--resume applies to --solver sgd only"},
      {"--C 1", "--C applies to --solver lbfgs or newton-cg only"},
      {"--tol 1e-6", "--tol applies to --solver lbfgs or newton-cg only"},
      {"--solver sgd --max-iter 5", "--max-iter applies to --solver lbfgs or newton-cg only"},
  });
}

}  // namespace
}  // namespace logreg
