// The printed test accuracy's predictions (bounded_predictions.hpp: float32 logits with an error bound, the
// reference's logits where the bound cannot decide) against the reference's argmax (reference_logit_rows, then
// row_argmax), row by row: random models at three scales, exact ties (duplicated classes, an all-zero model),
// near ties (a class one float ulp from another), padded shapes; and accuracy_percent against evaluate_model.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "bounded_predictions.hpp"
#include "logit_rows.hpp"
#include "logreg/evaluation.hpp"
#include "logreg/maths/row_math.hpp"
#include "logreg/model.hpp"
#include "logreg/rng.hpp"
#include "test_support.hpp"

namespace logreg {
namespace {

Model RandomModel(int D, int C, double scale, std::uint64_t seed) {
  Model m;
  m.input_dim = D;
  m.num_classes = C;
  m.head = LossHead::kSoftmax;
  Rng rng(seed, 9);
  auto draw = [&]() { return static_cast<float>(scale * (static_cast<double>(rng.below(1u << 20)) / (1u << 20) - 0.5)); };
  m.weights.resize(static_cast<std::size_t>(C) * D);
  for (float& w : m.weights) w = draw();
  m.bias.resize(static_cast<std::size_t>(C));
  for (float& b : m.bias) b = draw();
  return m;
}

// Row by row, the bounded predictions equal the reference's argmax; returns the rows that fell back.
std::size_t ExpectReferencePredictions(const Model& m, const ImageSet& images) {
  const cpu::BoundedPredictor p = cpu::BoundedPredictor::of(m);
  EXPECT_TRUE(p.usable);
  std::vector<int> predicted(images.count, -1);
  const std::size_t fallbacks = cpu::predict_rows_bounded(p, m, images, 0, images.count, predicted.data());
  std::vector<float> z(static_cast<std::size_t>(m.num_classes));
  int mismatches = 0;
  for (std::size_t i = 0; i < images.count; ++i) {
    cpu::reference_logit_row(m, images.image(i), z.data());
    const int expected = row_argmax(z.data(), m.num_classes);
    if (predicted[i] != expected && ++mismatches <= 5) {
      ADD_FAILURE() << "row " << i << ": predicted " << predicted[i] << ", the reference " << expected;
    }
  }
  EXPECT_EQ(mismatches, 0);
  return fallbacks;
}

class BoundedPredictions : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!cpu_simd_supported(CpuSimd::kAvx512)) GTEST_SKIP() << "no AVX-512 here: accuracy_percent takes the exact path";
  }
};

TEST_F(BoundedPredictions, RandomModelsGiveTheReferencesPredictions) {
  const ImageSet images = test::RandomImages(1000, 28, 28, 4);
  for (const double scale : {0.001, 0.05, 2.0}) {
    SCOPED_TRACE("scale " + std::to_string(scale));
    const Model m = RandomModel(784, 10, scale, 17);
    const std::size_t fallbacks = ExpectReferencePredictions(m, images);
    EXPECT_LT(fallbacks, images.count / 10) << "the bound should decide most rows";
  }
  // Shapes off the vector width and the class block: 5x7 = 35 pixels (a masked tail), 13 classes (a block of 10
  // and 3 alone).
  const ImageSet small = test::RandomImages(300, 5, 7, 6);
  ExpectReferencePredictions(RandomModel(35, 13, 0.3, 18), small);
}

