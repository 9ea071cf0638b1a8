// CPU inference (evaluation.hpp, row_probabilities.hpp): logits against a plain double computation,
// the probabilities of each head, the confusion matrix against Totals and the reference backend, and
// precision/recall on a hand-made example; feature-matrix logits (dense and CSR rows) and their report.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <numeric>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "logreg/backend_factory.hpp"
#include "logreg/cpu_reference.hpp"
#include "logreg/engine.hpp"
#include "logreg/errors.hpp"
#include "logreg/evaluation.hpp"
#include "logreg/maths/row_probabilities.hpp"
#include "test_support.hpp"

namespace logreg {
namespace {

TEST(Evaluation, LogitsMatchADoubleComputation) {
  const Model m = init_model(12, 4, LossHead::kSoftmax, 3);
  const ImageSet images = test::RandomImages(9, 3, 4, 8);
  const std::vector<float> logits = compute_logits(m, images);
  ASSERT_EQ(logits.size(), 9u * 4u);
  std::vector<double> ref(logits.size());
  for (std::size_t i = 0; i < 9; ++i) {
    for (std::size_t c = 0; c < 4; ++c) {
      double acc = m.bias[c];
      for (std::size_t d = 0; d < 12; ++d) {
        acc += static_cast<double>(m.weights[c * 12 + d]) * (images.image(i)[d] / 255.0);
      }
      ref[i * 4 + c] = acc;
    }
  }
  EXPECT_TRUE(test::AllClose(ref, logits, 1e-6, 1e-6));
}

TEST(Evaluation, SoftmaxProbabilitiesSumToOne) {
  const float z[] = {1.5f, -2.0f, 0.25f, 80.0f, -80.0f};
  const std::vector<double> p = class_probabilities(LossHead::kSoftmax, z, 5);
  EXPECT_NEAR(std::accumulate(p.begin(), p.end(), 0.0), 1.0, 1e-12);
  double denom = 0.0;
  for (float v : z) denom += std::exp(static_cast<double>(v) - 80.0);
  for (int c = 0; c < 5; ++c) EXPECT_NEAR(p[c], std::exp(z[c] - 80.0) / denom, 1e-15);
  for (double v : p) EXPECT_TRUE(std::isfinite(v));
}

TEST(Evaluation, SigmoidSoftmaxIsSoftmaxOfSigmoids) {
  const float z[] = {3.0f, -1.0f, 0.0f};
  const std::vector<double> p = class_probabilities(LossHead::kSigmoidSoftmax, z, 3);
  double s[3], denom = 0.0;
  for (int c = 0; c < 3; ++c) {
    s[c] = std::exp(1.0 / (1.0 + std::exp(-static_cast<double>(z[c]))));
    denom += s[c];
  }
  for (int c = 0; c < 3; ++c) EXPECT_NEAR(p[c], s[c] / denom, 1e-15);
  EXPECT_NEAR(p[0] + p[1] + p[2], 1.0, 1e-12);
}

TEST(Evaluation, OvrProbabilitiesAreIndependentSigmoids) {
  const float z[] = {4.0f, 3.0f, -2.0f, -700.0f};
  const std::vector<double> p = class_probabilities(LossHead::kOvr, z, 4);
  for (int c = 0; c < 4; ++c) EXPECT_NEAR(p[c], 1.0 / (1.0 + std::exp(-static_cast<double>(z[c]))), 1e-15);
  EXPECT_GT(p[0] + p[1] + p[2] + p[3], 1.5);  // not a distribution over classes
  // Changing one logit leaves the other classes' probabilities alone.
  const float z2[] = {4.0f, 9.0f, -2.0f, -700.0f};
  const std::vector<double> p2 = class_probabilities(LossHead::kOvr, z2, 4);
  EXPECT_EQ(p2[0], p[0]);
  EXPECT_EQ(p2[2], p[2]);
}

TEST(Evaluation, RowProbabilitiesWorkInFloat) {
  const float z[] = {1.0f, 2.0f, 3.0f};
  float p[3];
  row_probabilities<float>(LossHead::kSoftmax, z, 3, p);
  EXPECT_NEAR(p[0] + p[1] + p[2], 1.0f, 1e-6f);
  EXPECT_GT(p[2], p[1]);
}

// Model with identity weights over 3 pixels: the predicted class is the brightest pixel.
TEST(Evaluation, PrecisionAndRecallOnAHandMadeExample) {
  Model m;
  m.input_dim = 3;
  m.num_classes = 3;
  m.weights = {1, 0, 0, 0, 1, 0, 0, 0, 1};
  m.bias = {0, 0, 0};
  // (true, predicted): (0,0) x3, (0,1), (1,0) x2, (1,1), (2,1), (2,0). Class 2 is never predicted.
  const int pairs[][2] = {{0, 0}, {0, 0}, {0, 0}, {0, 1}, {1, 0}, {1, 0}, {1, 1}, {2, 1}, {2, 0}};
  ImageSet images;
  images.count = 9;
  images.rows = 1;
  images.cols = 3;
  LabelSet labels;
  for (const auto& pair : pairs) {
    for (int d = 0; d < 3; ++d) images.pixels.push_back(d == pair[1] ? 200 : 10);
    labels.labels.push_back(static_cast<std::uint8_t>(pair[0]));
  }
  const EvaluationReport r = evaluate_model(m, images, labels);
  const std::vector<std::int64_t> expected = {3, 1, 0, 2, 1, 0, 1, 1, 0};
  EXPECT_EQ(r.confusion, expected);
  EXPECT_EQ(r.totals.correct, 4);
  EXPECT_EQ(r.totals.count, 9);
  EXPECT_DOUBLE_EQ(r.precision[0], 3.0 / 6.0);
  EXPECT_DOUBLE_EQ(r.precision[1], 1.0 / 3.0);
  EXPECT_EQ(r.precision[2], 0.0);  // never predicted: undefined, reported as 0
  EXPECT_DOUBLE_EQ(r.recall[0], 3.0 / 4.0);
  EXPECT_DOUBLE_EQ(r.recall[1], 1.0 / 3.0);
  EXPECT_EQ(r.recall[2], 0.0);

  const std::string table = format_confusion_matrix(r);
  EXPECT_NE(table.find("true 0"), std::string::npos) << table;
  EXPECT_NE(table.find("true 2"), std::string::npos) << table;
  EXPECT_NE(table.find("precision"), std::string::npos) << table;
  EXPECT_NE(table.find("0.5000"), std::string::npos) << table;
  EXPECT_NE(table.find("4 of 9 rows"), std::string::npos) << table;

  const nlohmann::json j = nlohmann::json::parse(evaluation_json(r));
  EXPECT_EQ(j["count"], 9);
  EXPECT_EQ(j["correct"], 4);
  EXPECT_EQ(j["confusion"][1][0], 2);
  EXPECT_DOUBLE_EQ(j["accuracy"].get<double>(), 4.0 / 9.0);
  EXPECT_DOUBLE_EQ(j["recall"][0].get<double>(), 0.75);
  EXPECT_DOUBLE_EQ(j["loss"].get<double>(), r.totals.mean_loss());
}

TEST(Evaluation, ConfusionMatrixAgreesWithTotalsAndTheReference) {
  ImageSet images;
  LabelSet labels;
  test::SeparableSet(300, 10, 8, 21, &images, &labels);
  for (LossHead head : {LossHead::kSoftmax, LossHead::kSigmoidSoftmax, LossHead::kOvr}) {
    Model m = init_model(64, 10, head, 4);
    // Half-trained: add a little of the right pixel block to each class so accuracy is neither 0 nor 100%.
    for (int c = 0; c < 10; ++c) {
      for (int d = c * 6; d < (c + 1) * 6; ++d) m.weights[static_cast<std::size_t>(c) * 64 + d] += 0.05f;
    }
    const EvaluationReport r = evaluate_model(m, images, labels);
    std::int64_t sum = 0, diagonal = 0;
    for (std::int64_t v : r.confusion) sum += v;
    for (int c = 0; c < 10; ++c) diagonal += r.at(c, c);
    EXPECT_EQ(sum, 300);
    EXPECT_EQ(diagonal, r.totals.correct);
    EXPECT_EQ(r.totals.count, 300);

    auto backend = make_cpu_reference_backend(images, labels, m);
    const Totals ref = backend->evaluate(images, labels);
    EXPECT_EQ(r.totals.correct, ref.correct) << loss_head_name(head);
    EXPECT_NEAR(r.totals.loss_sum, ref.loss_sum, 1e-5 * std::fabs(ref.loss_sum)) << loss_head_name(head);
  }
}

// An engine whose logits are given: the report is built from the engine's logits, not from the model's weights.
class GivenLogits final : public Engine {
 public:
  explicit GivenLogits(std::vector<float> logits) : logits_(std::move(logits)) {}
  std::string name() const override { return "given"; }
  std::vector<float> logits(const Model&, const ImageSet&) override { return logits_; }

