// SGD on feature rows (feature_sgd.hpp, `train --data FILE --solver sgd`): uint8 rows train to the very model bytes
// of the same images as IDX (through the CLI on both devices, and as float32 rows on the reference); the cpu
// feature engine against the reference; a row of weight 2 against the row given twice; no intercept keeps the
// bias 0; the dense form over --max-bytes refused with its size; eval of a saved SGD model.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <regex>
#include <string>
#include <vector>

#include "cli_runner.hpp"
#include "feature_files.hpp"
#include "logreg/backend_factory.hpp"
#include "logreg/cpu_reference.hpp"
#include "logreg/errors.hpp"
#include "logreg/evaluation.hpp"
#include "logreg/feature_sgd.hpp"
#include "logreg/model_file.hpp"
#include "logreg/training.hpp"
#include "test_support.hpp"

namespace logreg {
namespace {

using test::NpzBytes;
using test::RawBytes;
using test::RunCli;
using test::WriteText;

// A (rows, cols) matrix of dtype with the given row-major values.
FeatureMatrix DenseMatrix(FeatureDtype dtype, std::size_t rows, std::size_t cols, const std::string& bytes) {
  FeatureMatrix x;
  x.path = "m.npz";
  x.rows = rows;
  x.cols = cols;
  x.dtype = dtype;
  x.dense.assign(bytes.begin(), bytes.end());
  return x;
}

std::vector<std::uint32_t> ClassIndices(const LabelSet& l) { return {l.labels.begin(), l.labels.end()}; }

// Trains `epochs` epochs of run_training's loop over every row of `backend`'s set, no scoring.
Model Train(TrainerBackend& backend, std::size_t rows, int classes, int epochs, int batch, float lr) {
  TrainingRun run;
  run.train_rows.resize(rows);
  for (std::size_t i = 0; i < rows; ++i) run.train_rows[i] = static_cast<std::uint32_t>(i);
  run.num_classes = classes;
  run.test = [](TrainerBackend&) { return Totals{}; };
  TrainConfig cfg;
  cfg.epochs = epochs;
  cfg.batch_size = batch;
  cfg.lr = lr;
  cfg.seed = 7;
  run_training(backend, run, cfg, {});
  return backend.model();
}

class FeatureSgd : public ::testing::Test {
 protected:
  void SetUp() override { test::SeparableSet(240, 3, 6, 51, &images_, &labels_); }
  ImageSet images_;
  LabelSet labels_;
};

// Float32 rows made from uint8 features are pixel_to_unit's floats, so the reference steps over the same x: the
// same model bytes as the IDX reference backend.
TEST_F(FeatureSgd, Uint8RowsOnTheReferenceGiveTheModelBytesOfIdx) {
  const Model init = init_model(36, 3, LossHead::kSoftmax, 3);
  auto idx = make_cpu_reference_backend(images_, labels_, init);
  const FeatureMatrix x = DenseMatrix(FeatureDtype::kUint8, 240, 36, RawBytes(images_.pixels));
  const FeatureRows rows = dense_float_rows(x, ClassIndices(labels_), {}, 1u << 20);
  auto feat = make_reference_feature_backend(rows, init, {});
  const Model a = Train(*idx, 240, 3, 2, 16, 0.1f);
  const Model b = Train(*feat, 240, 3, 2, 16, 0.1f);
  EXPECT_EQ(a.weights, b.weights);
  EXPECT_EQ(a.bias, b.bias);
  EXPECT_NE(a.weights, init.weights);

  ImageSet as_images;
  LabelSet as_labels;
  pixel_rows_of(x, ClassIndices(labels_), &as_images, &as_labels);
  EXPECT_EQ(as_images.pixels, images_.pixels);
  EXPECT_EQ(as_images.dim(), 36u);
  EXPECT_EQ(as_labels.labels, labels_.labels);
}

// float64 features on the cpu engine (float32 sums) against the reference (double sums), with weights and momentum:
// after 3 epochs of batch 8 every parameter agrees to 1e-5 relative (float32 rounding of 36-term sums, carried
// through 90 steps), and a rerun is bit-identical.
TEST_F(FeatureSgd, CpuEngineAgreesWithTheReferenceOnFloatRows) {
  std::vector<double> v(images_.pixels.size());
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = images_.pixels[i] / 100.0 - 1.0;
  const FeatureMatrix x = DenseMatrix(FeatureDtype::kFloat64, 240, 36, RawBytes(v));
  FeatureFitTerms terms;
  for (std::size_t i = 0; i < 240; ++i) terms.row_weights.push_back(0.5 + static_cast<double>(i % 4) / 2.0);
  const FeatureRows rows = dense_float_rows(x, ClassIndices(labels_), terms, 1u << 20);
  EXPECT_EQ(rows.x[1], static_cast<float>(v[1]));
  OptimizerConfig opt;
  opt.momentum = 0.9f;
  const Model init = init_model(36, 3, LossHead::kSoftmax, 5);
  auto ref = make_reference_feature_backend(rows, init, opt);
  auto cpu = make_cpu_feature_backend(rows, init, opt);
  auto again = make_cpu_feature_backend(rows, init, opt);
  const Model a = Train(*ref, 240, 3, 3, 8, 0.01f);
  const Model b = Train(*cpu, 240, 3, 3, 8, 0.01f);
  const Model c = Train(*again, 240, 3, 3, 8, 0.01f);
  EXPECT_TRUE(test::AllClose(a.weights, b.weights, 1e-6, 1e-5)) << "weights";
  EXPECT_TRUE(test::AllClose(a.bias, b.bias, 1e-6, 1e-5)) << "bias";
  EXPECT_EQ(b.weights, c.weights);
  EXPECT_EQ(cpu->optimizer_state().size(), 36u * 3 + 3);
}

// A row of weight 2 in a batch of 2 against the row given twice in a batch of 3: the weighted step's gradient is
// (2 g0 + g1) / 2, the duplicated one's (g0 + g0 + g1) / 3; the loss sums are 2 l0 + l1 in both.
TEST_F(FeatureSgd, WeightTwoEqualsTheRowTwice) {
  const Model init = init_model(36, 3, LossHead::kSoftmax, 9);
  std::vector<float> x(3 * 36);
  for (std::size_t k = 0; k < x.size(); ++k) x[k] = pixel_to_unit<float>(images_.pixels[k % 72]);  // rows 0, 1, 0
  std::vector<float> weighted_x(x.begin(), x.begin() + 72);
  const std::uint8_t y_dup[3] = {labels_.labels[0], labels_.labels[1], labels_.labels[0]};
  const double w[2] = {2.0, 1.0};
  std::vector<double> dw_w(3 * 36), db_w(3), dw_d(3 * 36), db_d(3);
  Model m1 = init, m2 = init;
  const Totals tw = reference_sgd_step(m1, weighted_x.data(), y_dup, 2, 0.1f, nullptr, nullptr, dw_w.data(), db_w.data(),
                                       {}, nullptr, w);
  const Totals td = reference_sgd_step(m2, x.data(), y_dup, 3, 0.1f, nullptr, nullptr, dw_d.data(), db_d.data());
  EXPECT_NEAR(tw.loss_sum, td.loss_sum, 1e-12 * td.loss_sum);
  for (std::size_t j = 0; j < dw_w.size(); ++j) EXPECT_NEAR(dw_w[j] * 2.0, dw_d[j] * 3.0, 1e-12) << j;
  for (std::size_t c = 0; c < 3; ++c) EXPECT_NEAR(db_w[c] * 2.0, db_d[c] * 3.0, 1e-12) << c;
  EXPECT_GT(std::abs(db_w[0]), 1e-3);
}

TEST_F(FeatureSgd, NoInterceptKeepsTheBiasZero) {
  const FeatureMatrix x = DenseMatrix(FeatureDtype::kUint8, 240, 36, RawBytes(images_.pixels));
  FeatureFitTerms terms;
  terms.intercept = false;
  const FeatureRows rows = dense_float_rows(x, ClassIndices(labels_), terms, 1u << 20);
  const Model init = init_model(36, 3, LossHead::kSoftmax, 4);
  ASSERT_NE(init.bias, std::vector<float>(3, 0.0f));
  OptimizerConfig opt;
  opt.momentum = 0.5f;
  auto ref = make_reference_feature_backend(rows, init, opt);
  auto cpu = make_cpu_feature_backend(rows, init, opt);
  for (TrainerBackend* b : {ref.get(), cpu.get()}) {
    const Model m = Train(*b, 240, 3, 2, 16, 0.1f);
    EXPECT_EQ(m.bias, std::vector<float>(3, 0.0f)) << b->name();
    EXPECT_NE(m.weights, init.weights) << b->name();
  }
}

TEST(FeatureSgdRows, DenseFormOverMaxBytesIsRefusedWithItsSize) {
  FeatureMatrix x;  // 40 x 20000 CSR, two entries a row: 3,200,000 bytes dense
  x.path = "wide.svm";
  x.rows = 40;
  x.cols = 20000;
  x.sparse = true;
  x.row_start.push_back(0);
  for (std::uint32_t i = 0; i < 40; ++i) {
    x.col_index.insert(x.col_index.end(), {i, 19999});
    x.values.insert(x.values.end(), {1.0, 2.0});
    x.row_start.push_back(x.values.size());
  }
  const std::vector<std::uint32_t> y(40, 0);
  EXPECT_EQ(dense_float_bytes(x), 3200000u);
  try {
    dense_float_rows(x, y, {}, 1000000);
    FAIL() << "expected a UsageError";
  } catch (const UsageError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("wide.svm"), std::string::npos) << what;
    EXPECT_NE(what.find("40 rows x 20000 features takes 3200000 bytes, over --max-bytes 1000000"), std::string::npos) << what;
  }
  const FeatureRows rows = dense_float_rows(x, y, {}, 3200000);
  EXPECT_EQ(rows.row(3)[3], 1.0f);
  EXPECT_EQ(rows.row(3)[19999], 2.0f);
  EXPECT_EQ(rows.row(3)[4], 0.0f);
}

// Through the CLI: a uint8 .npz trains with SGD to the model bytes of the same images as IDX files on both devices;
// the saved model keeps the class labels, and eval gives the accuracy of the last epoch line.
TEST_F(FeatureSgd, CliUint8NpzMatchesIdxAndEvalAgrees) {
  const test::TempDir dir;
  ImageSet test_images;
  LabelSet test_labels;
  test::SeparableSet(60, 3, 6, 52, &test_images, &test_labels);
  test::WriteDataDir(dir, images_, labels_, test_images, test_labels);
  WriteText(dir.file("u8.npz"), NpzBytes({{"x_train", "|u1", {240, 6, 6}, RawBytes(images_.pixels)},
                                          {"y_train", "|u1", {240}, RawBytes(labels_.labels)},
                                          {"x_test", "|u1", {60, 6, 6}, RawBytes(test_images.pixels)},
                                          {"y_test", "|u1", {60}, RawBytes(test_labels.labels)}},
                                         false));
  for (const std::string device : {"reference", "cpu"}) {
    const std::string common = " --device " + device + " --epochs 2 --batch-size 16 --lr 0.05 --seed 3";
    const auto idx = RunCli("train --data " + dir.path() + common + " --save " + dir.file("idx.lrm"));
    const auto npz = RunCli("train --data " + dir.file("u8.npz") + common + " --save " + dir.file("npz.lrm") +
                            " --metrics " + dir.file("m.csv"));
    ASSERT_EQ(idx.exit_code, 0) << idx.output;
    ASSERT_EQ(npz.exit_code, 0) << npz.output;
    const ModelFile a = load_model_file(dir.file("idx.lrm")), b = load_model_file(dir.file("npz.lrm"));
    EXPECT_EQ(a.model.weights, b.model.weights) << device;
    EXPECT_EQ(a.model.bias, b.model.bias) << device;
    EXPECT_EQ(b.class_labels, (std::vector<std::int64_t>{0, 1, 2}));
    EXPECT_EQ(b.epochs_done, 2u);
    std::smatch m;
    ASSERT_TRUE(std::regex_search(npz.out, m, std::regex(R"(Epoch: 2\. Loss: [0-9.]+\. Accuracy: ([0-9.]+)\.)")))
        << npz.out;
    const auto eval = RunCli("eval --model " + dir.file("npz.lrm") + " --data " + dir.file("u8.npz"));
    ASSERT_EQ(eval.exit_code, 0) << eval.output;
    EXPECT_NE(eval.out.find("Accuracy: " + m[1].str() + "%"), std::string::npos) << eval.out << m[1];
  }
}

}  // namespace
}  // namespace logreg
