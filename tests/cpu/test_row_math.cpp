// The per-row maths (row_math.hpp): gradients of every loss head against central finite differences in
// double, numerical stability at extreme logits, and agreement with the textbook formulas.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "logreg/model.hpp"
#include "logreg/rng.hpp"
#include "logreg/maths/row_math.hpp"
#include "test_support.hpp"

namespace logreg {
namespace {

const LossHead kHeads[] = {LossHead::kSoftmax, LossHead::kSigmoidSoftmax, LossHead::kOvr};

class RowMathHeads : public ::testing::TestWithParam<LossHead> {};

TEST_P(RowMathHeads, GradientMatchesCentralDifferences) {
  const LossHead head = GetParam();
  Rng rng(7, 1);
  for (int trial = 0; trial < 20; ++trial) {
    const int C = 2 + static_cast<int>(rng.below(11));
    const int label = static_cast<int>(rng.below(static_cast<std::uint64_t>(C)));
    std::vector<double> z(static_cast<std::size_t>(C)), dz(static_cast<std::size_t>(C)), fd(static_cast<std::size_t>(C));
    for (auto& v : z) v = 6.0 * rng.unit() - 3.0;
    const double scale = 0.25;
    row_loss_grad<double>(head, z.data(), C, label, scale, dz.data());
    const double h = 1e-6;
    for (int c = 0; c < C; ++c) {
      std::vector<double> zp = z, zm = z;
      zp[static_cast<std::size_t>(c)] += h;
      zm[static_cast<std::size_t>(c)] -= h;
      const double lp = row_loss_grad<double>(head, zp.data(), C, label, scale, nullptr);
      const double lm = row_loss_grad<double>(head, zm.data(), C, label, scale, nullptr);
      fd[static_cast<std::size_t>(c)] = scale * (lp - lm) / (2 * h);
    }
    EXPECT_TRUE(test::AllClose(fd, dz, 1e-8, 1e-6)) << "head " << loss_head_name(head) << " C=" << C;
  }
}

TEST_P(RowMathHeads, StableAtExtremeLogits) {
  const LossHead head = GetParam();
  for (double big : {1e4, -1e4}) {
    std::vector<double> zd = {big, -big, 0.0, big / 2};
    std::vector<float> zf(zd.begin(), zd.end());
    std::vector<double> dzd(4);
    std::vector<float> dzf(4);
    for (int label = 0; label < 4; ++label) {
      const double ld = row_loss_grad<double>(head, zd.data(), 4, label, 1.0, dzd.data());
      const float lf = row_loss_grad<float>(head, zf.data(), 4, label, 1.0f, dzf.data());
      ASSERT_TRUE(std::isfinite(ld)) << loss_head_name(head) << " big=" << big << " label=" << label;
      ASSERT_TRUE(std::isfinite(lf)) << loss_head_name(head) << " big=" << big << " label=" << label;
      EXPECT_GE(ld, 0.0);
      for (int c = 0; c < 4; ++c) {
        ASSERT_TRUE(std::isfinite(dzd[static_cast<std::size_t>(c)]));
        ASSERT_TRUE(std::isfinite(dzf[static_cast<std::size_t>(c)]));
      }
      EXPECT_NEAR(lf, ld, 1e-3 * std::fabs(ld) + 1e-3);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllHeads, RowMathHeads, ::testing::ValuesIn(kHeads),
                         [](const ::testing::TestParamInfo<LossHead>& info) {
                           std::string n = loss_head_name(info.param);
                           for (auto& ch : n) if (ch == '-') ch = '_';
                           return n;
                         });

TEST(RowMath, SoftmaxMatchesTextbookFormula) {
  const double z[3] = {1.0, 2.0, 0.5};
  double dz[3];
  const double loss = row_loss_grad<double>(LossHead::kSoftmax, z, 3, 1, 1.0, dz);
  const double s = std::exp(1.0) + std::exp(2.0) + std::exp(0.5);
  EXPECT_NEAR(loss, -std::log(std::exp(2.0) / s), 1e-12);
  EXPECT_NEAR(dz[0], std::exp(1.0) / s, 1e-12);
  EXPECT_NEAR(dz[1], std::exp(2.0) / s - 1.0, 1e-12);
  EXPECT_NEAR(dz[2], std::exp(0.5) / s, 1e-12);
}

TEST(RowMath, SigmoidSoftmaxIsSoftmaxOfSigmoid) {
  const double z[3] = {3.0, -1.0, 0.25};
  double a[3];
  for (int c = 0; c < 3; ++c) a[c] = 1.0 / (1.0 + std::exp(-z[c]));
  // Cross-entropy of the softmax over a, written out (not the softmax head's own code).
  const double expected = -std::log(std::exp(a[2]) / (std::exp(a[0]) + std::exp(a[1]) + std::exp(a[2])));
  EXPECT_NEAR(row_loss_grad<double>(LossHead::kSigmoidSoftmax, z, 3, 2, 1.0, nullptr), expected, 1e-12);
}

TEST(RowMath, OvrIsSumOfBinaryCrossEntropies) {
  const double z[3] = {2.0, -0.5, 0.0};
  double expected = 0.0;
  for (int c = 0; c < 3; ++c) {
    const double p = 1.0 / (1.0 + std::exp(-z[c]));
    expected += c == 1 ? -std::log(p) : -std::log(1.0 - p);
  }
  EXPECT_NEAR(row_loss_grad<double>(LossHead::kOvr, z, 3, 1, 1.0, nullptr), expected, 1e-12);
}

TEST(RowMath, ArgmaxTakesFirstOfTies) {
  const float z[4] = {0.5f, 2.0f, 2.0f, -1.0f};
  EXPECT_EQ(row_argmax(z, 4), 1);
}

TEST(RowMath, PixelScaling) {
  EXPECT_EQ(pixel_to_unit<float>(0), 0.0f);
  EXPECT_EQ(pixel_to_unit<float>(255), 1.0f);
  EXPECT_DOUBLE_EQ(pixel_to_unit<double>(51), 0.2);
}

}  // namespace
}  // namespace logreg
