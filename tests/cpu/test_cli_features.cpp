// The CLI on feature files (.npz and svmlight): info, train --solver lbfgs on both CPU backends, --save with the
// class labels, eval and predict; --standardize's scaler kept and applied; a uint8 .npz trains to the very
// weights of the same images as IDX files; the refusals and bad-data exits; a weighted Newton-CG fit without
// intercept and its flags' refusals.
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

const std::regex kFeatureFinal(
    R"(Solver: lbfgs\. Iterations: (\d+)\. Objective: ([0-9.e+-]+)\. Gradient: ([0-9.e+-]+)\. Converged: (yes|no) \((.+)\)\. Accuracy: ([0-9.]+)\.)");

class FeatureCli : public ::testing::Test {
 protected:
  void SetUp() override {
    test::SeparableSet(300, 3, 6, 41, &train_, &train_labels_);
    test::SeparableSet(60, 3, 6, 42, &test_, &test_labels_);
    // Labels -5, 5, 15 (not 0..C-1), float64 features (pixels / 10), train and test splits.
    auto floats = [](const ImageSet& s) {
      std::vector<double> v(s.pixels.size());
      for (std::size_t i = 0; i < v.size(); ++i) v[i] = s.pixels[i] / 10.0;
      return RawBytes(v);
    };
    auto labels = [](const LabelSet& l) {
      std::vector<std::int64_t> v(l.labels.size());
      for (std::size_t i = 0; i < v.size(); ++i) v[i] = 10 * l.labels[i] - 5;
      return RawBytes(v);
    };
    WriteText(dir_.file("f.npz"), NpzBytes({{"x_train", "<f8", {300, 36}, floats(train_)},
                                            {"y_train", "<i8", {300}, labels(train_labels_)},
                                            {"x_test", "<f8", {60, 36}, floats(test_)},
                                            {"y_test", "<i8", {60}, labels(test_labels_)}},
                                           true));
  }
  std::string Npz() const { return dir_.file("f.npz"); }
  ImageSet train_, test_;
  LabelSet train_labels_, test_labels_;
  test::TempDir dir_;
};

