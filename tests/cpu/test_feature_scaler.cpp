// The StandardScaler of `train --standardize` (feature_scaler.hpp): its fit against values worked out by hand
// (population deviation, a constant feature's scale of 1, CSR scaled but not centred) and its transform of dense
// and CSR rows, with the errors for an empty set and a width that differs.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "logreg/errors.hpp"
#include "logreg/feature_scaler.hpp"

namespace logreg {
namespace {

// A dense float64 matrix of `rows` rows from row-major values.
FeatureMatrix Dense(std::size_t rows, std::size_t cols, const std::vector<double>& v) {
  FeatureMatrix m;
  m.path = "dense.npz";
  m.rows = rows;
  m.cols = cols;
  m.dtype = FeatureDtype::kFloat64;
  m.dense.resize(v.size() * 8);
  std::memcpy(m.dense.data(), v.data(), m.dense.size());
  return m;
}

std::vector<double> Row(const FeatureMatrix& m, std::size_t i) {
  std::vector<double> x(m.cols);
  m.row_to_double(i, x.data());
  return x;
}

TEST(FeatureScaler, DenseFitIsThePopulationDeviationAndAConstantFeatureKeepsScale1) {
  // Column 0: 1, 2, 3, 6 (mean 3, variance (4 + 1 + 0 + 9) / 4 = 3.5); column 1: constant 5.
  const FeatureMatrix x = Dense(4, 2, {1, 5, 2, 5, 3, 5, 6, 5});
  const FeatureScaler s = fit_feature_scaler(x);
  ASSERT_EQ(s.mean.size(), 2u);
  EXPECT_DOUBLE_EQ(s.mean[0], 3.0);
  EXPECT_DOUBLE_EQ(s.mean[1], 5.0);
  EXPECT_DOUBLE_EQ(s.scale[0], std::sqrt(3.5));
  EXPECT_EQ(s.scale[1], 1.0);
  FeatureMatrix t = x;
  apply_feature_scaler(s, t, "the scaler");
  EXPECT_DOUBLE_EQ(Row(t, 3)[0], 3.0 / std::sqrt(3.5));
  EXPECT_EQ(Row(t, 3)[1], 0.0);
}

TEST(FeatureScaler, Uint8RowsAreFittedAsTheModelReadsThem) {
  FeatureMatrix x;
  x.path = "u8.npz";
  x.rows = 2;
  x.cols = 1;
  x.dtype = FeatureDtype::kUint8;
  x.dense = {0, 255};
  const FeatureScaler s = fit_feature_scaler(x);
  EXPECT_DOUBLE_EQ(s.mean[0], 0.5);
  EXPECT_DOUBLE_EQ(s.scale[0], 0.5);
  apply_feature_scaler(s, x, "the scaler");
  EXPECT_EQ(x.dtype, FeatureDtype::kFloat64);
  EXPECT_DOUBLE_EQ(Row(x, 0)[0], -1.0);
  EXPECT_DOUBLE_EQ(Row(x, 1)[0], 1.0);
}

TEST(FeatureScaler, CsrIsScaledNotCentredAndStaysSparse) {
  // 3 rows x 2 columns: column 0 holds 2 and 4 in rows 0 and 2 (mean 2, variance (0 + 4 + 4) / 3); column 1 none.
  FeatureMatrix x;
  x.path = "s.svm";
  x.rows = 3;
  x.cols = 2;
  x.sparse = true;
  x.row_start = {0, 1, 1, 2};
  x.col_index = {0, 0};
  x.values = {2.0, 4.0};
  const FeatureScaler s = fit_feature_scaler(x);
  EXPECT_EQ(s.mean, (std::vector<double>{0.0, 0.0}));
  EXPECT_DOUBLE_EQ(s.scale[0], std::sqrt(8.0 / 3.0));
  EXPECT_EQ(s.scale[1], 1.0);
  apply_feature_scaler(s, x, "the scaler");
  EXPECT_TRUE(x.sparse);
  EXPECT_DOUBLE_EQ(x.values[1], 4.0 / std::sqrt(8.0 / 3.0));
  // A centring scaler (fitted on dense rows) densifies CSR rows.
  FeatureScaler centring;
  centring.mean = {1.0, -1.0};
  centring.scale = {2.0, 4.0};
  FeatureMatrix y = x;
  apply_feature_scaler(centring, y, "the scaler");
  EXPECT_FALSE(y.sparse);
  EXPECT_EQ(Row(y, 1), (std::vector<double>{-0.5, 0.25}));
}

TEST(FeatureScaler, EmptySetAndOtherWidthAreDataErrorsNamingTheFile) {
  const FeatureMatrix none = Dense(0, 3, {});
  try {
    fit_feature_scaler(none);
    ADD_FAILURE() << "an empty set was fitted";
  } catch (const DataError& e) {
    EXPECT_EQ(e.file(), "dense.npz");
    EXPECT_NE(std::string(e.what()).find("--standardize needs training rows"), std::string::npos) << e.what();
  }
  FeatureScaler s;
  s.mean = {0.0, 0.0};
  s.scale = {1.0, 1.0};
  FeatureMatrix x = Dense(1, 3, {1, 2, 3});
  try {
    apply_feature_scaler(s, x, "the model m.lrm");
    ADD_FAILURE() << "a width mismatch was applied";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("has 3 features but the model m.lrm standardises 2"), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace logreg
