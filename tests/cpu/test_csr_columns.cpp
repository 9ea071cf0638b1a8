// The CSR weight gradient summed column by column (csr_columns.hpp, csr_gradient_columns): bit-identical to
// per-part gradient buffers filled row by row and added in part order, for every instruction set and any split
// of the columns; and the feature files' fused objective on CSR rows against the dense float64 pass over the
// same values (objective, gradient, Hessian-vector product within 1e-12 relative; bit-identical at 1 and 2
// threads).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "csr_columns.hpp"
#include "logreg/feature_model.hpp"
#include "logreg/rng.hpp"
#include "objective_loops.hpp"
#include "simd_kernels.hpp"
#include "test_support.hpp"

namespace logreg {
namespace {

// n rows of D columns with 0 to 6 entries each (columns ascending, some columns empty, none shared in a row),
// values in [-2, 2).
struct Csr {
  std::vector<std::uint64_t> start{0};
  std::vector<std::uint32_t> index;
  std::vector<double> values;
};
Csr RandomCsr(std::size_t n, std::size_t D, std::uint64_t seed) {
  Rng rng(seed, 5);
  Csr m;
  for (std::size_t i = 0; i < n; ++i) {
    std::vector<std::uint32_t> cols;
    const std::uint64_t count = rng.below(7);
    for (std::uint64_t e = 0; e < count; ++e) cols.push_back(static_cast<std::uint32_t>(rng.below(D)));
    std::sort(cols.begin(), cols.end());
    cols.erase(std::unique(cols.begin(), cols.end()), cols.end());
    for (std::uint32_t d : cols) {
      m.index.push_back(d);
      m.values.push_back(static_cast<double>(rng.below(4001)) / 1000.0 - 2.0);
    }
    m.start.push_back(m.index.size());
  }
  return m;
}

TEST(CsrColumns, GradientIsThePartBuffersSumBitForBit) {
  const int n = 203, C = 7, parts = 8;
  const std::size_t D = 300;
  const Csr m = RandomCsr(static_cast<std::size_t>(n), D, 3);
  cpu::ObjectiveRows rows;
  rows.layout = cpu::RowLayout::kCsr;
  rows.csr_start = m.start.data();
  rows.csr_index = m.index.data();
  rows.csr_values = m.values.data();
  const cpu::ObjectiveShape shape = cpu::ObjectiveShape::of(C, static_cast<int>(D));
  const std::size_t Ck = static_cast<std::size_t>(shape.Ck);
  cpu::CsrColumns cols;
  cols.build(rows, static_cast<std::size_t>(n), D, parts);
  ASSERT_TRUE(cols.of(rows, static_cast<std::size_t>(n), D, parts));
  EXPECT_EQ(cols.part_rows, 26);  // 203 rows in 8 parts: 25 or 26 each
  EXPECT_EQ(cols.value.size(), m.values.size());

  // Each row's dz (classes past C zero) at its slot.
  const std::vector<double> dz_rows = test::RandomParams(static_cast<std::size_t>(n) * Ck, 1.0, 7);
  std::vector<double> dz(static_cast<std::size_t>(parts * cols.part_rows) * Ck, 0.0);
  for (int p = 0; p < parts; ++p) {
    const int r0 = cpu::split_point(n, p, parts);
    for (int i = r0; i < cpu::split_point(n, p + 1, parts); ++i) {
      for (std::size_t c = 0; c < static_cast<std::size_t>(C); ++c) {
        dz[cpu::CsrColumns::slot_of(p, cols.part_rows, static_cast<std::size_t>(i), static_cast<std::size_t>(r0)) * Ck +
           c] = dz_rows[static_cast<std::size_t>(i) * Ck + c];
      }
    }
  }
  const CpuSimd widest = cpu::resolve_simd(CpuSimd::kAuto);
  // Part buffers (D, C) from +0, rows in order, added in part order; each product added with one rounding
  // (a fused multiply-add) or two.
  auto part_buffer_sums = [&](bool fused) {
    std::vector<double> expected(static_cast<std::size_t>(C) * D, 0.0);
    for (int p = 0; p < parts; ++p) {
      std::vector<double> part(D * static_cast<std::size_t>(C), 0.0);
      for (int i = cpu::split_point(n, p, parts); i < cpu::split_point(n, p + 1, parts); ++i) {
        const std::size_t row = static_cast<std::size_t>(i);
        for (std::uint64_t k = m.start[row]; k < m.start[row + 1]; ++k) {
          for (std::size_t c = 0; c < static_cast<std::size_t>(C); ++c) {
            double& s = part[m.index[k] * static_cast<std::size_t>(C) + c];
            const double a = dz_rows[static_cast<std::size_t>(i) * Ck + c];
            s = fused ? std::fma(a, m.values[k], s) : s + a * m.values[k];
          }
        }
      }
      for (std::size_t d = 0; d < D; ++d) {
        for (std::size_t c = 0; c < static_cast<std::size_t>(C); ++c) {
          double& e = expected[c * D + d];
          e = p == 0 ? part[d * static_cast<std::size_t>(C) + c] : e + part[d * static_cast<std::size_t>(C) + c];
        }
      }
    }
    return expected;
  };
  const std::vector<double> unfused = part_buffer_sums(false), fused = part_buffer_sums(true);
  ASSERT_NE(unfused, fused);  // the data tell the two apart
  for (CpuSimd simd : {CpuSimd::kSse2, widest}) {
    SCOPED_TRACE(cpu_simd_name(simd));
    // The baseline has no FMA; with FMA (objective_loops.cpp is built with -ffp-contract=fast) the compiler may
    // fuse the multiply-add or not, depending on the build's optimisation (the sanitizer build's differs), but
    // it does the same in the column pass and the buffers it replaced: the sums must be one of the two, bit for
    // bit.
    const bool fma_level = simd != CpuSimd::kSse2;
    std::vector<double> probe(fused.size(), -1.0);
    cpu::csr_gradient_columns(simd, cols, 0, static_cast<int>(D), shape, dz.data(), probe.data());
    const std::vector<double>& expected = fma_level && probe == fused ? fused : unfused;
    std::vector<double> whole(expected.size(), -1.0), pieces(expected.size(), -1.0);
    cpu::csr_gradient_columns(simd, cols, 0, static_cast<int>(D), shape, dz.data(), whole.data());
    for (int d0 : {0, 1, 97, 250}) {  // uneven column ranges
      const int d1 = d0 == 0 ? 1 : d0 == 1 ? 97 : d0 == 97 ? 250 : static_cast<int>(D);
      cpu::csr_gradient_columns(simd, cols, d0, d1, shape, dz.data(), pieces.data());
    }
    EXPECT_EQ(whole, expected);
    EXPECT_EQ(pieces, expected);
    // and bit for bit, the signs of zeros included
    EXPECT_EQ(std::memcmp(whole.data(), expected.data(), expected.size() * sizeof(double)), 0);
    EXPECT_EQ(std::memcmp(pieces.data(), expected.data(), expected.size() * sizeof(double)), 0);
  }
}

// The same values as CSR rows and as dense float64 rows.
void BothLayouts(const Csr& m, std::size_t n, std::size_t D, FeatureMatrix& csr, FeatureMatrix& dense) {
  csr.rows = dense.rows = n;
  csr.cols = dense.cols = D;
  csr.sparse = true;
  csr.row_start = m.start;
  csr.col_index = m.index;
  csr.values = m.values;
  dense.dtype = FeatureDtype::kFloat64;
  std::vector<double> v(n * D, 0.0);
  for (std::size_t i = 0; i < n; ++i) {
    for (std::uint64_t k = m.start[i]; k < m.start[i + 1]; ++k) v[i * D + m.index[k]] = m.values[k];
  }
  dense.dense.resize(v.size() * sizeof(double));
  std::memcpy(dense.dense.data(), v.data(), dense.dense.size());
}

TEST(CsrColumns, FusedCsrMatchesTheDensePassAndIsThreadIndependent) {
  const std::size_t n = 203, D = 300;
  const int C = 7;
  FeatureMatrix csr, dense;
  BothLayouts(RandomCsr(n, D, 4), n, D, csr, dense);
  std::vector<std::uint32_t> y(n);
  for (std::size_t i = 0; i < n; ++i) y[i] = static_cast<std::uint32_t>((i * 5 + i / 3) % C);
  cpu::ThreadTeam one_thread(1), two_threads(2);
  FeatureObjective dense_pass(dense, y, LossHead::kSoftmax, C, 8, &two_threads, FeatureFitTerms{});
  FeatureObjective csr1(csr, y, LossHead::kSoftmax, C, 8, &one_thread, FeatureFitTerms{});
  FeatureObjective csr2(csr, y, LossHead::kSoftmax, C, 8, &two_threads, FeatureFitTerms{});
  const std::size_t np = dense_pass.parameter_count();
  const double l2 = 1.0 / static_cast<double>(n);
  const std::vector<double> v = test::RandomParams(np, 1.0, 9);
  for (double scale : {0.0, 0.3, 3.0}) {
    SCOPED_TRACE("params scale " + std::to_string(scale));
    const std::vector<double> p = test::RandomParams(np, scale, 5);
    std::vector<double> gd(np), g1(np), g2(np), hd(np), h1(np), h2(np);
    const double fd = dense_pass(p.data(), l2, gd.data());
    const double f1 = csr1(p.data(), l2, g1.data());
    const double f2 = csr2(p.data(), l2, g2.data());
    EXPECT_EQ(f1, f2);
    EXPECT_EQ(g1, g2);
    EXPECT_NEAR(f1, fd, 1e-12 * std::fabs(fd));
    const double g_max = std::fabs(*std::max_element(gd.begin(), gd.end(), [](double a, double b) {
      return std::fabs(a) < std::fabs(b);
    }));
    EXPECT_TRUE(test::AllClose(gd, g1, 1e-12 * g_max, 1e-12));
    dense_pass.hessian_vector(p.data(), l2, v.data(), hd.data());
    csr1.hessian_vector(p.data(), l2, v.data(), h1.data());
    csr2.hessian_vector(p.data(), l2, v.data(), h2.data());
    EXPECT_EQ(h1, h2);
    const double h_max = std::fabs(*std::max_element(hd.begin(), hd.end(), [](double a, double b) {
      return std::fabs(a) < std::fabs(b);
    }));
    EXPECT_TRUE(test::AllClose(hd, h1, 1e-12 * h_max, 1e-12));
  }
}

}  // namespace
}  // namespace logreg
