// The L1 and elastic-net penalties and --cv: the penalty's split (penalty_strengths) and the L1 pseudo-gradient,
// OWL-QN on a problem with a known sparse optimum, the stratified folds against scikit-learn's
// StratifiedKFold(shuffle=False) (pinned), the choice of C by cross_validate, and `train` on IDX data with
// --penalty and --cv as a user meets them, with a clear error for every misplaced option.
#include <gtest/gtest.h>

#include <cmath>
#include <regex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "logreg/cross_validation.hpp"
#include "logreg/errors.hpp"
#include "logreg/maths/objective_math.hpp"
#include "logreg/model_file.hpp"
#include "logreg/solver.hpp"
#include "cli_runner.hpp"
#include "test_support.hpp"

namespace logreg {
namespace {

using test::RunCli;

TEST(PenaltyMaths, TheSplitFollowsScikitLearnAndL2StaysExact) {
  EXPECT_EQ(penalty_strengths(2.0, 50.0, 0.0).l2, l2_strength(2.0, 50.0));
  EXPECT_EQ(penalty_strengths(2.0, 50.0, 0.0).l1, 0.0);
  EXPECT_DOUBLE_EQ(penalty_strengths(2.0, 50.0, 1.0).l1, 0.01);
  EXPECT_EQ(penalty_strengths(2.0, 50.0, 1.0).l2, 0.0);
  EXPECT_DOUBLE_EQ(penalty_strengths(0.5, 10.0, 0.25).l2, 0.75 * 0.2);
  EXPECT_DOUBLE_EQ(penalty_strengths(0.5, 10.0, 0.25).l1, 0.25 * 0.2);
  EXPECT_EQ(penalty_strengths(INFINITY, 10.0, 0.5).l1, 0.0);
  EXPECT_EQ(l1_ratio_of(Penalty::kL1, 0.3), 1.0);
  EXPECT_EQ(l1_ratio_of(Penalty::kElasticNet, 0.3), 0.3);
  EXPECT_EQ(l1_ratio_of(Penalty::kL2, 0.3), 0.0);
  EXPECT_EQ(l1_ratio_of(Penalty::kNone, 0.3), 0.0);
}

TEST(PenaltyMaths, PseudoGradientIsTheMinimumNormSubgradient) {
  EXPECT_EQ(l1_pseudo_grad(0.5, 2.0, 1.0), 1.5);    // x > 0: g + l1
  EXPECT_EQ(l1_pseudo_grad(0.5, -2.0, 1.0), -0.5);  // x < 0: g - l1
  EXPECT_EQ(l1_pseudo_grad(0.5, 0.0, 1.0), 0.0);    // |g| <= l1 at 0: optimal
  EXPECT_EQ(l1_pseudo_grad(-3.0, 0.0, 1.0), -2.0);  // descends to the right
  EXPECT_EQ(l1_pseudo_grad(3.0, 0.0, 1.0), 2.0);    // descends to the left
}

// f(x) = sum_j (x_j - a_j)^2 / 2 + l1 sum_{j < 3} |x_j|: the optimum soft-thresholds a_j by l1 on the first
// three components (exact zeros where |a_j| <= l1) and is a_3 on the last, which carries no L1 term.
TEST(Owlqn, ReachesTheSoftThresholdedOptimumWithExactZeros) {
  const std::vector<double> a = {3.0, -0.4, 0.9, -2.0};
  LbfgsConfig config;
  config.tol = 1e-10;
  config.max_iter = 200;
  config.l1 = 1.0;
  config.l1_count = 3;
  const LbfgsResult r = minimize_lbfgs(
      [&](const double* x, double* g) {
        double f = 0.0;
        for (std::size_t j = 0; j < a.size(); ++j) {
          f += 0.5 * (x[j] - a[j]) * (x[j] - a[j]);
          g[j] = x[j] - a[j];
        }
        return f;
      },
      {0.5, 0.5, 0.5, 0.5}, config);
  ASSERT_TRUE(r.converged()) << r.reason;
  EXPECT_NEAR(r.x[0], 2.0, 1e-9);
  EXPECT_EQ(r.x[1], 0.0);
  EXPECT_EQ(r.x[2], 0.0);
  EXPECT_NEAR(r.x[3], -2.0, 1e-9);
  // The reported objective includes the L1 term: 1/2 + 0.4^2/2 + 0.9^2/2 + 2.
  EXPECT_NEAR(r.objective, 0.5 + 0.08 + 0.405 + 2.0, 1e-12);
  EXPECT_LE(r.grad_max, 1e-10);  // the pseudo-gradient's max-norm (the gradient's is 0.9 at x_2 = 0)
}

// Pinned against scikit-learn 1.2: StratifiedKFold(3).split(X, y) on this y puts each row's held-out part in
// this fold.
TEST(StratifiedFolds, CutAsScikitLearnsStratifiedKFold) {
  const std::vector<std::uint32_t> y = {2, 0, 2, 1, 1, 0, 2, 2, 1, 0, 2, 2, 1, 0, 0, 2, 1, 2};
  const std::vector<int> expected = {0, 0, 0, 0, 1, 0, 0, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2};
  EXPECT_EQ(stratified_folds(y, 3), expected);
  EXPECT_EQ(fold_rows(expected, 1, true), (std::vector<std::uint32_t>{4, 7, 8, 9, 10, 11}));
  EXPECT_EQ(fold_rows(expected, 1, false).size(), 12u);
}

TEST(StratifiedFolds, RefuseMoreFoldsThanTheSmallestClassHasRows) {
  const std::vector<std::uint32_t> y = {0, 0, 0, 1, 1, 0, 0};
  EXPECT_EQ(stratified_folds(y, 2).size(), 7u);
  try {
    stratified_folds(y, 3);
    FAIL() << "expected a UsageError";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("--cv 3: the smallest class of the training rows has 2 rows"),
              std::string::npos)
        << e.what();
  }
  EXPECT_THROW(stratified_folds(y, 1), UsageError);
}

// Folds whose scores are known: C = 1 and C = 10 tie on the best summed accuracy, and the first of them wins, as
// numpy's argmax; each fold's path is warm-started in the order of the C values.
TEST(CrossValidate, ChoosesTheFirstBestMeanAccuracyAndAveragesTheRefitStart) {
  const std::vector<double> cs = {0.1, 1.0, 10.0};
  const double accuracy[2][3] = {{0.5, 0.75, 0.75}, {0.5, 0.5, 0.5}};
  std::vector<std::vector<double>> starts;
  CvFits fits;
  fits.fit = [&](int k, double C, std::vector<double> x0) {
    starts.push_back(x0);
    LbfgsResult r;
    r.x = {C + k, -C};
    r.iterations = 2;
    r.stop = LbfgsStop::kGradientTol;
    return r;
  };
  fits.score = [&](int k, const std::vector<double>& x) {
    const int j = x[1] == -0.1 ? 0 : x[1] == -1.0 ? 1 : 2;
    return FoldScore{1.0 - accuracy[k][j], accuracy[k][j]};
  };
  const CvResult cv = cross_validate(2, cs, {0.0, 0.0}, fits);
  ASSERT_EQ(cv.points.size(), 3u);
  EXPECT_EQ(cv.best, 1u);
  EXPECT_DOUBLE_EQ(cv.points[1].mean_accuracy, 0.625);
  EXPECT_DOUBLE_EQ(cv.points[0].mean_log_loss, 0.5);
  EXPECT_EQ(cv.points[2].iterations, 4);
  EXPECT_EQ(cv.refit_start, (std::vector<double>{1.5, -1.0}));  // the folds' mean at C = 1
  ASSERT_EQ(starts.size(), 6u);
  EXPECT_EQ(starts[0], (std::vector<double>{0.0, 0.0}));
  EXPECT_EQ(starts[1], (std::vector<double>{0.1, -0.1}));  // warm start from C = 0.1 in fold 0
  EXPECT_EQ(starts[3], (std::vector<double>{0.0, 0.0}));   // fold 1 starts over
}

class PenaltyCli : public ::testing::Test {
 protected:
  void SetUp() override {
    test::WriteSeparableDataDir(dir_, 240, 60, 4, 8, 41, false, [](ImageSet& train, LabelSet&) {
      for (std::size_t k = 0; k < train.pixels.size(); k += 3) train.pixels[k] = static_cast<std::uint8_t>(k % 251);
    });
  }
  std::string Train(const std::string& extra) const {
    return "train --solver lbfgs --eval-every 0 --data " + dir_.path() + " " + extra;
  }
  test::TempDir dir_;
};

TEST_F(PenaltyCli, L1GivesExactZerosAndTheSameFitOnBothCpuBackends) {
  const std::string a = dir_.file("ref.lrm"), b = dir_.file("cpu.lrm");
  const auto ra = RunCli(Train("--device reference --penalty l1 --C 0.05 --tol 1e-5 --max-iter 3000 --save " + a));
  const auto rb = RunCli(Train("--device cpu --penalty l1 --C 0.05 --tol 1e-5 --max-iter 3000 --save " + b));
  ASSERT_EQ(ra.exit_code, 0) << ra.output;
  ASSERT_EQ(rb.exit_code, 0) << rb.output;
  EXPECT_NE(ra.out.find(", penalty l1 (OWL-QN), tol"), std::string::npos) << ra.out;
  const std::regex final_line(R"(Solver: lbfgs\. Iterations: \d+\. Objective: ([0-9.e+-]+)\. .* Converged: yes)");
  std::smatch ma, mb;
  ASSERT_TRUE(std::regex_search(ra.out, ma, final_line)) << ra.out;
  ASSERT_TRUE(std::regex_search(rb.out, mb, final_line)) << rb.out;
  EXPECT_NEAR(std::stod(ma[1]), std::stod(mb[1]), 1e-6);
  const ModelFile fa = load_model_file(a);
  std::size_t zeros = 0;
  for (const float w : fa.model.weights) zeros += w == 0.0f;
  EXPECT_GT(zeros, fa.model.weights.size() / 4) << "an L1 fit at C 0.05 keeps most pixels at exactly 0";
  EXPECT_LT(zeros, fa.model.weights.size());
  const nlohmann::json s = nlohmann::json::parse(fa.settings_json);
  EXPECT_EQ(s["penalty"], "l1");
  EXPECT_FALSE(s.contains("l1_ratio"));
}

TEST_F(PenaltyCli, ElasticNetSitsBetweenL2AndL1) {
  auto zeros_of = [&](const std::string& penalty, const std::string& name) {
    const std::string path = dir_.file(name);
    const auto r = RunCli(Train("--device cpu " + penalty + " --C 0.05 --tol 1e-5 --max-iter 3000 --save " + path));
    EXPECT_EQ(r.exit_code, 0) << r.output;
    std::size_t zeros = 0;
    for (const float w : load_model_file(path).model.weights) zeros += w == 0.0f;
    return zeros;
  };
  const std::size_t l2 = zeros_of("--penalty l2", "l2.lrm");
  const std::size_t en = zeros_of("--penalty elasticnet --l1-ratio 0.5", "en.lrm");
  const std::size_t l1 = zeros_of("--penalty l1", "l1.lrm");
  EXPECT_LT(l2, en);
  EXPECT_LE(en, l1);
}

TEST_F(PenaltyCli, CrossValidationPrintsItsTableAndRefits) {
  const std::string path = dir_.file("cv.lrm");
  const auto r = RunCli(Train("--device cpu --C 0.001,1 --cv 3 --tol 1e-5 --max-iter 300 --save " + path));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.out.find("Cross-validation over 3 stratified folds"), std::string::npos) << r.out;
  const std::regex row(R"(  (0\.001|1) +[0-9.]+ +[0-9.]+ +\d+ +(yes|no)(   <- chosen)?)");
  std::size_t rows = 0;
  for (std::sregex_iterator it(r.out.begin(), r.out.end(), row), end; it != end; ++it) ++rows;
  EXPECT_EQ(rows, 2u) << r.out;
  EXPECT_NE(r.out.find("refitting on all 240 training rows"), std::string::npos) << r.out;
  const nlohmann::json s = nlohmann::json::parse(load_model_file(path).settings_json);
  EXPECT_EQ(s["cv"], 3);
  ASSERT_EQ(s["cross_validation"]["path"].size(), 2u);
  EXPECT_EQ(s["cross_validation"]["path"][0]["fold_accuracy"].size(), 3u);
  EXPECT_EQ(s["fit_rows"], 240);
  const double acc0 = s["cross_validation"]["path"][0]["val_accuracy"], acc1 = s["cross_validation"]["path"][1]["val_accuracy"];
  EXPECT_EQ(s["C_chosen"].get<double>(), acc1 > acc0 ? 1.0 : 0.001);
}

