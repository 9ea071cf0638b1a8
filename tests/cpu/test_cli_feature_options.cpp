// The run options of `train --data FILE` that follow the IDX path's rules: --limit-train (the first N rows, on an
// .npz and on an svmlight file, the same model as a file of those rows), --val-split (the IDX split, seed for
// seed: a uint8 .npz's SGD run gives the IDX run's validation scores and weights; the full-batch path chooses C
// on the held-out rows as single-C fits score them, and refits), --resume (2 + 2 epochs give the weights of 4, bit
// for bit, with momentum, on both CPU devices) and --init (a fit from its own optimum stays there), and the
// refusals of a start model that does not fit the run.
#include <gtest/gtest.h>

#include <cmath>
#include <regex>
#include <string>
#include <vector>

#include "cli_runner.hpp"
#include "feature_files.hpp"
#include "logreg/model_file.hpp"
#include "test_support.hpp"

namespace logreg {
namespace {

using test::NpzBytes;
using test::RawBytes;
using test::RunCli;
using test::WriteText;

class FeatureOptions : public ::testing::Test {
 protected:
  void SetUp() override {
    test::SeparableSet(300, 3, 6, 41, &train_, &train_labels_);
    test::SeparableSet(60, 3, 6, 42, &test_, &test_labels_);
    WriteNpz("f.npz", 300);
    WriteNpz("f120.npz", 120);
    WriteSvm("f.svm", 300);
    WriteSvm("f120.svm", 120);
  }
  // The first `rows` training rows as float64 features (pixels / 10) with labels -5, 5, 15, and the test split.
  void WriteNpz(const std::string& name, std::size_t rows) {
    std::vector<double> x(rows * 36);
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = train_.pixels[i] / 10.0;
    std::vector<double> tx(test_.pixels.size());
    for (std::size_t i = 0; i < tx.size(); ++i) tx[i] = test_.pixels[i] / 10.0;
    WriteText(dir_.file(name), NpzBytes({{"x_train", "<f8", {rows, 36}, RawBytes(x)},
                                         {"y_train", "<i8", {rows}, RawBytes(Labels(train_labels_, rows))},
                                         {"x_test", "<f8", {60, 36}, RawBytes(tx)},
                                         {"y_test", "<i8", {60}, RawBytes(Labels(test_labels_, 60))}},
                                        false));
  }
  // The same rows as svmlight (1-based; every row names its last feature, so any first rows have the width 36).
  void WriteSvm(const std::string& name, std::size_t rows) {
    std::string text;
    for (std::size_t i = 0; i < rows; ++i) {
      text += std::to_string(10 * train_labels_.labels[i] - 5);
      for (std::size_t d = 0; d < 36; ++d) {
        const int p = train_.pixels[i * 36 + d];
        if (p != 0 || d == 35) text += " " + std::to_string(d + 1) + ":" + std::to_string(p / 10.0);
      }
      text += "\n";
    }
    WriteText(dir_.file(name), text);
  }
  static std::vector<std::int64_t> Labels(const LabelSet& l, std::size_t rows) {
    std::vector<std::int64_t> v(rows);
    for (std::size_t i = 0; i < rows; ++i) v[i] = 10 * l.labels[i] - 5;
    return v;
  }
  ModelFile Load(const std::string& name) const { return load_model_file(dir_.file(name)); }
  ImageSet train_, test_;
  LabelSet train_labels_, test_labels_;
  test::TempDir dir_;
};

TEST_F(FeatureOptions, LimitTrainFitsTheFirstRowsOfNpzAndSvmlight) {
  for (const std::string ext : {"npz", "svm"}) {
    const std::string common = " --solver lbfgs --device reference --tol 1e-6 --eval-every 0";
    const auto limited = RunCli("train --data " + dir_.file("f." + ext) + " --limit-train 120" + common + " --save " +
                                dir_.file("lim.lrm"));
    const auto first = RunCli("train --data " + dir_.file("f120." + ext) + common + " --save " + dir_.file("first.lrm"));
    ASSERT_EQ(limited.exit_code, 0) << limited.output;
    ASSERT_EQ(first.exit_code, 0) << first.output;
    EXPECT_NE(limited.out.find("120 training rows (--limit-train: the first 120 of 300)"), std::string::npos) << limited.out;
    EXPECT_EQ(Load("lim.lrm").model.weights, Load("first.lrm").model.weights) << ext;
    EXPECT_EQ(Load("lim.lrm").model.bias, Load("first.lrm").model.bias) << ext;
    // SGD on the same rows: the same epochs as on the file of those rows.
    const auto sgd = RunCli("train --data " + dir_.file("f." + ext) + " --limit-train 120 --epochs 2 --device cpu --save " +
                            dir_.file("sgd_lim.lrm"));
    const auto sgd_first = RunCli("train --data " + dir_.file("f120." + ext) + " --epochs 2 --device cpu --save " +
                                  dir_.file("sgd_first.lrm"));
    ASSERT_EQ(sgd.exit_code, 0) << sgd.output;
    ASSERT_EQ(sgd_first.exit_code, 0) << sgd_first.output;
    EXPECT_EQ(Load("sgd_lim.lrm").model.weights, Load("sgd_first.lrm").model.weights) << ext;
  }
  // Rows of one class only: the IDX path's class check, naming the labels.
  std::string one_class;
  for (int i = 0; i < 4; ++i) one_class += "3 1:1\n";
  WriteText(dir_.file("one.svm"), one_class + "4 2:1\n");
  const auto r = RunCli("train --solver lbfgs --data " + dir_.file("one.svm") + " --limit-train 4");
  EXPECT_EQ(r.exit_code, 3) << r.output;
  EXPECT_NE(r.err.find("the 4 training rows fitted (--limit-train 4) are all of class 3"), std::string::npos) << r.err;
  const auto range = RunCli("train --data " + dir_.file("f.npz") + " --limit-train -1");
  EXPECT_EQ(range.exit_code, 2) << range.output;
  EXPECT_NE(range.err.find("--limit-train"), std::string::npos) << range.err;
}

// A uint8 .npz trains on the IDX pixel engines: with --val-split its SGD run holds out the IDX run's rows, so the
// epoch lines' validation scores and the weights are the IDX run's.
TEST_F(FeatureOptions, ValSplitOfSgdHoldsOutTheIdxRows) {
  test::WriteDataDir(dir_, train_, train_labels_, test_, test_labels_);
  WriteText(dir_.file("u8.npz"), NpzBytes({{"x_train", "|u1", {300, 6, 6}, RawBytes(train_.pixels)},
                                           {"y_train", "|u1", {300}, RawBytes(train_labels_.labels)},
                                           {"x_test", "|u1", {60, 6, 6}, RawBytes(test_.pixels)},
                                           {"y_test", "|u1", {60}, RawBytes(test_labels_.labels)}},
                                          false));
  const std::string common = " --device reference --epochs 3 --lr 0.05 --val-split 0.2 --seed 7";
  const auto idx = RunCli("train --data " + dir_.path() + common + " --save " + dir_.file("idx.lrm"));
  const auto npz = RunCli("train --data " + dir_.file("u8.npz") + common + " --save " + dir_.file("npz.lrm") +
                          " --metrics " + dir_.file("m.csv"));
  ASSERT_EQ(idx.exit_code, 0) << idx.output;
  ASSERT_EQ(npz.exit_code, 0) << npz.output;
  EXPECT_NE(npz.out.find("240 training rows, 60 validation rows"), std::string::npos) << npz.out;
  const std::regex val(R"(Val loss: ([0-9.]+)\. Val accuracy: ([0-9.]+))");
  std::vector<std::string> a, b;
  for (std::sregex_iterator it(idx.out.begin(), idx.out.end(), val), end; it != end; ++it) a.push_back((*it)[0]);
  for (std::sregex_iterator it(npz.out.begin(), npz.out.end(), val), end; it != end; ++it) b.push_back((*it)[0]);
  ASSERT_EQ(a.size(), 3u) << idx.out;
  EXPECT_EQ(a, b) << npz.out;
  EXPECT_EQ(Load("idx.lrm").model.weights, Load("npz.lrm").model.weights);
  const std::string csv = test::ReadAll(dir_.file("m.csv"));
  EXPECT_NE(csv.find("val_loss"), std::string::npos) << csv;

  const auto early = RunCli("train --data " + dir_.file("f.npz") + " --val-split 0.001 --early-stop 2");
  EXPECT_EQ(early.exit_code, 2) << early.output;
  EXPECT_NE(early.err.find("--early-stop needs validation rows, but --val-split 0.001 of 300 training rows rounds to 0"),
            std::string::npos) << early.err;
}

// Several --C with --val-split: the C whose fit scores best on the held-out rows (each single-C fit with the same
// split reports that score), then the refit on all training rows (the single fit on all rows at that C).
TEST_F(FeatureOptions, ValSplitChoosesCOnTheHeldOutRowsAndRefits) {
  for (const std::string ext : {"npz", "svm"}) {
    const std::string data = " --data " + dir_.file("f." + ext) + " --solver lbfgs --device cpu --tol 1e-7 --eval-every 0";
    const std::vector<std::string> cs = {"0.001", "0.03", "1"};
    const std::regex held(R"(Validation: loss [0-9.]+, accuracy ([0-9.]+) on the 75 held-out rows)");
    std::string best;
    double best_accuracy = -1.0;
    for (const std::string& c : cs) {
      const auto one = RunCli("train" + data + " --val-split 0.25 --seed 3 --C " + c);
      ASSERT_EQ(one.exit_code, 0) << one.output;
      std::smatch m;
      ASSERT_TRUE(std::regex_search(one.out, m, held)) << one.out;
      if (std::stod(m[1]) > best_accuracy) {
        best_accuracy = std::stod(m[1]);
        best = c;
      }
    }
    const auto path = RunCli("train" + data + " --val-split 0.25 --seed 3 --C 0.001,0.03,1 --save " + dir_.file("p.lrm"));
    ASSERT_EQ(path.exit_code, 0) << path.output;
    char chosen[64];
    std::snprintf(chosen, sizeof chosen, "Best C: %g (validation accuracy %.2f); refitting on all 300 training rows",
                  std::stod(best), best_accuracy);
    EXPECT_NE(path.out.find(chosen), std::string::npos) << ext << "\n" << path.out;
    const ModelFile mf = Load("p.lrm");
    EXPECT_NE(mf.settings_json.find("\"fit_rows\":300"), std::string::npos) << mf.settings_json;
    // The refit: the objective of the fit on all 300 rows at that C.
    const auto all = RunCli("train" + data + " --C " + best);
    ASSERT_EQ(all.exit_code, 0) << all.output;
    const std::regex objective(R"(Solver: lbfgs\. Iterations: \d+\. Objective: ([0-9.e+-]+))");
    std::smatch mp, ma;
    ASSERT_TRUE(std::regex_search(path.out, mp, objective)) << path.out;
    ASSERT_TRUE(std::regex_search(all.out, ma, objective)) << all.out;
    EXPECT_NEAR(std::stod(mp[1]), std::stod(ma[1]), 1e-6 * std::stod(ma[1])) << ext;
  }
}

TEST_F(FeatureOptions, ResumedSgdEqualsTheStraightRunBitForBit) {
  for (const std::string ext : {"npz", "svm"}) {
    for (const std::string device : {"cpu", "reference"}) {
      const std::string common = "train --data " + dir_.file("f." + ext) + " --device " + device +
                                 " --lr 0.001 --momentum 0.9 --val-split 0.2 --seed 5";
      const auto straight = RunCli(common + " --epochs 4 --save " + dir_.file("s.lrm"));
      const auto half = RunCli(common + " --epochs 2 --save " + dir_.file("r.lrm"));
      ASSERT_EQ(straight.exit_code, 0) << straight.output;
      ASSERT_EQ(half.exit_code, 0) << half.output;
      // Only --data, --device (not a setting of the trajectory), --epochs and the outputs given: the rest comes from
      // the saved run.
      const auto rest = RunCli("train --data " + dir_.file("f." + ext) + " --device " + device + " --resume " +
                               dir_.file("r.lrm") + " --epochs 4 --save " + dir_.file("r.lrm"));
      ASSERT_EQ(rest.exit_code, 0) << rest.output;
      EXPECT_NE(rest.out.find("Resuming " + dir_.file("r.lrm") + " after epoch 2"), std::string::npos) << rest.out;
      EXPECT_EQ(rest.out.find("Epoch: 1."), std::string::npos) << rest.out;
      const ModelFile a = Load("s.lrm"), b = Load("r.lrm");
      EXPECT_EQ(b.epochs_done, 4u);
      EXPECT_EQ(a.model.weights, b.model.weights) << ext << " " << device;
      EXPECT_EQ(a.model.bias, b.model.bias) << ext << " " << device;
      EXPECT_EQ(a.optimizer_state, b.optimizer_state) << ext << " " << device;
    }
  }
}

TEST_F(FeatureOptions, InitStartsTheFitFromAModel) {
  const std::string common = "train --data " + dir_.file("f.npz") + " --solver lbfgs --device cpu --C 0.1 --tol 1e-6";
  const auto fit = RunCli(common + " --save " + dir_.file("opt.lrm"));
  ASSERT_EQ(fit.exit_code, 0) << fit.output;
  const auto again = RunCli(common + " --init " + dir_.file("opt.lrm") + " --save " + dir_.file("again.lrm"));
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_NE(again.out.find("Initial weights from " + dir_.file("opt.lrm")), std::string::npos) << again.out;
  const std::regex final_line(R"(Solver: lbfgs\. Iterations: (\d+)\. Objective: ([0-9.e+-]+))");
  std::smatch a, b;
  ASSERT_TRUE(std::regex_search(fit.out, a, final_line)) << fit.out;
  ASSERT_TRUE(std::regex_search(again.out, b, final_line)) << again.out;
  EXPECT_LT(std::stoi(b[1]), std::stoi(a[1])) << again.out;  // it starts near the optimum (float32 weights)
  EXPECT_NEAR(std::stod(b[2]), std::stod(a[2]), 1e-6 * std::stod(a[2]));
  // SGD from the L-BFGS model: its first epoch starts at the optimum, so its loss is near the optimum's.
  const auto sgd = RunCli("train --data " + dir_.file("f.npz") +
                          " --epochs 1 --lr 0.0001 --init " + dir_.file("opt.lrm"));
  ASSERT_EQ(sgd.exit_code, 0) << sgd.output;
  EXPECT_NE(sgd.out.find("Initial weights from"), std::string::npos) << sgd.out;
}

TEST_F(FeatureOptions, StartModelsThatDoNotFitTheRunAreRefused) {
  const std::string npz = " --data " + dir_.file("f.npz");
  ASSERT_EQ(RunCli("train --solver lbfgs" + npz + " --save " + dir_.file("l.lrm")).exit_code, 0);
  ASSERT_EQ(RunCli("train --epochs 1" + npz + " --save " + dir_.file("s.lrm")).exit_code, 0);
  ASSERT_EQ(RunCli("train --epochs 1 --no-intercept" + npz + " --save " + dir_.file("ni.lrm")).exit_code, 0);
  ASSERT_EQ(RunCli("train --epochs 1 --standardize" + npz + " --save " + dir_.file("std.lrm")).exit_code, 0);
  ASSERT_EQ(RunCli("train --epochs 1 --data " + dir_.file("f120.npz") + " --standardize --save " + dir_.file("std120.lrm"))
                .exit_code, 0);
  WriteText(dir_.file("other.svm"), "1 1:1\n2 2:1\n");
  WriteText(dir_.file("wide.svm"), "-5 1:1\n5 40:1\n15 2:1\n");
  struct Case {
    std::string args;
    int exit_code;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"train --data " + dir_.file("other.svm") + " --init " + dir_.file("s.lrm"), 3,
       "--init: class labels: the model's are -5 5 15, " + dir_.file("other.svm") + " has 1 2"},
      {"train --data " + dir_.file("wide.svm") + " --init " + dir_.file("s.lrm"), 3, "--init: features: the model takes 36, "},
      {"train" + npz + " --no-intercept --init " + dir_.file("s.lrm"), 3, "--init: intercept: the model was fitted with an"},
      {"train" + npz + " --init " + dir_.file("ni.lrm"), 3, "--init: intercept: the model was fitted without an intercept (--no-intercept)"},
      {"train" + npz + " --init " + dir_.file("std.lrm"), 3, "--init: standardisation: the model was trained with --standardize"},
      {"train" + npz + " --standardize --init " + dir_.file("std120.lrm"), 3,
       "--init: standardisation: the model's scaler is not the one this run fits on its 300 training rows"},
      {"train" + npz + " --epochs 3 --resume " + dir_.file("l.lrm"), 2, "start SGD from its weights: train --data FILE --init"},
      {"train --epochs 3 --resume " + dir_.file("s.lrm"), 2,
       "the model was trained on a feature file (" + dir_.file("f.npz") + ") (it holds class labels); give that file"},
      {"train" + npz + " --resume " + dir_.file("s.lrm"), 2, "its run has 1 epochs done and trains to --epochs 1"},
      {"train --solver lbfgs" + npz + " --resume " + dir_.file("s.lrm"), 2, "--resume applies to --solver sgd only"},
      {"train" + npz + " --val-split 0.2 --cv 3 --solver lbfgs --C 1,2", 2, "--cv and --val-split both choose C"},
  };
  for (const Case& c : cases) {
    const auto r = RunCli(c.args);
    EXPECT_EQ(r.exit_code, c.exit_code) << c.args << "\n" << r.output;
    EXPECT_NE(r.err.find(c.message), std::string::npos) << c.args << "\n" << r.err;
  }
}

}  // namespace
}  // namespace logreg
