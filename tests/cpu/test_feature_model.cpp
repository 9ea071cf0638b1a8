// The full-batch objective over feature matrices (feature_model.hpp): uint8 rows give the CPU reference's IDX
// objective bit for bit, CSR rows give their dense form's values, the gradient matches finite differences, and
// 8 parts on the thread team are bit-reproducible; its engine over batches of rows (make_feature_batch_engine).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#include "logreg/cpu_reference.hpp"
#include "logreg/errors.hpp"
#include "logreg/feature_model.hpp"
#include "logreg/maths/objective_math.hpp"
#include "logreg/rng.hpp"
#include "test_support.hpp"

namespace logreg {
namespace {

using test::RandomParams;
using test::Uint8Matrix;

// Dense float64 (rows, cols) with about a third zeros, and its CSR form.
void RandomFloatMatrix(std::size_t rows, std::size_t cols, std::uint64_t seed, FeatureMatrix* dense, FeatureMatrix* csr) {
  Rng rng(seed, 3);
  std::vector<double> v(rows * cols);
  for (double& x : v) x = rng.below(3) == 0 ? 0.0 : static_cast<double>(rng.below(2001)) / 100.0 - 10.0;
  dense->rows = csr->rows = rows;
  dense->cols = csr->cols = cols;
  dense->dtype = FeatureDtype::kFloat64;
  dense->dense.resize(v.size() * 8);
  std::memcpy(dense->dense.data(), v.data(), dense->dense.size());
  csr->sparse = true;
  csr->row_start = {0};
  for (std::size_t i = 0; i < rows; ++i) {
    for (std::size_t d = 0; d < cols; ++d) {
      if (v[i * cols + d] != 0.0) {
        csr->col_index.push_back(static_cast<std::uint32_t>(d));
        csr->values.push_back(v[i * cols + d]);
      }
    }
    csr->row_start.push_back(csr->values.size());
  }
}

TEST(FeatureObjective, Uint8RowsGiveTheReferenceIdxObjectiveBitForBit) {
  const int C = 4;
  const ImageSet images = test::RandomImages(37, 5, 6, 21);
  const LabelSet labels = test::RandomLabels(37, C, 21);
  const FeatureMatrix x = Uint8Matrix(images);
  const std::vector<std::uint32_t> y(labels.labels.begin(), labels.labels.end());
  std::vector<std::uint32_t> rows(37);
  std::iota(rows.begin(), rows.end(), 0u);
  const std::vector<double> params = RandomParams(static_cast<std::size_t>(C) * 31, 0.5, 4);
  const double l2 = l2_strength(0.7, 37.0);
  std::vector<double> g_ref(params.size()), g(params.size());
  const double f_ref = reference_full_batch_objective(images, labels, rows, LossHead::kSoftmax, C, params.data(), l2,
                                                      g_ref.data());
  FeatureObjective objective(x, y, LossHead::kSoftmax, C, 1, nullptr);
  EXPECT_EQ(objective(params.data(), l2, g.data()), f_ref);
  EXPECT_EQ(g, g_ref);
}

TEST(FeatureObjective, CsrGivesItsDenseFormAndMatchesFiniteDifferences) {
  const int C = 3;
  FeatureMatrix dense, csr;
  RandomFloatMatrix(29, 7, 5, &dense, &csr);
  Rng rng(9, 1);
  std::vector<std::uint32_t> y(29);
  for (auto& v : y) v = static_cast<std::uint32_t>(rng.below(C));
  const std::vector<double> params = RandomParams(static_cast<std::size_t>(C) * 8, 0.1, 6);
  const double l2 = l2_strength(2.0, 29.0);
  for (const LossHead head : {LossHead::kSoftmax, LossHead::kOvr}) {
    std::vector<double> gd(params.size()), gs(params.size());
    FeatureObjective fd(dense, y, head, C, 1, nullptr), fs(csr, y, head, C, 1, nullptr);
    const double f = fd(params.data(), l2, gd.data());
    EXPECT_EQ(fs(params.data(), l2, gs.data()), f);
    EXPECT_EQ(gs, gd);
    std::vector<double> p = params, scratch(params.size());
    for (std::size_t j = 0; j < params.size(); j += 5) {
      const double h = 1e-6;
      p[j] = params[j] + h;
      const double fp = fd(p.data(), l2, scratch.data());
      p[j] = params[j] - h;
      const double fm = fd(p.data(), l2, scratch.data());
      p[j] = params[j];
      EXPECT_NEAR(gd[j], (fp - fm) / (2 * h), 1e-6 * (1.0 + std::fabs(gd[j]))) << "parameter " << j;
    }
  }
}

TEST(FeatureObjective, EightPartsOnTheTeamAreReproducibleAndCloseToRowOrder) {
  const int C = 5;
  FeatureMatrix dense, csr;
  RandomFloatMatrix(203, 11, 8, &dense, &csr);
  std::vector<std::uint32_t> y(203);
  for (std::size_t i = 0; i < y.size(); ++i) y[i] = static_cast<std::uint32_t>(i % C);
  const std::vector<double> params = RandomParams(static_cast<std::size_t>(C) * 12, 0.2, 2);
  cpu::ThreadTeam team(2);
  std::vector<double> g1(params.size()), g8(params.size()), g8b(params.size());
  FeatureObjective one(csr, y, LossHead::kSoftmax, C, 1, nullptr), eight(csr, y, LossHead::kSoftmax, C, 8, &team);
  const double f1 = one(params.data(), 0.01, g1.data());
  const double f8 = eight(params.data(), 0.01, g8.data());
  EXPECT_EQ(eight(params.data(), 0.01, g8b.data()), f8);
  EXPECT_EQ(g8b, g8);
  EXPECT_NEAR(f8, f1, 1e-13 * std::fabs(f1));
  EXPECT_TRUE(test::AllClose(g1.data(), g8.data(), g1.size(), 1e-15, 1e-12));
}

// The engine of synchronous SGD over ranks on feature files (make_feature_batch_engine): a batch of rows, in the
// order given, is the objective of those rows alone with S = the batch's size: for uint8 rows the reference's IDX
// objective over the same rows, bit for bit; CSR rows give their dense form's values.
TEST(FeatureBatchEngine, ABatchGivesTheReferenceIdxObjectiveOfItsRows) {
  const int C = 4;
  const ImageSet images = test::RandomImages(37, 5, 6, 23);
  const LabelSet labels = test::RandomLabels(37, C, 23);
  const FeatureMatrix x = Uint8Matrix(images);
  const std::vector<std::uint32_t> y(labels.labels.begin(), labels.labels.end());
  const std::vector<std::uint32_t> batch = {30, 2, 17, 5, 11, 8, 36, 0, 21, 14, 3};
  const std::vector<double> params = RandomParams(static_cast<std::size_t>(C) * 31, 0.5, 7);
  std::vector<double> g_ref(params.size()), g(params.size());
  const double f_ref = reference_full_batch_objective(images, labels, batch, LossHead::kSoftmax, C, params.data(), 0.0,
                                                      g_ref.data());
  const auto engine = make_feature_batch_engine(x, y, LossHead::kSoftmax, C, 1, nullptr, {});
  EXPECT_EQ(engine->full_batch_objective(batch, params.data(), 0.0, g.data()), f_ref);
  EXPECT_EQ(g, g_ref);
  std::vector<std::uint32_t> all(37);
  std::iota(all.begin(), all.end(), 0u);  // another batch: its own rows, not the previous one's
  const double f_all = reference_full_batch_objective(images, labels, all, LossHead::kSoftmax, C, params.data(), 0.0,
                                                      g_ref.data());
  EXPECT_EQ(engine->full_batch_objective(all, params.data(), 0.0, g.data()), f_all);
  EXPECT_EQ(g, g_ref);
  EXPECT_NE(f_all, f_ref);
  EXPECT_THROW(engine->full_batch_objective({37}, params.data(), 0.0, g.data()), DataError);

  FeatureMatrix dense, csr;
  RandomFloatMatrix(29, 7, 5, &dense, &csr);
  std::vector<std::uint32_t> y29(29);
  for (std::size_t i = 0; i < y29.size(); ++i) y29[i] = static_cast<std::uint32_t>(i * 7 % 3);
  const std::vector<double> p3 = RandomParams(3 * 8, 0.1, 6);
  std::vector<double> gd(p3.size()), gs(p3.size());
  const std::vector<std::uint32_t> rows = {4, 28, 9, 1, 13};
  const double fd = make_feature_batch_engine(dense, y29, LossHead::kSoftmax, 3, 1, nullptr, {})
                        ->full_batch_objective(rows, p3.data(), 0.0, gd.data());
  EXPECT_EQ(make_feature_batch_engine(csr, y29, LossHead::kSoftmax, 3, 1, nullptr, {})
                ->full_batch_objective(rows, p3.data(), 0.0, gs.data()),
            fd);
  EXPECT_EQ(gs, gd);
}

// Row weights scale each row's loss (all 2: twice the objective, exactly), and without an intercept the bias is read
// as 0 and its gradient is 0 while the weights' gradient is that of a zero bias.
TEST(FeatureBatchEngine, RowWeightsAndNoIntercept) {
  const int C = 3;
  FeatureMatrix dense, csr;
  RandomFloatMatrix(29, 7, 8, &dense, &csr);
  std::vector<std::uint32_t> y(29);
  for (std::size_t i = 0; i < y.size(); ++i) y[i] = static_cast<std::uint32_t>(i * 5 % 3);
  const std::vector<std::uint32_t> rows = {3, 27, 8, 0, 19, 11, 6};
  std::vector<double> params = RandomParams(static_cast<std::size_t>(C) * 8, 0.1, 2);
  const std::size_t n_weights = static_cast<std::size_t>(C) * 7;
  std::vector<double> g1(params.size()), g2(params.size()), g0(params.size());
  const double f1 = make_feature_batch_engine(dense, y, LossHead::kSoftmax, C, 1, nullptr, {})
                        ->full_batch_objective(rows, params.data(), 0.0, g1.data());
  FeatureFitTerms twice;
  twice.row_weights.assign(29, 2.0);
  EXPECT_EQ(make_feature_batch_engine(dense, y, LossHead::kSoftmax, C, 1, nullptr, twice)
                ->full_batch_objective(rows, params.data(), 0.0, g2.data()),
            2 * f1);
  for (std::size_t j = 0; j < g1.size(); ++j) EXPECT_EQ(g2[j], 2 * g1[j]) << "parameter " << j;

  FeatureFitTerms no_bias;
  no_bias.intercept = false;
  const auto engine = make_feature_batch_engine(dense, y, LossHead::kSoftmax, C, 1, nullptr, no_bias);
  const double f_no_bias = engine->full_batch_objective(rows, params.data(), 0.0, g0.data());
  for (std::size_t c = 0; c < static_cast<std::size_t>(C); ++c) EXPECT_EQ(g0[n_weights + c], 0.0);
  std::fill(params.begin() + static_cast<std::ptrdiff_t>(n_weights), params.end(), 0.0);
  EXPECT_EQ(make_feature_batch_engine(dense, y, LossHead::kSoftmax, C, 1, nullptr, {})
                ->full_batch_objective(rows, params.data(), 0.0, g1.data()),
            f_no_bias);
  EXPECT_TRUE(std::equal(g1.begin(), g1.begin() + static_cast<std::ptrdiff_t>(n_weights), g0.begin()));
  EXPECT_NE(g1[n_weights], 0.0);
}

}  // namespace
}  // namespace logreg
