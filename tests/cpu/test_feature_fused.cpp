// The feature files' objective on --device cpu (the fused pass of cpu/objective_loops.hpp) against the reference
// (one plain pass in row order), for every row layout (uint8, float32, float64, CSR), with and without sample
// and class weights and an intercept: objective, gradient and Hessian-vector product bit-identical at 1 and 2
// threads and within 1e-9 relative of the reference at the start, mid-fit and the optimum; integer sample
// weights equal repeated rows; no intercept equals a zero bias. And the readers and checks of the weights
// (fit_weights.hpp).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "logreg/errors.hpp"
#include "logreg/feature_model.hpp"
#include "logreg/fit_weights.hpp"
#include "logreg/rng.hpp"
#include "logreg/solver.hpp"
#include "test_support.hpp"

namespace logreg {
namespace {

using test::RandomParams;

enum class Layout { kUint8, kFloat32, kFloat64, kCsr };
const char* LayoutName(Layout l) {
  return l == Layout::kUint8 ? "Uint8" : l == Layout::kFloat32 ? "Float32" : l == Layout::kFloat64 ? "Float64" : "Csr";
}

// (rows, cols) values in `layout`, about a third zeros, generated from `seed`; labels i % C mixed by the values.
FeatureMatrix RandomMatrix(Layout layout, std::size_t rows, std::size_t cols, std::uint64_t seed) {
  Rng rng(seed, 3);
  FeatureMatrix m;
  m.rows = rows;
  m.cols = cols;
  std::vector<double> v(rows * cols);
  for (double& x : v) {
    const bool zero = rng.below(3) == 0;
    x = zero ? 0.0 : layout == Layout::kUint8 ? static_cast<double>(rng.below(256)) : static_cast<double>(rng.below(2001)) / 400.0 - 2.5;
  }
  switch (layout) {
    case Layout::kUint8:
      m.dtype = FeatureDtype::kUint8;
      for (double x : v) m.dense.push_back(static_cast<std::uint8_t>(x));
      break;
    case Layout::kFloat32: {
      m.dtype = FeatureDtype::kFloat32;
      std::vector<float> f(v.begin(), v.end());
      m.dense.resize(f.size() * 4);
      std::memcpy(m.dense.data(), f.data(), m.dense.size());
      break;
    }
    case Layout::kFloat64:
      m.dtype = FeatureDtype::kFloat64;
      m.dense.resize(v.size() * 8);
      std::memcpy(m.dense.data(), v.data(), m.dense.size());
      break;
    case Layout::kCsr:
      m.sparse = true;
      m.row_start = {0};
      for (std::size_t i = 0; i < rows; ++i) {
        for (std::size_t d = 0; d < cols; ++d) {
          if (v[i * cols + d] != 0.0) {
            m.col_index.push_back(static_cast<std::uint32_t>(d));
            m.values.push_back(v[i * cols + d]);
          }
        }
        m.row_start.push_back(m.values.size());
      }
      break;
  }
  return m;
}

std::vector<std::uint32_t> Labels(const FeatureMatrix& x, int C) {
  std::vector<std::uint32_t> y(x.rows);
  std::vector<double> row(x.cols);
  for (std::size_t i = 0; i < x.rows; ++i) {
    x.row_to_double(i, row.data());
    const double s = row[0] + 2.0 * row[1 % x.cols] - row[x.cols - 1];
    y[i] = static_cast<std::uint32_t>((i + (s > 0 ? 1 : 0)) % static_cast<std::size_t>(C));
  }
  return y;
}

// |ref - x| <= rtol (|ref| + scale) elementwise: near the optimum a gradient is the cancellation of terms the size
// of the gradient at the start (`scale`, its max-norm there), which bounds its rounding.
::testing::AssertionResult CloseRelative(const std::vector<double>& ref, const std::vector<double>& x, double rtol,
                                         double scale) {
  return test::AllClose(ref, x, rtol * scale, rtol);
}

using test::MaxAbs;

struct Case {
  Layout layout;
  int C;
  std::size_t D;
  bool weighted;
  bool intercept;
};

class FeatureFused : public ::testing::TestWithParam<Case> {};

TEST_P(FeatureFused, MatchesTheReferenceAndIsThreadIndependent) {
  const Case k = GetParam();
  const FeatureMatrix x = RandomMatrix(k.layout, 157, k.D, 11 + k.D);
  const std::vector<std::uint32_t> y = Labels(x, k.C);
  FeatureFitTerms terms;
  terms.intercept = k.intercept;
  if (k.weighted) {
    std::vector<double> sw(x.rows);
    for (std::size_t i = 0; i < sw.size(); ++i) sw[i] = i % 7 == 0 ? 0.0 : 0.25 + static_cast<double>(i % 5);
    std::vector<double> cw(static_cast<std::size_t>(k.C));
    for (int c = 0; c < k.C; ++c) cw[static_cast<std::size_t>(c)] = 0.5 + c;
    terms = fit_terms_of(sw, cw, y, k.intercept, "test");
  }
  cpu::ThreadTeam one_thread(1), two_threads(2);
  FeatureObjective ref(x, y, LossHead::kSoftmax, k.C, 1, nullptr, terms);
  FeatureObjective fused1(x, y, LossHead::kSoftmax, k.C, 8, &one_thread, terms);
  FeatureObjective fused2(x, y, LossHead::kSoftmax, k.C, 8, &two_threads, terms);
  const std::size_t n = ref.parameter_count();
  ASSERT_EQ(n, (k.D + (k.intercept ? 1 : 0)) * static_cast<std::size_t>(k.C));
  const double l2 = 1.0 / (1.0 * ref.weight_total());

  // The optimum, by L-BFGS on the reference.
  LbfgsConfig config;
  config.tol = 1e-9;
  config.max_iter = 2000;
  const LbfgsResult fit = minimize_lbfgs([&](const double* p, double* g) { return ref(p, l2, g); },
                                         std::vector<double>(n, 0.0), config);
  const std::vector<std::vector<double>> points = {std::vector<double>(n, 0.0), RandomParams(n, 0.05, 5), fit.x};
  const std::vector<double> v = RandomParams(n, 1.0, 9);
  std::vector<double> g0(n), h0(n);
  ref(points[0].data(), l2, g0.data());
  ref.hessian_vector(points[0].data(), l2, v.data(), h0.data());
  const double g_scale = MaxAbs(g0), h_scale = MaxAbs(h0);
  for (std::size_t at = 0; at < points.size(); ++at) {
    SCOPED_TRACE("point " + std::to_string(at));
    const double* p = points[at].data();
    std::vector<double> g_ref(n), g1(n), g2(n), h_ref(n), h1(n), h2(n);
    const double f_ref = ref(p, l2, g_ref.data());
    const double f1 = fused1(p, l2, g1.data());
    const double f2 = fused2(p, l2, g2.data());
    EXPECT_EQ(f1, f2);
    EXPECT_EQ(g1, g2);
    EXPECT_NEAR(f1, f_ref, 1e-9 * std::fabs(f_ref));
    EXPECT_TRUE(CloseRelative(g_ref, g1, 1e-9, g_scale));
    ref.hessian_vector(p, l2, v.data(), h_ref.data());
    fused1.hessian_vector(p, l2, v.data(), h1.data());
    fused2.hessian_vector(p, l2, v.data(), h2.data());
    EXPECT_EQ(h1, h2);
    EXPECT_TRUE(CloseRelative(h_ref, h1, 1e-9, h_scale));
  }
  // The Hessian-vector product is the gradient's derivative along v (central differences on the reference).
  const double eps = 1e-6;
  std::vector<double> pp = fit.x, pm = fit.x, gp(n), gm(n), h(n);
  for (std::size_t j = 0; j < n; ++j) {
    pp[j] += eps * v[j];
    pm[j] -= eps * v[j];
  }
  ref(pp.data(), l2, gp.data());
  ref(pm.data(), l2, gm.data());
  fused2.hessian_vector(fit.x.data(), l2, v.data(), h.data());
  std::vector<double> fd(n);
  for (std::size_t j = 0; j < n; ++j) fd[j] = (gp[j] - gm[j]) / (2 * eps);
  EXPECT_TRUE(CloseRelative(fd, h, 1e-5, MaxAbs(h)));
}

std::vector<Case> AllCases() {
  std::vector<Case> cases;
  for (Layout l : {Layout::kUint8, Layout::kFloat32, Layout::kFloat64, Layout::kCsr}) {
    cases.push_back({l, 4, 13, false, true});
    cases.push_back({l, 3, 1, true, true});
    cases.push_back({l, 12, 21, true, false});
  }
  return cases;
}

std::string CaseName(const ::testing::TestParamInfo<Case>& info) {
  const Case& k = info.param;
  return std::string(LayoutName(k.layout)) + "C" + std::to_string(k.C) + "D" + std::to_string(k.D) +
         (k.weighted ? "Weighted" : "") + (k.intercept ? "" : "NoIntercept");
}

INSTANTIATE_TEST_SUITE_P(EveryLayout, FeatureFused, ::testing::ValuesIn(AllCases()), CaseName);

// Integer sample weights are repeated rows: row 0 weighted 3 and row 1 weighted 0 is row 0 three times and no
// row 1 (S counts the weights, as scikit-learn's rescaling does), on both devices.
TEST(FeatureWeights, IntegerSampleWeightsAreRepeatedRows) {
  const int C = 3;
  const FeatureMatrix x = RandomMatrix(Layout::kFloat64, 40, 6, 3);
  const std::vector<std::uint32_t> y = Labels(x, C);
  std::vector<double> sw(x.rows, 1.0);
  sw[0] = 3.0;
  sw[1] = 0.0;
  FeatureMatrix rep = x;
  rep.dense.clear();
  std::vector<std::uint32_t> rep_y;
  const std::size_t row_bytes = x.cols * 8;
  for (std::size_t i = 0; i < x.rows; ++i) {
    for (int k = 0; k < static_cast<int>(sw[i]); ++k) {
      rep.dense.insert(rep.dense.end(), x.dense.begin() + static_cast<std::ptrdiff_t>(i * row_bytes),
                       x.dense.begin() + static_cast<std::ptrdiff_t>((i + 1) * row_bytes));
      rep_y.push_back(y[i]);
    }
  }
  rep.rows = rep_y.size();
  const FeatureFitTerms terms = fit_terms_of(sw, std::vector<double>(C, 1.0), y, true, "test");
  EXPECT_EQ(terms.weight_total, 41.0);
  cpu::ThreadTeam team(2);
  const std::vector<double> p = RandomParams((x.cols + 1) * C, 0.3, 4);
  for (int parts : {1, 8}) {
    FeatureObjective weighted(x, y, LossHead::kSoftmax, C, parts, &team, terms);
    FeatureObjective repeated(rep, rep_y, LossHead::kSoftmax, C, parts, &team);
    std::vector<double> gw(p.size()), gr(p.size());
    const double l2 = 1.0 / 41.0;
    const double fw = weighted(p.data(), l2, gw.data());
    const double fr = repeated(p.data(), l2, gr.data());
    EXPECT_NEAR(fw, fr, 1e-13 * fr) << parts << " parts";
    EXPECT_TRUE(test::AllClose(gr, gw, 1e-14, 1e-12)) << parts << " parts";
  }
}

// Without an intercept the parameters are the weights alone: the objective is the one with a zero bias, the
// gradient its weights' part.
TEST(FeatureWeights, NoInterceptIsAZeroBias) {
  const int C = 4;
  const FeatureMatrix x = RandomMatrix(Layout::kCsr, 60, 9, 6);
  const std::vector<std::uint32_t> y = Labels(x, C);
  FeatureFitTerms none;
  none.intercept = false;
  std::vector<double> p = RandomParams(9 * C, 0.3, 1), with_bias = p;
  with_bias.resize(10 * C, 0.0);
  for (int parts : {1, 8}) {
    cpu::ThreadTeam team(2);
    FeatureObjective full(x, y, LossHead::kSoftmax, C, parts, &team), no_b(x, y, LossHead::kSoftmax, C, parts, &team, none);
    ASSERT_EQ(no_b.parameter_count(), 9u * C);
    std::vector<double> g_full(with_bias.size()), g(p.size());
    EXPECT_EQ(no_b(p.data(), 0.1, g.data()), full(with_bias.data(), 0.1, g_full.data()));
    EXPECT_EQ(g, std::vector<double>(g_full.begin(), g_full.begin() + 9 * C));
  }
}

NpyArray Npy(char kind, std::size_t itemsize, std::vector<std::uint64_t> shape, const std::vector<double>& values) {
  NpyArray a;
  a.member = "w.npy";
  a.kind = kind;
  a.itemsize = itemsize;
  a.shape = std::move(shape);
  for (double v : values) {
    std::uint8_t bytes[8];
    if (itemsize == 4) {
      const float f = static_cast<float>(v);
      std::memcpy(bytes, &f, 4);
    } else {
      std::memcpy(bytes, &v, 8);
    }
    a.data.insert(a.data.end(), bytes, bytes + itemsize);
  }
  return a;
}

void ExpectDataError(const std::function<void()>& fn, const std::string& needle) {
  try {
    fn();
    ADD_FAILURE() << "no DataError (expected one saying '" << needle << "')";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(FeatureWeights, SampleWeightsAreCheckedAndRead) {
  EXPECT_EQ(sample_weights_of(Npy('f', 4, {3}, {1.0, 0.5, 0.0}), "w", 3), (std::vector<double>{1.0, 0.5, 0.0}));
  EXPECT_EQ(sample_weights_of(Npy('f', 8, {2}, {2.0, 0.25}), "w", 2), (std::vector<double>{2.0, 0.25}));
  ExpectDataError([] { sample_weights_of(Npy('f', 8, {2}, {1.0, 1.0}), "w.npy", 3); }, "holds 2 sample weights");
  ExpectDataError([] { sample_weights_of(Npy('f', 8, {2}, {1.0, -1.0}), "w.npy", 2); }, "sample weight -1 at row 1");
  ExpectDataError([] { sample_weights_of(Npy('f', 8, {2}, {NAN, 1.0}), "w.npy", 2); }, "at row 0");
  ExpectDataError([] { sample_weights_of(Npy('f', 8, {2}, {0.0, 0.0}), "w.npy", 2); }, "every sample weight is zero");
  ExpectDataError([] { sample_weights_of(Npy('f', 8, {1, 2}, {1.0, 1.0}), "w.npy", 2); }, "1-D");
  ExpectDataError([] { sample_weights_of(Npy('i', 8, {2}, {1.0, 1.0}), "w.npy", 2); }, "float32 or float64");
}

TEST(FeatureWeights, ClassWeightsBalancedAndFromAFile) {
  const std::vector<std::int64_t> classes = {-1, 4, 9};
  const std::vector<std::uint32_t> y = {0, 0, 0, 1, 2, 2};
  const std::vector<double> balanced = class_weights_of("balanced", classes, y);
  EXPECT_EQ(balanced, (std::vector<double>{6.0 / 9.0, 6.0 / 3.0, 6.0 / 6.0}));
  EXPECT_EQ(class_weights_of("none", classes, y), (std::vector<double>{1.0, 1.0, 1.0}));
  const std::string path = ::testing::TempDir() + "class_weights.txt";
  auto write = [&](const std::string& text) {
    FILE* f = std::fopen(path.c_str(), "w");
    std::fputs(text.c_str(), f);
    std::fclose(f);
  };
  write("# label weight\n9 2.5\n\n-1 0.5  # the negative class\n");
  EXPECT_EQ(class_weights_of(path, classes, y), (std::vector<double>{0.5, 1.0, 2.5}));
  write("7 1\n");
  ExpectDataError([&] { class_weights_of(path, classes, y); }, "line 1: label 7 is not one of the training labels");
  write("4 1\n4 2\n");
  ExpectDataError([&] { class_weights_of(path, classes, y); }, "line 2: label 4 was given already on line 1");
  write("4 -2\n");
  ExpectDataError([&] { class_weights_of(path, classes, y); }, "weights must be finite and >= 0");
  write("4\n");
  ExpectDataError([&] { class_weights_of(path, classes, y); }, "expected `LABEL WEIGHT`");
  write("four 1\n");
  ExpectDataError([&] { class_weights_of(path, classes, y); }, "expected an integer label");
  EXPECT_THROW(class_weights_of("balance", classes, y), UsageError);
  ExpectDataError([&] { fit_terms_of({}, {0.0, 0.0, 0.0}, y, true, "data.npz"); }, "every row's weight");
  ExpectDataError([&] { class_weights_of("balanced", {1, 2, 3}, {0, 1, 1}); }, "class 3 has no training row");
}

}  // namespace
}  // namespace logreg