// Exact ties: the reference takes the first of equal logits, and so must these predictions.
TEST_F(BoundedPredictions, TiesGoToTheFirstClassAsTheReferences) {
  const ImageSet images = test::RandomImages(500, 28, 28, 5);
  Model m = RandomModel(784, 10, 0.05, 19);
  const std::size_t D = 784;
  for (const auto& [from, to] : std::vector<std::pair<int, int>>{{2, 7}, {0, 9}}) {  // class `to` is a copy of `from`
    std::copy(m.weights.begin() + static_cast<std::ptrdiff_t>(from * D),
              m.weights.begin() + static_cast<std::ptrdiff_t>((from + 1) * D),
              m.weights.begin() + static_cast<std::ptrdiff_t>(to * D));
    m.bias[static_cast<std::size_t>(to)] = m.bias[static_cast<std::size_t>(from)];
  }
  // Make the copied classes win often: a large bias on both copies of class 2.
  m.bias[2] += 5.0f;
  m.bias[7] += 5.0f;
  EXPECT_GT(ExpectReferencePredictions(m, images), images.count / 2) << "the ties must have fallen back";

  Model zero = RandomModel(784, 10, 0.0, 20);  // every logit 0: class 0 everywhere
  ExpectReferencePredictions(zero, images);

  // Near ties: class 5 is class 3 with its bias one float ulp higher; then with one weight one ulp lower.
  Model near = RandomModel(784, 10, 0.05, 21);
  std::copy(near.weights.begin() + 3 * 784, near.weights.begin() + 4 * 784, near.weights.begin() + 5 * 784);
  near.bias[3] += 8.0f;
  near.bias[5] = std::nextafter(near.bias[3], INFINITY);
  ExpectReferencePredictions(near, images);
  near.bias[5] = near.bias[3];
  near.weights[5 * 784 + 400] = std::nextafter(near.weights[5 * 784 + 400], -INFINITY);
  ExpectReferencePredictions(near, images);
}

// Float32 logits far off the reference's: class 1's weights are +B and -B on pairs of equal pixels (a sum that
// cancels to sum_d delta_d x_d, near 0, after float32 partial sums of size ~B), class 0's logit is exactly 0. The
// float32 sums err by ~1e-2 and rank the two classes wrongly on many rows; the bound sends those rows to the
// reference, so the predictions are still the reference's.
TEST_F(BoundedPredictions, CancellingSumsAreLeftToTheReference) {
  ImageSet images = test::RandomImages(400, 28, 28, 8);
  for (std::size_t i = 0; i < images.count; ++i) {
    std::uint8_t* px = images.pixels.data() + i * 784;
    for (std::size_t d = 0; d + 1 < 784; d += 2) px[d + 1] = px[d];
  }
  Model m = RandomModel(784, 2, 1e-4, 25);
  for (std::size_t d = 0; d < 784; ++d) {
    m.weights[d] = 0.0f;
    m.weights[784 + d] += (d % 2 == 0 ? 1000.0f : -1000.0f);
  }
  m.bias[0] = 0.0f;
  m.bias[1] = 0.0f;
  EXPECT_GT(ExpectReferencePredictions(m, images), images.count / 2);
}

// Two classes whose weights differ in one pixel by a hair (class 1 = class 0 + 2^-12 at pixel 5), both summing
// large terms of either sign: the exact logits differ by about x_5 / 4096, less than the float32 sums' rounding
// (several units in their last place, well over one ulp of the result). The bound sends such rows to the
// reference; a margin of one ulp alone would take the float32 argmax and get some of them wrong.
TEST_F(BoundedPredictions, ErrorsOfManyUlpsAreLeftToTheReference) {
  const ImageSet images = test::RandomImages(2000, 28, 28, 31);
  Model m = RandomModel(784, 2, 2000.0, 32);
  std::copy(m.weights.begin(), m.weights.begin() + 784, m.weights.begin() + 784);
  m.weights[784 + 5] = m.weights[5] + 1.0f / 4096.0f;
  m.bias[1] = m.bias[0];
  EXPECT_GT(ExpectReferencePredictions(m, images), images.count / 10);
}

// The printed accuracy is evaluate_model's, for models that decide by a margin and models full of ties.
TEST_F(BoundedPredictions, AccuracyPercentIsEvaluateModels) {
  const ImageSet images = test::RandomImages(700, 28, 28, 7);
  const LabelSet labels = test::RandomLabels(700, 10, 7);
  Model tied = RandomModel(784, 10, 0.05, 22);
  std::copy(tied.weights.begin(), tied.weights.begin() + 784, tied.weights.begin() + 4 * 784);
  tied.bias[4] = tied.bias[0] = 3.0f;
  for (const Model& m : {RandomModel(784, 10, 0.05, 23), tied, RandomModel(784, 10, 0.0, 24)}) {
    EXPECT_EQ(accuracy_percent(m, images, labels), evaluate_model(m, images, labels).totals.accuracy_percent());
  }
}

}  // namespace
}  // namespace logreg
