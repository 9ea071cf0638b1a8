// The full-batch objective of the L-BFGS solver (maths/objective_math.hpp) on the reference and the fast CPU
// backend: known values, the gradient against central finite differences of the objective, the fast backend
// against the reference, bit-identical reruns; and minimize_lbfgs (solver.hpp) on problems with known optima.
#include <gtest/gtest.h>

#include <cmath>
#include <numeric>
#include <stdexcept>
#include <vector>

#include "logreg/cpu_fast.hpp"
#include "logreg/cpu_reference.hpp"
#include "logreg/errors.hpp"
#include "logreg/maths/objective_math.hpp"
#include "logreg/model.hpp"
#include "logreg/rng.hpp"
#include "logreg/solver.hpp"
#include "simulated_ranks.hpp"
#include "test_support.hpp"

namespace logreg {
namespace {

using test::AllClose;
using test::RandomParams;

std::vector<std::uint32_t> AllRows(std::uint32_t n) {
  std::vector<std::uint32_t> rows(n);
  std::iota(rows.begin(), rows.end(), 0u);
  return rows;
}

TEST(ObjectiveMath, PenaltyStrengthIsOneOverCn) {
  EXPECT_DOUBLE_EQ(l2_strength(1.0, 100.0), 0.01);
  EXPECT_DOUBLE_EQ(l2_strength(0.5, 4.0), 0.5);
  EXPECT_EQ(l2_strength(INFINITY, 100.0), 0.0);
  EXPECT_DOUBLE_EQ(weight_penalty(2.0, 0.5), 1.0);
  EXPECT_DOUBLE_EQ(penalised_weight_grad(0.25, 2.0, 0.5), 1.25);
}

// One row, one pixel of 255 (x = 1), two classes, label 0, W = [[2], [0]], b = [0.5, 0]:
// z = [2.5, 0], loss = log(1 + e^-2.5); with l2 = 0.5 the penalty is 0.5 * 0.5 * 4 = 1 (the bias is free).
TEST(FullBatchObjective, ReferenceKnownValue) {
  ImageSet images;
  images.count = 1;
  images.rows = images.cols = 1;
  images.pixels = {255};
  LabelSet labels;
  labels.labels = {0};
  const std::vector<double> params = {2.0, 0.0, 0.5, 0.0};
  std::vector<double> grad(4);
  const double f = reference_full_batch_objective(images, labels, {0}, LossHead::kSoftmax, 2, params.data(), 0.5,
                                                  grad.data());
  const double p1 = 1.0 / (1.0 + std::exp(2.5));  // softmax probability of class 1
  EXPECT_NEAR(f, std::log1p(std::exp(-2.5)) + 1.0, 1e-15);
  EXPECT_NEAR(grad[0], -p1 + 0.5 * 2.0, 1e-15);  // dz0 * x + l2 * w0
  EXPECT_NEAR(grad[1], p1, 1e-15);
  EXPECT_NEAR(grad[2], -p1, 1e-15);  // the bias: no penalty
  EXPECT_NEAR(grad[3], p1, 1e-15);
}

// At zero parameters every class has probability 1/C: f = ln C whatever the penalty, and the bias gradient
// is 1/C minus each class's frequency.
TEST(FullBatchObjective, ZeroParametersGiveLogCAndClassFrequencies) {
  const ImageSet images = test::RandomImages(90, 4, 5, 3);
  const LabelSet labels = test::RandomLabels(90, 3, 3);
  const int C = 3, D = 20;
  std::vector<double> params(static_cast<std::size_t>(C) * D + C, 0.0), grad(params.size());
  const double f = reference_full_batch_objective(images, labels, AllRows(90), LossHead::kSoftmax, C, params.data(),
                                                  0.7, grad.data());
  EXPECT_NEAR(f, std::log(3.0), 1e-14);
  for (int c = 0; c < C; ++c) {
    const double freq = static_cast<double>(std::count(labels.labels.begin(), labels.labels.end(), c)) / 90.0;
    EXPECT_NEAR(grad[static_cast<std::size_t>(C) * D + c], 1.0 / 3.0 - freq, 1e-15) << "class " << c;
  }
}

// Central differences of f along every parameter: (f(p + h e_j) - f(p - h e_j)) / 2h.
void ExpectGradientMatchesFiniteDifferences(double l2, LossHead head) {
  const ImageSet images = test::RandomImages(40, 3, 4, 11);
  const LabelSet labels = test::RandomLabels(40, 4, 11);
  const int C = 4, D = 12;
  const std::vector<std::uint32_t> rows = AllRows(40);
  std::vector<double> params = RandomParams(static_cast<std::size_t>(C) * D + C, 0.5, 5);
  std::vector<double> grad(params.size()), scratch(params.size());
  reference_full_batch_objective(images, labels, rows, head, C, params.data(), l2, grad.data());
  std::vector<double> numeric(params.size());
  const double h = 1e-5;
  for (std::size_t j = 0; j < params.size(); ++j) {
    const double keep = params[j];
    params[j] = keep + h;
    const double fp = reference_full_batch_objective(images, labels, rows, head, C, params.data(), l2, scratch.data());
    params[j] = keep - h;
    const double fm = reference_full_batch_objective(images, labels, rows, head, C, params.data(), l2, scratch.data());
    params[j] = keep;
    numeric[j] = (fp - fm) / (2 * h);
  }
  EXPECT_TRUE(AllClose(numeric, grad, 1e-8, 1e-6));
}

TEST(FullBatchObjective, GradientMatchesFiniteDifferences) { ExpectGradientMatchesFiniteDifferences(0.3, LossHead::kSoftmax); }
TEST(FullBatchObjective, GradientMatchesFiniteDifferencesWithoutPenalty) {
  ExpectGradientMatchesFiniteDifferences(0.0, LossHead::kSoftmax);
}
TEST(FullBatchObjective, GradientMatchesFiniteDifferencesOvr) { ExpectGradientMatchesFiniteDifferences(0.1, LossHead::kOvr); }

// The penalty is exactly l2 ||W||^2 / 2 on top of the unpenalised objective, and l2 W on its weight gradient.
TEST(FullBatchObjective, PenaltyIsAddedToWeightsOnly) {
  const ImageSet images = test::RandomImages(30, 2, 3, 2);
  const LabelSet labels = test::RandomLabels(30, 3, 2);
  const int C = 3, D = 6;
  const std::vector<double> params = RandomParams(static_cast<std::size_t>(C) * D + C, 1.0, 9);
  std::vector<double> g0(params.size()), g1(params.size());
  const double f0 = reference_full_batch_objective(images, labels, AllRows(30), LossHead::kSoftmax, C, params.data(), 0.0,
                                                   g0.data());
  const double f1 = reference_full_batch_objective(images, labels, AllRows(30), LossHead::kSoftmax, C, params.data(), 0.25,
                                                   g1.data());
  double w2 = 0.0;
  for (int j = 0; j < C * D; ++j) w2 += params[static_cast<std::size_t>(j)] * params[static_cast<std::size_t>(j)];
  EXPECT_NEAR(f1 - f0, 0.125 * w2, 1e-14);
  for (std::size_t j = 0; j < params.size(); ++j) {
    const double expected = j < static_cast<std::size_t>(C * D) ? g0[j] + 0.25 * params[j] : g0[j];
    EXPECT_NEAR(g1[j], expected, 1e-15) << "parameter " << j;
  }
}

// The fast CPU backend (one fused pass in double, src/cpu/objective_loops.cpp) agrees with the reference, over
// a subset of rows in a given order, and gives bit-identical results on reruns and for any thread count
// (test_fused_objective.cpp checks every head, shape and SIMD level at three points of a fit).
TEST(FullBatchObjective, FastBackendMatchesReferenceAndIsBitReproducible) {
  const std::uint32_t N = 700;
  const ImageSet images = test::RandomImages(N, 28, 28, 21);
  const LabelSet labels = test::RandomLabels(N, 10, 21);
  const int C = 10, D = 784;
  std::vector<std::uint32_t> rows;
  for (std::uint32_t i = 0; i < N; i += 2) rows.push_back(i);  // a subset, like a validation split leaves
  for (std::uint32_t i = 1; i < N; i += 6) rows.push_back(i);
  const std::vector<double> params = RandomParams(static_cast<std::size_t>(C) * D + C, 0.01, 4);
  const double l2 = l2_strength(0.5, static_cast<double>(rows.size()));
  std::vector<double> g_ref(params.size()), g1(params.size()), g2(params.size()), g3(params.size());
  const double f_ref = reference_full_batch_objective(images, labels, rows, LossHead::kSoftmax, C, params.data(), l2,
                                                      g_ref.data());
  const auto one = make_cpu_fast_full_batch_engine(images, labels, test::ZeroModel(D, C), 1);
  const auto two = make_cpu_fast_full_batch_engine(images, labels, test::ZeroModel(D, C), 2);
  const double f1 = one->full_batch_objective(rows, params.data(), l2, g1.data());
  const double f2 = two->full_batch_objective(rows, params.data(), l2, g2.data());
  const double f3 = two->full_batch_objective(rows, params.data(), l2, g3.data());
  EXPECT_NEAR(f1, f_ref, 1e-13 * f_ref);
  double gmax = 0.0;
  for (const double v : g_ref) gmax = std::max(gmax, std::fabs(v));
  EXPECT_TRUE(AllClose(g_ref, g1, 1e-9 * gmax, 1e-9));
  EXPECT_EQ(f1, f2);
  EXPECT_EQ(f2, f3);
  EXPECT_EQ(g1, g2);
  EXPECT_EQ(g2, g3);
  // Other rows in between (the backend keeps each set of rows' pixel pointers once): the same answers.
  const std::vector<std::uint32_t> others = {5, 3, 699};
  std::vector<double> g_others(params.size()), g_others_ref(params.size()), g4(params.size());
  const double f_others = two->full_batch_objective(others, params.data(), l2, g_others.data());
  EXPECT_NEAR(f_others,
              reference_full_batch_objective(images, labels, others, LossHead::kSoftmax, C, params.data(), l2,
                                             g_others_ref.data()),
              1e-13);
  EXPECT_EQ(two->full_batch_objective(rows, params.data(), l2, g4.data()), f1);
  EXPECT_EQ(g4, g1);
  // The settings record names the engine as it names the SGD backend of the same device and threads.
  EXPECT_EQ(two->name(), make_cpu_fast_full_batch_engine(images, labels, test::ZeroModel(D, C), 2)->name());
}

// More classes than one block of 10: the fast backend's class blocks and their zero padding.
TEST(FullBatchObjective, FastBackendMatchesReferenceWithManyClasses) {
  const ImageSet images = test::RandomImages(300, 5, 5, 31);
  const LabelSet labels = test::RandomLabels(300, 20, 31);
  const int C = 20, D = 25;
  const std::vector<double> params = RandomParams(static_cast<std::size_t>(C) * D + C, 0.2, 6);
  std::vector<double> g_ref(params.size()), g(params.size());
  const double f_ref = reference_full_batch_objective(images, labels, AllRows(300), LossHead::kSoftmax, C,
                                                      params.data(), 0.01, g_ref.data());
  const auto fast = make_cpu_fast_full_batch_engine(images, labels, test::ZeroModel(D, C), 2);
  EXPECT_NEAR(fast->full_batch_objective(AllRows(300), params.data(), 0.01, g.data()), f_ref, 1e-13 * f_ref);
  EXPECT_TRUE(AllClose(g_ref, g, 1e-14, 1e-11));
}

TEST(FullBatchObjective, ReferenceBackendIsTheReferenceFunction) {
  const ImageSet images = test::RandomImages(50, 3, 3, 8);
  const LabelSet labels = test::RandomLabels(50, 3, 8);
  const std::vector<double> params = RandomParams(30, 0.3, 8);
  std::vector<double> g_fn(30), g_backend(30);
  const auto backend = make_cpu_reference_full_batch_engine(images, labels, test::ZeroModel(9, 3));
  const std::vector<std::uint32_t> rows = {4, 9, 1, 33, 49};
  const double f_fn = reference_full_batch_objective(images, labels, rows, LossHead::kSoftmax, 3, params.data(), 0.01,
                                                     g_fn.data());
  EXPECT_EQ(backend->full_batch_objective(rows, params.data(), 0.01, g_backend.data()), f_fn);
  EXPECT_EQ(g_backend, g_fn);
}

// The reference's objective is its 8 row parts, each in row order, added in part order: shared out over 3 and
// 5 simulated ranks, each holding only its parts' rows and receiving the others' sums, every rank gets the
// single process's f, gradient and Hessian-vector product bit for bit; and a rank that never received the
// others' sums (a broken exchange) would not.
TEST(FullBatchObjective, ReferencePartsSharedOverRanksGiveTheSameBits) {
  const std::uint32_t N = 203;  // parts of 25 and 26 rows
  const ImageSet images = test::RandomImages(N, 4, 5, 13);
  const LabelSet labels = test::RandomLabels(N, 3, 13);
  const int C = 3, D = 20;
  const std::vector<std::uint32_t> rows = AllRows(N);
  const std::vector<double> params = RandomParams(static_cast<std::size_t>(C) * D + C, 0.3, 13);
  const std::vector<double> v = RandomParams(params.size(), 0.5, 14);
  const double l2 = l2_strength(1.0, N);
  std::vector<double> g_one(params.size()), hv_one(params.size());
  const double f_one =
      reference_full_batch_objective(images, labels, rows, LossHead::kSoftmax, C, params.data(), l2, g_one.data());
  reference_full_batch_hessian_vector(images, labels, rows, LossHead::kSoftmax, C, params.data(), l2, v.data(),
                                      hv_one.data());
  for (const int size : {3, 5}) {
    test::SimulatedRanks::size = size;
    // Round 0 fills the store with every rank's sums (rank 0 first sees none of the others'), round 1 checks.
    test::SimulatedRanks::store.clear();
    for (int round = 0; round < 2; ++round) {
      for (int r = 0; r < size; ++r) {
        test::SimulatedRanks::rank = r;
        const ImageSet mine = test::SimulatedRanks::window(images, N);
        std::vector<double> g(params.size());
        const double f = reference_full_batch_objective(mine, labels, rows, LossHead::kSoftmax, C, params.data(), l2,
                                                        g.data(), test::SimulatedRanks::share());
        if (round == 1) {
          EXPECT_EQ(f, f_one) << size << " ranks, rank " << r;
          EXPECT_EQ(g, g_one) << size << " ranks, rank " << r;
        } else if (r == 0) {
          EXPECT_NE(g, g_one) << "rank 0 alone, before the others' sums exist, has only its own parts";
        }
      }
    }
    // The Hessian-vector product the same way.
    test::SimulatedRanks::store.clear();
    for (int round = 0; round < 2; ++round) {
      for (int r = 0; r < size; ++r) {
        test::SimulatedRanks::rank = r;
        const ImageSet mine = test::SimulatedRanks::window(images, N);
        std::vector<double> hv(params.size());
        reference_full_batch_hessian_vector(mine, labels, rows, LossHead::kSoftmax, C, params.data(), l2, v.data(),
                                            hv.data(), test::SimulatedRanks::share());
        if (round == 1) EXPECT_EQ(hv, hv_one) << size << " ranks, rank " << r;
      }
    }
  }
  test::SimulatedRanks::rank = 0;
  test::SimulatedRanks::size = 1;
}

TEST(FullBatchObjective, RowPastTheSetIsAnError) {
  const ImageSet images = test::RandomImages(5, 2, 2, 1);
  const LabelSet labels = test::RandomLabels(5, 2, 1);
  std::vector<double> params(10, 0.0), grad(10);
  const auto fast = make_cpu_fast_full_batch_engine(images, labels, test::ZeroModel(4, 2), 1);
  EXPECT_TRUE(test::ThrowsWith<DataError>([&] { fast->full_batch_objective({0, 5}, params.data(), 0.0, grad.data()); },
                                          {"row 5", "past the 5"}));
}

// ---- minimize_lbfgs -------------------------------------------------------------------------------------

// f(x) = sum_j a_j (x_j - c_j)^2 / 2 with a_j from 1 to 100: the optimum is c.
double Quadratic(const double* x, double* g, int n) {
  double f = 0.0;
  for (int j = 0; j < n; ++j) {
    const double a = 1.0 + 99.0 * j / (n - 1);
    const double d = x[j] - (j % 3 - 1.0);
    f += 0.5 * a * d * d;
    g[j] = a * d;
  }
  return f;
}

TEST(MinimizeLbfgs, FindsTheOptimumOfAQuadraticToTol) {
  LbfgsConfig config;
  config.tol = 1e-9;
  config.max_iter = 500;
  int reported = 0;
  const LbfgsResult r = minimize_lbfgs([](const double* x, double* g) { return Quadratic(x, g, 20); },
                                       std::vector<double>(20, 0.0), config, [&](const LbfgsIteration& it) {
                                         EXPECT_EQ(it.iteration, reported + 1);
                                         EXPECT_GT(it.step, 0.0);
                                         ++reported;
                                         return true;
                                       });
  EXPECT_TRUE(r.converged()) << r.reason;
  EXPECT_EQ(r.stop, LbfgsStop::kGradientTol);
  EXPECT_LE(r.grad_max, 1e-9);
  EXPECT_EQ(reported, r.iterations);
  EXPECT_GT(r.iterations, 1);
  for (int j = 0; j < 20; ++j) EXPECT_NEAR(r.x[static_cast<std::size_t>(j)], j % 3 - 1.0, 1e-9) << j;
  EXPECT_NE(r.reason.find("<= tol"), std::string::npos) << r.reason;
}

// memory 0 with no modelled evaluation cost (dense_rows 0) keeps 20 corrections below a million parameters (the
// same fit, bit for bit, as an explicit 20) and scikit-learn's 10 from a million on; a negative memory is refused.
TEST(MinimizeLbfgs, DefaultMemoryIsTwentyBelowAMillionParametersAndTenFromThere) {
  EXPECT_EQ(lbfgs_memory(7850), 20);
  EXPECT_EQ(lbfgs_memory(999999), 20);
  EXPECT_EQ(lbfgs_memory(1000000), 10);
  EXPECT_EQ(lbfgs_memory(1000010), 10);
  LbfgsConfig automatic, twenty, ten;
  for (LbfgsConfig* c : {&automatic, &twenty, &ten}) {
    c->tol = 1e-9;
    c->max_iter = 500;
  }
  twenty.memory = 20;
  ten.memory = 10;
  ASSERT_EQ(automatic.memory, 0);
  ASSERT_EQ(automatic.dense_rows, 0.0);
  auto fit = [](const LbfgsConfig& c) {
    return minimize_lbfgs([](const double* x, double* g) { return Quadratic(x, g, 60); }, std::vector<double>(60, 0.0),
                          c);
  };
  const LbfgsResult a = fit(automatic), b = fit(twenty), c = fit(ten);
  EXPECT_EQ(a.memory, 20);
  EXPECT_EQ(b.memory, 20);
  EXPECT_EQ(c.memory, 10);
  EXPECT_EQ(a.iterations, b.iterations);
  EXPECT_EQ(a.x, b.x);
  EXPECT_NE(c.x, b.x);  // 10 corrections take another path to the same optimum
  LbfgsConfig negative;
  negative.memory = -1;
  EXPECT_THROW(minimize_lbfgs([](const double* x, double* g) { return Quadratic(x, g, 4); },
                              std::vector<double>(4, 1.0), negative),
               UsageError);
}

// With the evaluation's work known (dense_rows), one correction per 100 dense rows, from 10 to 200, and no more
// than 256 MiB of corrections; an explicit memory wins.
TEST(MinimizeLbfgs, AutomaticMemoryGrowsWithTheRowsWithinItsBounds) {
  EXPECT_EQ(lbfgs_memory(7850, 10000), 100);  // Fashion-MNIST, 10,000 rows
  EXPECT_EQ(lbfgs_memory(7850, 60000), 200);  // all 60,000: the cap
  EXPECT_EQ(lbfgs_memory(7850, 2000), 20);
  EXPECT_EQ(lbfgs_memory(7850, 2599), 25);
  EXPECT_EQ(lbfgs_memory(650, 1797), 17);     // scikit-learn's digits
  EXPECT_EQ(lbfgs_memory(7850, 500), 10);     // never below scipy's 10
  EXPECT_EQ(lbfgs_memory(7850, 0.5), 10);
  EXPECT_EQ(lbfgs_memory(1000010, 40), 10);   // the sparse probe: 40 nonzeros of 100,000 columns per row
  // 256 MiB of 2m vectors of a million doubles hold 16 corrections, however many rows.
  EXPECT_EQ(lbfgs_memory(1000000, 1e6), 16);
  EXPECT_EQ(lbfgs_memory(100000000, 1e6), 10);
  LbfgsConfig automatic;
  automatic.tol = 1e-9;
  automatic.max_iter = 500;
  automatic.dense_rows = 3000;
  LbfgsConfig explicit_memory = automatic;
  explicit_memory.memory = 7;
  auto fit = [](const LbfgsConfig& c) {
    return minimize_lbfgs([](const double* x, double* g) { return Quadratic(x, g, 60); }, std::vector<double>(60, 0.0),
                          c);
  };
  EXPECT_EQ(fit(automatic).memory, 30);
  EXPECT_EQ(fit(explicit_memory).memory, 7);
}

TEST(MinimizeLbfgs, StopsAtMaxIterAndSaysSo) {
  LbfgsConfig config;
  config.tol = 1e-12;
  config.max_iter = 3;
  const LbfgsResult r = minimize_lbfgs([](const double* x, double* g) { return Quadratic(x, g, 50); },
                                       std::vector<double>(50, 5.0), config);
  EXPECT_FALSE(r.converged());
  EXPECT_EQ(r.stop, LbfgsStop::kMaxIter);
  EXPECT_EQ(r.iterations, 3);
  EXPECT_NE(r.reason.find("max-iter 3 reached"), std::string::npos) << r.reason;
}

TEST(MinimizeLbfgs, AnOptimalStartTakesNoIteration) {
  const LbfgsResult r = minimize_lbfgs(
      [](const double* x, double* g) {
        g[0] = x[0];
        return 0.5 * x[0] * x[0];
      },
      std::vector<double>{0.0}, LbfgsConfig{});
  EXPECT_TRUE(r.converged());
  EXPECT_EQ(r.iterations, 0);
  EXPECT_EQ(r.evaluations, 1);
}

TEST(MinimizeLbfgs, AnExceptionInTheObjectiveComesOut) {
  int calls = 0;
  EXPECT_THROW(minimize_lbfgs(
                   [&](const double* x, double* g) {
                     if (++calls == 3) throw std::runtime_error("device lost");
                     return Quadratic(x, g, 4);
                   },
                   std::vector<double>(4, 3.0), LbfgsConfig{}),
               std::runtime_error);
}

TEST(MinimizeLbfgs, StopsWhenTheCallbackSaysSo) {
  const LbfgsResult r = minimize_lbfgs([](const double* x, double* g) { return Quadratic(x, g, 30); },
                                       std::vector<double>(30, 2.0), LbfgsConfig{},
                                       [](const LbfgsIteration& it) { return it.iteration < 2; });
  EXPECT_EQ(r.stop, LbfgsStop::kStopRequested);
  EXPECT_EQ(r.iterations, 2);
}

// Deterministic: two solves of the same problem give the same iterates, bit for bit.
TEST(MinimizeLbfgs, OnTheReferenceObjectiveConvergesAndIsReproducible) {
  const ImageSet images = test::RandomImages(200, 4, 4, 5);
  const LabelSet labels = test::RandomLabels(200, 3, 5);
  const std::vector<std::uint32_t> rows = AllRows(200);
  const double l2 = l2_strength(1.0, 200.0);
  auto f = [&](const double* x, double* g) {
    return reference_full_batch_objective(images, labels, rows, LossHead::kSoftmax, 3, x, l2, g);
  };
  LbfgsConfig config;
  config.tol = 1e-8;
  config.max_iter = 1000;
  const LbfgsResult a = minimize_lbfgs(f, std::vector<double>(51, 0.0), config);
  const LbfgsResult b = minimize_lbfgs(f, std::vector<double>(51, 0.0), config);
  EXPECT_TRUE(a.converged()) << a.reason;
  EXPECT_LE(a.grad_max, 1e-6) << a.reason;  // at the gradient tolerance, or where f no longer decreases
  EXPECT_EQ(a.x, b.x);
  EXPECT_EQ(a.objective, b.objective);
  EXPECT_EQ(a.iterations, b.iterations);
  EXPECT_LT(a.objective, std::log(3.0));
}

}  // namespace
}  // namespace logreg
