// The Newton-CG solver's parts: the fast CPU backend's fused Hessian-vector product (hessian_vector_rows,
// FullBatchObjective::hessian_vector) against the double reference (reference_full_batch_hessian_vector) within
// 1e-12 relative and bit-identical at 1, 2 and 3 threads; the reference against a central difference of its own
// gradient; the kept probabilities (a point evaluated earlier, or never) giving the same product; and
// minimize_newton_cg reaching L-BFGS's optimum. The CLI's side is test_cli_newton_cg.cpp.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>
#include <vector>

#include "logreg/cpu_fast.hpp"
#include "logreg/cpu_reference.hpp"
#include "logreg/errors.hpp"
#include "logreg/maths/objective_math.hpp"
#include "logreg/model.hpp"
#include "logreg/rng.hpp"
#include "logreg/solver.hpp"
#include "test_support.hpp"

namespace logreg {
namespace {

std::vector<double> RandomVector(std::size_t n, double scale, std::uint64_t seed) {
  Rng rng(seed, 5);
  std::vector<double> v(n);
  for (double& x : v) x = scale * (static_cast<double>(rng.below(1u << 20)) / (1u << 20) - 0.5);
  return v;
}

using test::MaxAbs;
using test::ObjectiveProblem;

class HessianVector : public ::testing::TestWithParam<ObjectiveProblem> {};

// Each component within 1e-12 of its own size plus 1e-12 of the product's largest component (a component is a
// sum of terms of either sign); the same bits at 1, 2 and 3 threads.
TEST_P(HessianVector, FusedMatchesTheReferenceAndIsTheSameAtAnyThreadCount) {
  const ObjectiveProblem& pr = GetParam();
  const ImageSet images = test::RandomImages(pr.rows, pr.height, pr.width, 90 + pr.rows);
  const LabelSet labels = test::RandomLabels(pr.rows, pr.classes, 90 + pr.rows);
  const int C = pr.classes;
  const int D = pr.dim();
  const std::vector<std::uint32_t> rows = pr.row_indices();
  const double l2 = l2_strength(1.0, static_cast<double>(rows.size()));
  const std::size_t n_params = pr.n_params();
  const std::vector<double> x = RandomVector(n_params, 0.05, 11);
  const std::vector<double> v = RandomVector(n_params, 1.0, 12);
  std::vector<double> hv_ref(n_params);
  reference_full_batch_hessian_vector(images, labels, rows, LossHead::kSoftmax, C, x.data(), l2, v.data(),
                                      hv_ref.data());
  const double scale = MaxAbs(hv_ref);
  ASSERT_GT(scale, 0.0);
  for (const CpuSimd simd : test::SimdLevelsOfThisCpu()) {
    SCOPED_TRACE(cpu_simd_name(simd));
    std::vector<std::vector<double>> hv(3, std::vector<double>(n_params));
    for (int threads = 1; threads <= 3; ++threads) {
      const auto fast = make_cpu_fast_full_batch_engine(images, labels, test::ZeroModel(D, C, LossHead::kSoftmax), threads, simd);
      std::vector<double> g(n_params);
      fast->full_batch_objective(rows, x.data(), l2, g.data());  // keeps the probabilities at x
      fast->full_batch_hessian_vector(rows, x.data(), l2, v.data(), hv[static_cast<std::size_t>(threads - 1)].data());
    }
    EXPECT_TRUE(test::AllClose(hv_ref, hv[0], 1e-12 * scale, 1e-12));
    EXPECT_EQ(hv[0], hv[1]);
    EXPECT_EQ(hv[0], hv[2]);
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, HessianVector, ::testing::ValuesIn(test::kObjectiveProblems),
                         [](const ::testing::TestParamInfo<ObjectiveProblem>& info) {
                           return std::string(info.param.name);
                         });

// H v against (g(x + h v) - g(x - h v)) / 2h of the reference's own gradient: the maths of hessian_row (and the
// penalty's l2 v) is the derivative of objective_row's dz. A central difference is exact to O(h^2) and rounding
// ~eps |g| / h; h = 1e-4 along a unit-scale v leaves both near 1e-8 of the product's size.
TEST(HessianVectorMaths, IsTheDerivativeOfTheGradient) {
  const int C = 4, D = 12;
  const ImageSet images = test::RandomImages(60, 3, 4, 5);
  const LabelSet labels = test::RandomLabels(60, C, 5);
  std::vector<std::uint32_t> rows(60);
  std::iota(rows.begin(), rows.end(), 0u);
  const std::size_t n = static_cast<std::size_t>(C) * D + C;
  const double l2 = 0.3;
  const std::vector<double> x = RandomVector(n, 2.0, 21);
  const std::vector<double> v = RandomVector(n, 2.0, 22);
  std::vector<double> hv(n), gp(n), gm(n), xp(n), xm(n);
  reference_full_batch_hessian_vector(images, labels, rows, LossHead::kSoftmax, C, x.data(), l2, v.data(), hv.data());
  const double h = 1e-4;
  for (std::size_t j = 0; j < n; ++j) {
    xp[j] = x[j] + h * v[j];
    xm[j] = x[j] - h * v[j];
  }
  reference_full_batch_objective(images, labels, rows, LossHead::kSoftmax, C, xp.data(), l2, gp.data());
  reference_full_batch_objective(images, labels, rows, LossHead::kSoftmax, C, xm.data(), l2, gm.data());
  std::vector<double> fd(n);
  for (std::size_t j = 0; j < n; ++j) fd[j] = (gp[j] - gm[j]) / (2 * h);
  EXPECT_TRUE(test::AllClose(fd, hv, 1e-7 * MaxAbs(fd), 1e-6));
  // And without the penalty the product differs by exactly l2 v on the weights: the penalty's part is there.
  std::vector<double> hv0(n);
  reference_full_batch_hessian_vector(images, labels, rows, LossHead::kSoftmax, C, x.data(), 0.0, v.data(), hv0.data());
  for (std::size_t j = 0; j < static_cast<std::size_t>(C) * D; ++j) EXPECT_NEAR(hv[j] - hv0[j], l2 * v[j], 1e-12);
  for (std::size_t j = static_cast<std::size_t>(C) * D; j < n; ++j) EXPECT_EQ(hv[j], hv0[j]);
}

// The fast backend keeps the probabilities of the last two points it evaluated: a product at either of them,
// and at a point evaluated earlier and since replaced (or never evaluated), gives the same bits as a fresh
// backend that evaluated that point just before.
TEST(HessianVectorKept, AnyPointGivesTheProductOfAFreshEvaluation) {
  const int C = 10, D = 64;
  const ImageSet images = test::RandomImages(150, 8, 8, 3);
  const LabelSet labels = test::RandomLabels(150, C, 3);
  std::vector<std::uint32_t> rows(150);
  std::iota(rows.begin(), rows.end(), 0u);
  const std::size_t n = static_cast<std::size_t>(C) * D + C;
  const double l2 = l2_strength(1.0, 150.0);
  const std::vector<double> x1 = RandomVector(n, 0.1, 31), x2 = RandomVector(n, 0.1, 32), x3 = RandomVector(n, 0.1, 33);
  const std::vector<double> v = RandomVector(n, 1.0, 34);
  auto fresh = [&](const std::vector<double>& x) {
    const auto b = make_cpu_fast_full_batch_engine(images, labels, test::ZeroModel(D, C, LossHead::kSoftmax), 2);
    std::vector<double> g(n), hv(n);
    b->full_batch_objective(rows, x.data(), l2, g.data());
    b->full_batch_hessian_vector(rows, x.data(), l2, v.data(), hv.data());
    return hv;
  };
  const std::vector<double> h1 = fresh(x1), h2 = fresh(x2), h3 = fresh(x3);
  EXPECT_NE(h1, h2);
  const auto b = make_cpu_fast_full_batch_engine(images, labels, test::ZeroModel(D, C, LossHead::kSoftmax), 2);
  std::vector<double> g(n), hv(n);
  b->full_batch_hessian_vector(rows, x1.data(), l2, v.data(), hv.data());  // never evaluated
  EXPECT_EQ(hv, h1);
  b->full_batch_objective(rows, x2.data(), l2, g.data());
  b->full_batch_hessian_vector(rows, x1.data(), l2, v.data(), hv.data());  // kept, one evaluation back
  EXPECT_EQ(hv, h1);
  b->full_batch_hessian_vector(rows, x2.data(), l2, v.data(), hv.data());
  EXPECT_EQ(hv, h2);
  b->full_batch_objective(rows, x3.data(), l2, g.data());  // replaces x1 (the least recently used)
  b->full_batch_hessian_vector(rows, x2.data(), l2, v.data(), hv.data());
  EXPECT_EQ(hv, h2);
  b->full_batch_hessian_vector(rows, x3.data(), l2, v.data(), hv.data());
  EXPECT_EQ(hv, h3);
  b->full_batch_hessian_vector(rows, x1.data(), l2, v.data(), hv.data());  // evaluated again
  EXPECT_EQ(hv, h1);
}

TEST(HessianVectorKept, OtherHeadsAreRefusedNamingTheSolver) {
  const ImageSet images = test::RandomImages(20, 2, 2, 1);
  const LabelSet labels = test::RandomLabels(20, 3, 1);
  std::vector<std::uint32_t> rows(20);
  std::iota(rows.begin(), rows.end(), 0u);
  std::vector<double> x(15, 0.0), v(15, 1.0), hv(15);
  for (const LossHead head : {LossHead::kOvr, LossHead::kSigmoidSoftmax}) {
    const auto fast = make_cpu_fast_full_batch_engine(images, labels, test::ZeroModel(4, 3, head), 2);
    try {
      fast->full_batch_hessian_vector(rows, x.data(), 0.0, v.data(), hv.data());
      FAIL() << "expected a UsageError";
    } catch (const UsageError& e) {
      EXPECT_NE(std::string(e.what()).find("--solver newton-cg needs"), std::string::npos) << e.what();
    }
    EXPECT_THROW(reference_full_batch_hessian_vector(images, labels, rows, head, 3, x.data(), 0.0, v.data(), hv.data()),
                 UsageError);
  }
}

// On a convex quadratic, f = x^T A x / 2 - b^T x, Newton's step is exact: CG solves A s = -g in at most n
// products, and one accepted step reaches the minimum A^{-1} b (the trust region permitting).
TEST(NewtonCgSolver, SolvesAQuadratic) {
  const std::vector<double> a_diag = {1.0, 4.0, 9.0};
  const std::vector<double> b = {1.0, -2.0, 3.0};
  auto f = [&](const double* x, double* g) {
    double v = 0.0;
    for (std::size_t j = 0; j < 3; ++j) {
      g[j] = a_diag[j] * x[j] - b[j];
      v += 0.5 * a_diag[j] * x[j] * x[j] - b[j] * x[j];
    }
    return v;
  };
  auto hv = [&](const double*, const double* v, double* out) {
    for (std::size_t j = 0; j < 3; ++j) out[j] = a_diag[j] * v[j];
  };
  NewtonCgConfig config;
  config.tol = 1e-12;
  config.cg_forcing = 1e-14;
  const LbfgsResult r = minimize_newton_cg(f, hv, {0.0, 0.0, 0.0}, config);
  ASSERT_TRUE(r.converged()) << r.reason;
  for (std::size_t j = 0; j < 3; ++j) EXPECT_NEAR(r.x[j], b[j] / a_diag[j], 1e-12);
  EXPECT_LE(r.iterations, 3);
  EXPECT_GE(r.hessian_products, 3);
}

// Rosenbrock's function from (-1.2, 1): its Hessian is indefinite there and the first trust region (|g|, about
// 232) far too large, so trial steps must be rejected. Every accepted step decreases f, steps were rejected
// (more evaluations than accepted steps), and the minimum (1, 1) is reached.
TEST(NewtonCgSolver, RejectsStepsThatDoNotDecreaseTheObjective) {
  auto f = [](const double* x, double* g) {
    const double a = 1.0 - x[0], b = x[1] - x[0] * x[0];
    g[0] = -2.0 * a - 400.0 * x[0] * b;
    g[1] = 200.0 * b;
    return a * a + 100.0 * b * b;
  };
  auto hv = [](const double* x, const double* v, double* out) {
    const double hxx = 2.0 - 400.0 * x[1] + 1200.0 * x[0] * x[0], hxy = -400.0 * x[0], hyy = 200.0;
    out[0] = hxx * v[0] + hxy * v[1];
    out[1] = hxy * v[0] + hyy * v[1];
  };
  NewtonCgConfig config;
  config.tol = 1e-8;
  config.max_iter = 500;
  double previous = 24.2;  // f(-1.2, 1)
  bool decreasing = true;
  const LbfgsResult r = minimize_newton_cg(f, hv, {-1.2, 1.0}, config, [&](const LbfgsIteration& it) {
    if (!(it.objective < previous)) decreasing = false;
    previous = it.objective;
    return true;
  });
  EXPECT_TRUE(decreasing) << "an accepted step increased f";
  ASSERT_TRUE(r.converged()) << r.reason;
  EXPECT_NEAR(r.x[0], 1.0, 1e-6);
  EXPECT_NEAR(r.x[1], 1.0, 1e-6);
  EXPECT_GT(r.evaluations, r.iterations + 1) << "no trial step was rejected: the test does not exercise rejection";
}

// The same optimum as L-BFGS (the reference's objective), both to max |g| <= 1e-8: objectives within 1e-9
// relative; Newton-CG's iterates decrease f; max-iter is not convergence; a run is reproducible; a stop request
// ends it within one pass.
TEST(NewtonCgSolver, ReachesTheOptimumOfLbfgs) {
  const int C = 5, D = 36;
  const ImageSet images = test::RandomImages(240, 6, 6, 8);
  const LabelSet labels = test::RandomLabels(240, C, 8);
  std::vector<std::uint32_t> rows(240);
  std::iota(rows.begin(), rows.end(), 0u);
  const std::size_t n = static_cast<std::size_t>(C) * D + C;
  const double l2 = l2_strength(1.0, 240.0);
  const auto fast = make_cpu_fast_full_batch_engine(images, labels, test::ZeroModel(D, C, LossHead::kSoftmax), 2);
  auto f = [&](const double* x, double* g) { return fast->full_batch_objective(rows, x, l2, g); };
  auto hv = [&](const double* x, const double* v, double* out) {
    fast->full_batch_hessian_vector(rows, x, l2, v, out);
  };
  LbfgsConfig lc;
  lc.tol = 1e-8;
  lc.max_iter = 5000;
  const LbfgsResult lb = minimize_lbfgs(f, std::vector<double>(n, 0.0), lc);
  NewtonCgConfig nc;
  nc.tol = 1e-8;
  nc.max_iter = 200;
  std::vector<double> objectives;
  const LbfgsResult nt = minimize_newton_cg(f, hv, std::vector<double>(n, 0.0), nc, [&](const LbfgsIteration& it) {
    objectives.push_back(it.objective);
    return true;
  });
  ASSERT_TRUE(lb.converged()) << lb.reason;
  ASSERT_EQ(nt.stop, LbfgsStop::kGradientTol) << nt.reason;
  EXPECT_LE(nt.grad_max, 1e-8);
  EXPECT_NEAR(nt.objective, lb.objective, 1e-9 * std::fabs(lb.objective));
  EXPECT_LT(nt.iterations, lb.iterations);
  EXPECT_EQ(static_cast<int>(objectives.size()), nt.iterations);
  for (std::size_t k = 1; k < objectives.size(); ++k) EXPECT_LT(objectives[k], objectives[k - 1]);
  EXPECT_GT(nt.hessian_products, nt.iterations);

  const LbfgsResult again = minimize_newton_cg(f, hv, std::vector<double>(n, 0.0), nc);
  EXPECT_EQ(again.x, nt.x);
  EXPECT_EQ(again.hessian_products, nt.hessian_products);

  // A stop request is seen within one pass, in the middle of a Newton step: the result is the last accepted
  // point, the one a run limited to that many iterations ends at.
  int products = 0;
  auto counted_hv = [&](const double* x, const double* v, double* out) {
    ++products;
    hv(x, v, out);
  };
  const int stop_after = nt.hessian_products / 2;
  const LbfgsResult stopped = minimize_newton_cg(f, counted_hv, std::vector<double>(n, 0.0), nc, {},
                                                 [&]() { return products >= stop_after; });
  EXPECT_EQ(stopped.stop, LbfgsStop::kStopRequested);
  EXPECT_EQ(products, stop_after);
  EXPECT_EQ(stopped.hessian_products, stop_after);
  ASSERT_GT(stopped.iterations, 0);
  NewtonCgConfig limited = nc;
  limited.max_iter = stopped.iterations;
  EXPECT_EQ(minimize_newton_cg(f, hv, std::vector<double>(n, 0.0), limited).x, stopped.x);

  nc.max_iter = 2;
  const LbfgsResult short_run = minimize_newton_cg(f, hv, std::vector<double>(n, 0.0), nc);
  EXPECT_EQ(short_run.stop, LbfgsStop::kMaxIter);
  EXPECT_FALSE(short_run.converged());
  EXPECT_EQ(short_run.iterations, 2);
  EXPECT_NE(short_run.reason.find("max-iter 2 reached"), std::string::npos) << short_run.reason;
}

}  // namespace
}  // namespace logreg