 private:
  std::vector<float> logits_;
};

TEST(Evaluation, TheReportComesFromTheEnginesLogits) {
  const Model m = init_model(4, 3, LossHead::kSoftmax, 1);
  const ImageSet images = test::RandomImages(3, 2, 2, 5);
  LabelSet labels;
  labels.labels = {0, 2, 1};
  // Row 0 predicts 0 (right), row 1 predicts 1 (wrong), row 2 predicts 1 (right).
  GivenLogits engine({2.0f, 0.0f, 0.0f, 0.0f, 1.0f, 0.0f, 0.0f, 3.0f, 0.0f});
  const EvaluationReport r = evaluate_model(engine, m, images, labels);
  EXPECT_EQ(r.totals.count, 3);
  EXPECT_EQ(r.totals.correct, 2);
  const std::vector<std::int64_t> expected = {1, 0, 0, 0, 1, 0, 0, 1, 0};
  EXPECT_EQ(r.confusion, expected);
  // The softmax losses of the three rows: log(1 + 2e^-2), log(2 + e), log(1 + 2e^-3).
  const double e = std::exp(1.0);
  const double loss = std::log(1.0 + 2.0 * std::exp(-2.0)) + std::log(2.0 + e) + std::log(1.0 + 2.0 * std::exp(-3.0));
  EXPECT_NEAR(r.totals.loss_sum, loss, 1e-12);
  GivenLogits short_by_one({1.0f, 0.0f});
  EXPECT_THROW(evaluate_model(short_by_one, m, images, labels), UsageError);
}

// Every engine keeps the host's inference: the same floats as compute_logits, the same report as evaluate_model.
TEST(Evaluation, EnginesGiveTheHostsLogits) {
  ImageSet images;
  LabelSet labels;
  test::SeparableSet(120, 10, 8, 3, &images, &labels);
  const Model m = init_model(64, 10, LossHead::kSoftmax, 9);
  const std::vector<float> host = compute_logits(m, images);
  const auto inference = make_inference_engine();
  const auto reference = make_cpu_reference_full_batch_engine(images, labels, m);
  EXPECT_EQ(inference->logits(m, images), host);
  EXPECT_EQ(reference->logits(m, images), host);
  const EvaluationReport a = evaluate_model(m, images, labels);
  const EvaluationReport b = evaluate_model(*reference, m, images, labels);
  EXPECT_EQ(a.confusion, b.confusion);
  EXPECT_EQ(a.totals.loss_sum, b.totals.loss_sum);
  EXPECT_EQ(reference->accuracy_percent(m, images, labels), a.totals.accuracy_percent());
}

TEST(Evaluation, ShapeAndLabelMismatchesAreDataErrors) {
  const Model m = init_model(12, 3, LossHead::kSoftmax, 1);
  ImageSet images = test::RandomImages(4, 4, 4, 2);
  images.path = "imgs.idx";
  LabelSet labels = test::RandomLabels(4, 3, 2);
  labels.path = "labels.idx";
  try {
    evaluate_model(m, images, labels);
    FAIL();
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("4x4"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("12"), std::string::npos) << e.what();
  }
  images = test::RandomImages(4, 3, 4, 2);
  labels.labels[2] = 3;
  try {
    evaluate_model(m, images, labels);
    FAIL();
  } catch (const DataError& e) {
    EXPECT_EQ(e.file(), "labels.idx");
    EXPECT_NE(std::string(e.what()).find("label 3 at index 2"), std::string::npos) << e.what();
  }
}

TEST(FeatureEvaluation, HandComputedReport) {
  // Two features, two classes: class 1 wins when x0 > x1 (W = [[0, 1], [1, 0]], b = 0).
  Model m;
  m.input_dim = 2;
  m.num_classes = 2;
  m.weights = {0.0f, 1.0f, 1.0f, 0.0f};
  m.bias = {0.0f, 0.0f};
  FeatureMatrix x;
  x.rows = 3;
  x.cols = 2;
  x.dtype = FeatureDtype::kFloat32;
  const std::vector<float> v = {2.0f, 0.0f, 0.0f, 1.0f, 3.0f, 1.0f};
  x.dense.resize(v.size() * 4);
  std::memcpy(x.dense.data(), v.data(), x.dense.size());
  const EvaluationReport r = evaluate_model(*make_inference_engine(), m, x, {1, 1, 0});  // row 0 right, row 1 wrong, row 2 wrong
  EXPECT_EQ(r.totals.correct, 1);
  EXPECT_EQ(r.confusion, (std::vector<std::int64_t>{0, 1, 1, 1}));
  // Softmax losses: log(1 + e^-2), log(1 + e^1), log(1 + e^2).
  EXPECT_NEAR(r.totals.loss_sum, std::log1p(std::exp(-2.0)) + std::log1p(std::exp(1.0)) + std::log1p(std::exp(2.0)), 1e-12);
  EXPECT_DOUBLE_EQ(r.precision[1], 0.5);
  EXPECT_DOUBLE_EQ(r.recall[1], 0.5);
  EXPECT_DOUBLE_EQ(r.recall[0], 0.0);
  x.cols = 3;
  EXPECT_THROW(evaluate_model(*make_inference_engine(), m, x, {1, 1, 0}), DataError);
}

// A dense row and its CSR form give the same doubles: the bias plus the products in feature order; uint8 rows
// are read as pixel / 255.
TEST(FeatureEvaluation, DenseAndCsrRowsGiveTheSameLogits) {
  Model m;
  m.input_dim = 3;
  m.num_classes = 2;
  m.weights = {0.5f, -1.0f, 2.0f, 0.25f, 3.0f, -0.5f};
  m.bias = {0.125f, -1.0f};
  FeatureMatrix dense;
  dense.rows = 2;
  dense.cols = 3;
  dense.dtype = FeatureDtype::kUint8;
  dense.dense = {255, 0, 51, 0, 102, 0};
  FeatureMatrix csr;
  csr.rows = 2;
  csr.cols = 3;
  csr.sparse = true;
  csr.row_start = {0, 2, 3};
  csr.col_index = {0, 2, 1};
  csr.values = {1.0, 51.0 / 255.0, 102.0 / 255.0};
  const std::vector<double> expected = {0.125 + 0.5 + 2.0 * (51.0 / 255.0), -1.0 + 0.25 - 0.5 * (51.0 / 255.0),
                                        0.125 - 102.0 / 255.0, -1.0 + 3.0 * (102.0 / 255.0)};
  EXPECT_EQ(feature_logits(m, csr), expected);
  EXPECT_EQ(make_inference_engine()->feature_logits(m, dense), expected);
}

}  // namespace
}  // namespace logreg
