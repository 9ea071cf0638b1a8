// `train --solver newton-cg` as a user meets it: the settings line, one line per accepted step and the verdict,
// the same optimum as --solver lbfgs, --metrics records with the Hessian-vector products, --save read back by
// eval, the reference backend, and the refusals naming the option (another loss head, the CUDA device, SGD
// flags).
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "logreg/model_file.hpp"
#include "cli_runner.hpp"
#include "test_support.hpp"

namespace logreg {
namespace {

using test::ExpectRefusals;
using test::RunCli;

const std::regex kIteration(
    R"(Iteration: \d+\. Objective: [0-9.e+-]+\. Gradient: [0-9.e+-]+\. Step: [0-9.e+-]+\. Time: [0-9.]+ s(\. Test accuracy: [0-9.]+)?)");
const std::regex kFinal(
    R"((Solver: ([a-z-]+)\. Iterations: (\d+)\. Objective: ([0-9.e+-]+)\. Gradient: ([0-9.e+-]+)\. Converged: (yes|no) \((.+)\)\. Accuracy: ([0-9.]+)\.))");

int CountLines(const std::string& text, const std::regex& re) {
  int n = 0;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) n += std::regex_match(line, re) ? 1 : 0;
  return n;
}

class NewtonCgCli : public ::testing::Test {
 protected:
  void SetUp() override { test::WriteSolverDataDir(dir_); }
  std::string Train(const std::string& solver, const std::string& extra) const {
    return "train --solver " + solver + " --data " + dir_.path() + " " + extra;
  }
  test::TempDir dir_;
};

TEST_F(NewtonCgCli, PrintsEachStepAndReachesTheOptimumOfLbfgs) {
  const std::string model = dir_.file("n.lrm"), metrics = dir_.file("n.csv");
  const auto rn = RunCli(Train("newton-cg", "--device cpu --C 1 --tol 1e-8 --max-iter 200 --eval-every 2 --save " +
                                                model + " --metrics " + metrics));
  const auto rl = RunCli(Train("lbfgs", "--device cpu --C 1 --tol 1e-8 --max-iter 5000 --eval-every 0"));
  ASSERT_EQ(rn.exit_code, 0) << rn.output;
  ASSERT_EQ(rl.exit_code, 0) << rl.output;
  EXPECT_NE(rn.out.find("Optimizer: Newton-CG (trust region, full batch), C 1, tol 1e-08, max-iter 200, test "
                        "accuracy every 2 iterations"),
            std::string::npos)
      << rn.out;
  std::smatch mn, ml;
  ASSERT_TRUE(std::regex_search(rn.out, mn, kFinal)) << rn.out;
  ASSERT_TRUE(std::regex_search(rl.out, ml, kFinal)) << rl.out;
  EXPECT_EQ(mn[2], "newton-cg");
  EXPECT_EQ(mn[6], "yes") << mn[7];
  EXPECT_NE(mn[7].str().find("<= tol 1e-08"), std::string::npos) << mn[7];
  const int n = std::stoi(mn[3]);
  EXPECT_EQ(CountLines(rn.out, kIteration), n);
  EXPECT_NE(rn.out.find("Iteration: 2. "), std::string::npos);
  // The printed objectives (10 significant digits) of the two solvers agree.
  EXPECT_NEAR(std::stod(mn[4]), std::stod(ml[4]), 1e-9 * std::stod(ml[4]));
  EXPECT_NE(rn.out.find("Saved model to " + model + " (Newton-CG, " + mn[3].str() + " iterations)"), std::string::npos);
  EXPECT_NE(rn.out.find("Test set confusion matrix after Newton-CG iteration " + mn[3].str()), std::string::npos);

  const nlohmann::json s = nlohmann::json::parse(load_model_file(model).settings_json);
  EXPECT_EQ(s["solver"], "newton-cg");
  EXPECT_EQ(s["lbfgs_result"]["iterations"].get<int>(), n);
  EXPECT_GT(s["lbfgs_result"]["hessian_products"].get<int>(), n);
  const auto ev = RunCli("eval --model " + model + " --data " + dir_.path());
  ASSERT_EQ(ev.exit_code, 0) << ev.output;
  EXPECT_NE(ev.out.find(mn[8].str() + "%"), std::string::npos) << ev.out;

  std::ifstream in(metrics);
  std::string header, line, last;
  std::getline(in, header);
  EXPECT_EQ(header, "iteration,objective,gradient,step,seconds,evaluations,test_accuracy,hessian_products,evaluation_seconds");
  int records = 0;
  while (std::getline(in, line)) {
    ++records;
    last = line;
  }
  EXPECT_EQ(records, n);
  // The last record's products (the next-to-last field) are the fit's; its evaluation seconds (the last) are
  // those of the result, which adds nothing after it.
  const std::size_t products_end = last.rfind(',');
  const std::size_t products_start = last.rfind(',', products_end - 1) + 1;
  EXPECT_EQ(last.substr(products_start, products_end - products_start),
            std::to_string(s["lbfgs_result"]["hessian_products"].get<int>()));
  EXPECT_GT(s["lbfgs_result"]["evaluation_seconds"].get<double>(), 0.0);
  EXPECT_LE(s["lbfgs_result"]["evaluation_seconds"].get<double>(), s["lbfgs_result"]["seconds"].get<double>());
}

// The reference backend fits the same model (its scalar objective and Hessian-vector product).
TEST_F(NewtonCgCli, TheReferenceBackendReachesTheSameObjective) {
  const auto rr = RunCli(Train("newton-cg", "--device reference --tol 1e-7 --eval-every 0"));
  const auto rc = RunCli(Train("newton-cg", "--device cpu --tol 1e-7 --eval-every 0"));
  ASSERT_EQ(rr.exit_code, 0) << rr.output;
  ASSERT_EQ(rc.exit_code, 0) << rc.output;
  std::smatch mr, mc;
  ASSERT_TRUE(std::regex_search(rr.out, mr, kFinal)) << rr.out;
  ASSERT_TRUE(std::regex_search(rc.out, mc, kFinal)) << rc.out;
  EXPECT_EQ(mr[6], "yes") << mr[7];
  EXPECT_NEAR(std::stod(mr[4]), std::stod(mc[4]), 1e-8 * std::stod(mc[4]));
}

TEST(NewtonCgCliErrors, RefusalsNameTheOption) {
  ExpectRefusals("train --data /nonexistent", {
      {"--solver newton-cg --loss ovr", "--solver newton-cg needs --loss softmax"},
      {"--solver newton-cg --loss sigmoid-softmax", "--solver newton-cg needs --loss softmax"},
      {"--solver newton-cg --device cuda", "--solver newton-cg runs on --device cpu or reference"},
      {"--solver newton-cg --lr 0.1", "--lr applies to --solver sgd only, not --solver newton-cg"},
      {"--solver newton-cg --seed 3", "--seed: --solver newton-cg starts from zeros"},
  });
}

}  // namespace
}  // namespace logreg
