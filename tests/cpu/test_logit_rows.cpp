// Inference logits (src/cpu/logit_rows.cpp, compute_logits, evaluate_model): bit for bit the reference
// definition at every SIMD level this CPU has, on teams of 1 and 2 threads, for shapes with class and row
// remainders; and predictions (ties included) identical to the argmax of the reference logits, in
// evaluate_model and accuracy_percent.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "logreg/cpu_fast.hpp"
#include "logreg/evaluation.hpp"
#include "logreg/maths/row_math.hpp"
#include "logreg/model.hpp"
#include "logreg/thread_team.hpp"
#include "logit_rows.hpp"
#include "test_support.hpp"

namespace logreg {
namespace {

std::vector<float> ReferenceLogits(const Model& m, const ImageSet& images) {
  std::vector<float> z(static_cast<std::size_t>(images.count) * static_cast<std::size_t>(m.num_classes));
  cpu::reference_logit_rows(m, images, 0, images.count, z.data());
  return z;
}

// Large weights make products whose rounding a fused multiply-add or another order of the adds would change:
// over thousands of logits, some float results would differ.
Model WideModel(int D, int C, std::uint64_t seed) {
  Model m = init_model(D, C, LossHead::kSoftmax, seed);
  for (float& w : m.weights) w *= 1000.0f;
  for (float& b : m.bias) b *= 100.0f;
  return m;
}

TEST(LogitRows, ReferenceIsTheDefinition) {
  const Model m = WideModel(12, 4, 3);
  const ImageSet images = test::RandomImages(9, 3, 4, 8);
  const std::vector<float> z = ReferenceLogits(m, images);
  for (std::size_t i = 0; i < 9; ++i) {
    for (std::size_t c = 0; c < 4; ++c) {
      double acc = static_cast<double>(m.bias[c]);
      for (std::size_t d = 0; d < 12; ++d) {
        const double x = static_cast<double>(static_cast<float>(images.image(i)[d]) / 255.0f);
        const double product = static_cast<double>(m.weights[c * 12 + d]) * x;
        acc = acc + product;
      }
      EXPECT_EQ(z[i * 4 + c], static_cast<float>(acc)) << "row " << i << " class " << c;
    }
  }
}

struct Shape {
  std::uint32_t rows, height, width;
  int classes;
};

TEST(LogitRows, EverySimdLevelAndTeamGivesTheReferenceBitForBit) {
  // 28x28 x 10 classes (one class block); 13 classes (a block and 3 single classes); 1 row; 3 classes, 7 rows.
  const Shape shapes[] = {{2003, 28, 28, 10}, {301, 5, 7, 13}, {1, 4, 4, 10}, {7, 2, 3, 3}};
  cpu::ThreadTeam one(1), two(2);
  for (const Shape& s : shapes) {
    const Model m = WideModel(static_cast<int>(s.height * s.width), s.classes, s.rows);
    const ImageSet images = test::RandomImages(s.rows, s.height, s.width, s.rows + 1);
    const std::vector<float> ref = ReferenceLogits(m, images);
    for (const CpuSimd simd : test::SimdLevelsOfThisCpu()) {
      SCOPED_TRACE(std::string(cpu_simd_name(simd)) + ", " + std::to_string(s.rows) + " rows, " +
                   std::to_string(s.classes) + " classes");
      EXPECT_EQ(compute_logits(m, images, simd, one), ref);
      EXPECT_EQ(compute_logits(m, images, simd, two), ref);
    }
    EXPECT_EQ(compute_logits(m, images), ref);  // the shared team, the widest level
  }
}

// Two classes with the same weights and bias tie on every row: the prediction is the first of them, as
// row_argmax of the reference logits says; evaluate_model agrees with it row by row (confusion matrix).
TEST(LogitRows, PredictionsAndTiesAreTheReferences) {
  const int D = 784, C = 10;
  Model m = WideModel(D, C, 5);
  for (int d = 0; d < D; ++d) m.weights[static_cast<std::size_t>(7) * D + d] = m.weights[static_cast<std::size_t>(2) * D + d];
  m.bias[7] = m.bias[2];
  const ImageSet images = test::RandomImages(500, 28, 28, 6);
  const LabelSet labels = test::RandomLabels(500, C, 6);
  const std::vector<float> ref = ReferenceLogits(m, images);
  std::vector<std::int64_t> confusion(static_cast<std::size_t>(C) * C, 0);
  int ties = 0;
  for (std::size_t i = 0; i < images.count; ++i) {
    const float* z = ref.data() + i * C;
    const int predicted = row_argmax(z, C);
    ties += z[2] == z[7] && predicted == 2 ? 1 : 0;
    confusion[static_cast<std::size_t>(labels.labels[i]) * C + static_cast<std::size_t>(predicted)] += 1;
  }
  EXPECT_GT(ties, 0);  // the case is exercised
  const EvaluationReport r = evaluate_model(m, images, labels);
  EXPECT_EQ(r.confusion, confusion);
  std::int64_t correct = 0;
  for (int c = 0; c < C; ++c) correct += confusion[static_cast<std::size_t>(c) * C + static_cast<std::size_t>(c)];
  EXPECT_EQ(accuracy_percent(m, images, labels), 100.0 * static_cast<double>(correct) / 500.0);
  EXPECT_EQ(accuracy_percent(m, images, labels), r.totals.accuracy_percent());
}

}  // namespace
}  // namespace logreg