TEST_F(FeatureCli, InfoCountsAndLabels) {
  const auto r = RunCli("info --data " + Npz());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.out.find("training rows: 300  (dense float64 [300, 36])"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("test rows:     60"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("classes: 3 (labels -5 5 15, in this order)"), std::string::npos) << r.out;
  std::size_t count0 = 0;
  for (const std::uint8_t l : train_labels_.labels) count0 += l == 0;
  EXPECT_NE(r.out.find("      0             -5 " + std::string(8 - std::to_string(count0).size(), ' ') + std::to_string(count0)),
            std::string::npos) << r.out;
}

TEST_F(FeatureCli, TrainSavesTheLabelsAndBothBackendsAgree) {
  const std::string common = "train --solver lbfgs --tol 1e-6 --max-iter 300 --data " + Npz();
  const auto ref = RunCli(common + " --device reference --save " + dir_.file("ref.lrm"));
  const auto cpu = RunCli(common + " --device cpu --save " + dir_.file("cpu.lrm"));
  const auto again = RunCli(common + " --device cpu --save " + dir_.file("cpu2.lrm"));
  ASSERT_EQ(ref.exit_code, 0) << ref.output;
  ASSERT_EQ(cpu.exit_code, 0) << cpu.output;
  std::smatch mr, mc;
  ASSERT_TRUE(std::regex_search(ref.out, mr, kFeatureFinal)) << ref.out;
  ASSERT_TRUE(std::regex_search(cpu.out, mc, kFeatureFinal)) << cpu.out;
  EXPECT_EQ(mr[4], "yes") << mr[5];
  EXPECT_NEAR(std::stod(mc[2]), std::stod(mr[2]), 1e-8 * std::stod(mr[2]));
  EXPECT_GE(std::stod(mr[6]), 95.0);
  const ModelFile mf = load_model_file(dir_.file("ref.lrm"));
  EXPECT_EQ(mf.class_labels, (std::vector<std::int64_t>{-5, 5, 15}));
  EXPECT_EQ(mf.rows, 1u);
  EXPECT_EQ(mf.cols, 36u);
  EXPECT_EQ(mf.pixel_scale, 1.0f);
  // The cpu backend's 8 parts are fixed: a rerun writes the same weights.
  EXPECT_EQ(load_model_file(dir_.file("cpu.lrm")).model.weights, load_model_file(dir_.file("cpu2.lrm")).model.weights);

  const auto eval = RunCli("eval --model " + dir_.file("ref.lrm") + " --data " + Npz());
  ASSERT_EQ(eval.exit_code, 0) << eval.output;
  EXPECT_NE(eval.out.find("(its test split, x_test): 60 rows of 36 features"), std::string::npos) << eval.out;
  EXPECT_NE(eval.out.find("Accuracy: " + mr[6].str() + "%"), std::string::npos) << eval.out << mr[6];
  const auto onnx = RunCli("export --model " + dir_.file("ref.lrm") + " --format onnx --out " + dir_.file("m.onnx"));
  EXPECT_EQ(onnx.exit_code, 0) << onnx.output;  // a float model's graph takes its features as they are
  const auto pred = RunCli("predict --model " + dir_.file("ref.lrm") + " --images " + Npz() + " --index 0 --top-k 1");
  ASSERT_EQ(pred.exit_code, 0) << pred.output;
  const std::string want = std::to_string(10 * test_labels_.labels[0] - 5);
  EXPECT_EQ(pred.out.substr(0, pred.out.find('\n')), "index,predicted,top1_class,top1_prob");
  EXPECT_EQ(pred.out.find("0," + want + "," + want + ","), pred.out.find('\n') + 1) << pred.out;
}

TEST_F(FeatureCli, Uint8NpzTrainsToTheWeightsOfTheSameImagesAsIdx) {
  test::WriteDataDir(dir_, train_, train_labels_, test_, test_labels_);
  WriteText(dir_.file("u8.npz"),
            NpzBytes({{"x_train", "|u1", {300, 6, 6}, RawBytes(train_.pixels)},
                      {"y_train", "|u1", {300}, RawBytes(train_labels_.labels)},
                      {"x_test", "|u1", {60, 6, 6}, RawBytes(test_.pixels)},
                      {"y_test", "|u1", {60}, RawBytes(test_labels_.labels)}},
                     false));
  const std::string common = " --device reference --solver lbfgs --tol 1e-6 --max-iter 50";
  const auto idx = RunCli("train --data " + dir_.path() + common + " --save " + dir_.file("idx.lrm"));
  const auto npz = RunCli("train --data " + dir_.file("u8.npz") + common + " --save " + dir_.file("npz.lrm"));
  ASSERT_EQ(idx.exit_code, 0) << idx.output;
  ASSERT_EQ(npz.exit_code, 0) << npz.output;
  const ModelFile a = load_model_file(dir_.file("idx.lrm")), b = load_model_file(dir_.file("npz.lrm"));
  EXPECT_EQ(a.model.weights, b.model.weights);
  EXPECT_EQ(a.model.bias, b.model.bias);
  EXPECT_TRUE(a.class_labels.empty());
  EXPECT_EQ(b.class_labels, (std::vector<std::int64_t>{0, 1, 2}));
  EXPECT_EQ(b.pixel_scale, kModelFilePixelScale);
}

TEST_F(FeatureCli, SvmlightTrainEvalPredict) {
  WriteText(dir_.file("a.svm"), "# 1-based\n2 1:1 3:0.5\n7 2:1\n2 1:0.8\n7 2:0.9 3:0.1\n2 1:1.2 2:0.1\n7 2:1.1\n");
  WriteText(dir_.file("b.svm"), "7 2:1\n2 1:1\n");
  const auto r = RunCli("train --solver lbfgs --device cpu --data " + dir_.file("a.svm") + " --test-data " +
                        dir_.file("b.svm") + " --save " + dir_.file("s.lrm"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.out.find("6 training rows, 2 test rows, 2 classes (labels 2 7), 3 features (csr float64)"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("Accuracy: 100.00."), std::string::npos) << r.out;
  const auto p = RunCli("predict --model " + dir_.file("s.lrm") + " --images " + dir_.file("b.svm") + " --all");
  ASSERT_EQ(p.exit_code, 0) << p.output;
  EXPECT_EQ(p.out.substr(0, p.out.find('\n')), "index,predicted,p2,p7");
  EXPECT_EQ(p.out.find("0,7,"), p.out.find('\n') + 1) << p.out;
  // The model keeps its training file's index base: a 1-based model refuses a file that writes index 0, and a
  // 0-based model reads a file without index 0 as 0-based (judged alone, it would be 1-based, shifted by one).
  WriteText(dir_.file("c0.svm"), "7 0:1\n");
  const auto base1 = RunCli("eval --model " + dir_.file("s.lrm") + " --data " + dir_.file("c0.svm"));
  EXPECT_EQ(base1.exit_code, 3) << base1.output;
  EXPECT_NE(base1.err.find("writes feature index 0, but the model was trained on 1-based indices"), std::string::npos)
      << base1.err;
  WriteText(dir_.file("z.svm"), "2 0:1\n7 1:1\n2 0:1.1\n7 1:0.9\n");
  WriteText(dir_.file("q.svm"), "7 1:1\n");
  ASSERT_EQ(RunCli("train --solver lbfgs --data " + dir_.file("z.svm") + " --save " + dir_.file("z.lrm")).exit_code, 0);
  const auto zero = RunCli("predict --model " + dir_.file("z.lrm") + " --images " + dir_.file("q.svm") + " --index 0");
  ASSERT_EQ(zero.exit_code, 0) << zero.output;
  EXPECT_EQ(zero.out.find("0,7,"), zero.out.find('\n') + 1) << zero.out;
  WriteText(dir_.file("c.svm"), "3 1:1\n");
  const auto bad_label = RunCli("eval --model " + dir_.file("s.lrm") + " --data " + dir_.file("c.svm"));
  EXPECT_EQ(bad_label.exit_code, 3) << bad_label.output;
  EXPECT_NE(bad_label.err.find("label at row 0 is 3, which is not one of the model's 2 classes"), std::string::npos)
      << bad_label.err;
}

TEST_F(FeatureCli, StandardizeKeepsTheScalerAndEvalAndPredictApplyIt) {
  const auto r = RunCli("train --solver lbfgs --tol 1e-6 --max-iter 300 --device reference --standardize --data " + Npz() +
                        " --save " + dir_.file("std.lrm"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.out.find("standardised: each feature centred and divided by its standard deviation"), std::string::npos)
      << r.out;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.out, m, kFeatureFinal)) << r.out;
  const ModelFile mf = load_model_file(dir_.file("std.lrm"));
  ASSERT_EQ(mf.scaler.mean.size(), 36u);
  // Feature 0 of the training rows, as the model reads them (pixels / 10): its mean and population deviation.
  double sum = 0.0, squares = 0.0;
  for (std::size_t i = 0; i < 300; ++i) sum += train_.pixels[i * 36] / 10.0;
  for (std::size_t i = 0; i < 300; ++i) squares += std::pow(train_.pixels[i * 36] / 10.0 - sum / 300, 2);
  EXPECT_NEAR(mf.scaler.mean[0], sum / 300, 1e-12);
  EXPECT_NEAR(mf.scaler.scale[0], std::sqrt(squares / 300), 1e-12);
  EXPECT_NE(mf.settings_json.find(R"("standardize":"mean and scale")"), std::string::npos) << mf.settings_json;
  // eval standardises the test rows as training did: the accuracy train printed.
  const auto eval = RunCli("eval --model " + dir_.file("std.lrm") + " --data " + Npz());
  ASSERT_EQ(eval.exit_code, 0) << eval.output;
  EXPECT_NE(eval.out.find("Accuracy: " + m[6].str() + "%"), std::string::npos) << eval.out << m[6];
  const auto pred = RunCli("predict --model " + dir_.file("std.lrm") + " --images " + Npz() + " --index 0 --output class");
  ASSERT_EQ(pred.exit_code, 0) << pred.output;
  EXPECT_EQ(pred.out, "index,predicted\n0," + std::to_string(10 * test_labels_.labels[0] - 5) + "\n");

  const auto idx = RunCli("train --solver lbfgs --standardize --data " + dir_.path());
  EXPECT_EQ(idx.exit_code, 2);
  EXPECT_NE(idx.err.find("--standardize applies to --data FILE"), std::string::npos) << idx.err;
  const auto top =
      RunCli("predict --model " + dir_.file("std.lrm") + " --images " + Npz() + " --all --output class --top-k 2");
  EXPECT_EQ(top.exit_code, 2);
  EXPECT_NE(top.err.find("--top-k ranks probabilities or logits"), std::string::npos) << top.err;
}

TEST_F(FeatureCli, RefusalsAndBadData) {
  const auto cuda = RunCli("train --solver newton-cg --device cuda --data " + Npz());
  EXPECT_EQ(cuda.exit_code, 2);
  EXPECT_NE(cuda.err.find("--solver newton-cg runs on --device cpu or reference"),
            std::string::npos) << cuda.err;
  const auto metrics = RunCli("train --solver lbfgs --data " + Npz() + " --metrics " + dir_.file("m.csv"));
  EXPECT_EQ(metrics.exit_code, 2);
  EXPECT_NE(metrics.err.find("--metrics with --data FILE (an .npz or svmlight file): records SGD epochs"),
            std::string::npos) << metrics.err;
  const auto both = RunCli("train --solver lbfgs --data " + Npz() + " --test-data " + Npz());
  EXPECT_EQ(both.exit_code, 3);
  EXPECT_NE(both.err.find("holds x_test and y_test, and --test-data"), std::string::npos) << both.err;
  const auto idx_test = RunCli("info --data " + dir_.path() + " --test-data " + Npz());
  EXPECT_EQ(idx_test.exit_code, 2);
  const auto show = RunCli("show --data " + Npz());
  EXPECT_EQ(show.exit_code, 2);
  EXPECT_NE(show.err.find("describe it with info --data"), std::string::npos) << show.err;
  WriteText(dir_.file("bad.npz"), std::string("PK\x03\x04 not really a zip"));
  const auto bad = RunCli("info --data " + dir_.file("bad.npz"));
  EXPECT_EQ(bad.exit_code, 3);
  EXPECT_NE(bad.err.find(dir_.file("bad.npz") + ": not a zip archive"), std::string::npos) << bad.err;
}

// --sample-weight, --class-weight and --no-intercept: a weighted Newton-CG fit on both devices, and each flag's
// refusals and bad files named with their exit codes.
TEST_F(FeatureCli, WeightsAndNoIntercept) {
  std::vector<double> w(300);
  for (std::size_t i = 0; i < w.size(); ++i) w[i] = 0.5 + static_cast<double>(i % 3);
  WriteText(dir_.file("w.npy"), npy_bytes("<f8", {300}, RawBytes(w)));
  WriteText(dir_.file("cw.txt"), "# label weight\n15 2\n-5 0.5\n");
  const std::string common = "train --solver newton-cg --tol 1e-8 --eval-every 0 --data " + Npz() + " --sample-weight " +
                             dir_.file("w.npy") + " --class-weight " + dir_.file("cw.txt") + " --no-intercept";
  const auto ref = RunCli(common + " --device reference");
  const auto cpu = RunCli(common + " --device cpu");
  ASSERT_EQ(ref.exit_code, 0) << ref.output;
  ASSERT_EQ(cpu.exit_code, 0) << cpu.output;
  const std::regex final_line(R"(Solver: newton-cg\. Iterations: \d+\. Objective: ([0-9.e+-]+)\..*Converged: yes)");
  std::smatch a, b;
  ASSERT_TRUE(std::regex_search(ref.output, a, final_line)) << ref.output;
  ASSERT_TRUE(std::regex_search(cpu.output, b, final_line)) << cpu.output;
  EXPECT_NEAR(std::stod(a[1]), std::stod(b[1]), 1e-9 * std::stod(a[1]));

  const auto sgd = RunCli("train --data " + dir_.path() + " --class-weight balanced");
  EXPECT_EQ(sgd.exit_code, 2);
  EXPECT_NE(sgd.err.find("--class-weight applies to --data FILE"), std::string::npos) << sgd.err;
  const auto idx = RunCli("train --solver lbfgs --data " + dir_.path() + " --no-intercept");
  EXPECT_EQ(idx.exit_code, 2);
  EXPECT_NE(idx.err.find("--no-intercept applies to --data FILE"), std::string::npos) << idx.err;
  WriteText(dir_.file("short.npy"), npy_bytes("<f8", {2}, RawBytes(std::vector<double>{1.0, 2.0})));
  const auto shorter = RunCli("train --solver lbfgs --data " + Npz() + " --sample-weight " + dir_.file("short.npy"));
  EXPECT_EQ(shorter.exit_code, 3);
  EXPECT_NE(shorter.err.find("holds 2 sample weights but the training set has 300 rows"), std::string::npos) << shorter.err;
  WriteText(dir_.file("bad_cw.txt"), "7 1\n");
  const auto label = RunCli("train --solver lbfgs --data " + Npz() + " --class-weight " + dir_.file("bad_cw.txt"));
  EXPECT_EQ(label.exit_code, 3);
  EXPECT_NE(label.err.find("line 1: label 7 is not one of the training labels"), std::string::npos) << label.err;
}

}  // namespace
}  // namespace logreg