TEST_F(PenaltyCli, NoneIgnoresCAndSaysSo) {
  const auto r = RunCli(Train("--device reference --penalty none --C 0.01 --max-iter 5"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.err.find("--C 0.01 is ignored with --penalty none"), std::string::npos) << r.err;
  const auto inf = RunCli(Train("--device reference --C inf --max-iter 5"));
  ASSERT_EQ(inf.exit_code, 0) << inf.output;
  const std::regex final_line(R"(Solver: lbfgs\. Iterations: 5\. Objective: ([0-9.e+-]+)\.)");
  std::smatch a, b;
  ASSERT_TRUE(std::regex_search(r.out, a, final_line)) << r.out;
  ASSERT_TRUE(std::regex_search(inf.out, b, final_line)) << inf.out;
  EXPECT_EQ(a[1], b[1]);  // --penalty none is C = inf
}

TEST_F(PenaltyCli, MisplacedOptionsAreRefusedByName) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"--penalty elasticnet", "--penalty elasticnet needs --l1-ratio"},
      {"--l1-ratio 0.5", "--l1-ratio applies to --penalty elasticnet only"},
      {"--penalty elasticnet --l1-ratio 1.5", "--l1-ratio"},
      {"--penalty none --C 0.1,1 --cv 2", "--penalty none has no C to choose"},
      {"--C 0.1,1 --cv 1", "--cv 1: needs K >= 2"},
      {"--C 1 --cv 3", "--cv 3 chooses among several --C values"},
      {"--C 0.1,1 --cv 3 --val-split 0.2", "--cv and --val-split both choose C"},
      {"--C 0.1,1 --cv 200", "--cv 200: the smallest class of the training rows has"},
  };
  for (const auto& [flags, message] : cases) {
    const auto r = RunCli(Train("--device cpu " + flags));
    EXPECT_EQ(r.exit_code, 2) << flags << "\n" << r.output;
    EXPECT_NE(r.err.find(message), std::string::npos) << flags << "\n" << r.err;
  }
  const auto newton = RunCli("train --device cpu --solver newton-cg --penalty l1 --data " + dir_.path());
  EXPECT_EQ(newton.exit_code, 2) << newton.output;
  EXPECT_NE(newton.err.find("--penalty l1: the L1 and elastic-net penalties run on --solver lbfgs only (OWL-QN), not "
                            "--solver newton-cg"),
            std::string::npos)
      << newton.err;
  const auto sgd = RunCli("train --device cpu --epochs 1 --penalty l1 --data " + dir_.path());
  EXPECT_EQ(sgd.exit_code, 2) << sgd.output;
  EXPECT_NE(sgd.err.find("--penalty applies to --solver lbfgs or newton-cg only, not --solver sgd"), std::string::npos)
      << sgd.err;
}

}  // namespace
}  // namespace logreg
