// The fast CPU backend's fused full-batch objective (src/cpu/objective_loops.cpp, full_batch_objective.cpp)
// against the double reference (reference_full_batch_objective): within 1e-9 relative at the start of a fit
// (zeros), in the middle (random weights) and at an optimum (found by minimize_lbfgs), for every loss head,
// every SIMD level this CPU has, shapes with and without padding, all rows or a reordered subset; and
// bit-identical results at 1, 2 and 3 threads.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <ostream>
#include <string>
#include <vector>

#include "logreg/cpu_fast.hpp"
#include "logreg/cpu_reference.hpp"
#include "logreg/maths/objective_math.hpp"
#include "logreg/model.hpp"
#include "logreg/rng.hpp"
#include "logreg/solver.hpp"
#include "test_support.hpp"

namespace logreg {
namespace {

using test::ObjectiveProblem;

struct Case {
  ObjectiveProblem problem;
  LossHead head;
};

std::string CaseName(const ::testing::TestParamInfo<Case>& info) {
  const char* head = info.param.head == LossHead::kSoftmax ? "softmax"
                     : info.param.head == LossHead::kSigmoidSoftmax ? "sigmoid_softmax"
                                                                      : "ovr";
  return std::string(info.param.problem.name) + "_" + head;
}

void PrintTo(const Case& c, std::ostream* os) { *os << c.problem.name << ", head " << static_cast<int>(c.head); }

class FusedObjective : public ::testing::TestWithParam<Case> {};

// f and the gradient of the fast backend equal the reference's within 1e-9 relative (the gradient: each
// component within 1e-9 of its own size plus 1e-9 of the gradient's largest component at the start, since at an
// optimum the components are differences of far larger terms), at three points of a fit.
TEST_P(FusedObjective, MatchesTheReferenceAtStartMiddleAndOptimum) {
  const ObjectiveProblem& pr = GetParam().problem;
  const LossHead head = GetParam().head;
  const ImageSet images = test::RandomImages(pr.rows, pr.height, pr.width, 40 + pr.rows);
  const LabelSet labels = test::RandomLabels(pr.rows, pr.classes, 40 + pr.rows);
  const int C = pr.classes;
  const int D = pr.dim();
  const std::vector<std::uint32_t> rows = pr.row_indices();
  const double l2 = l2_strength(1.0, static_cast<double>(rows.size()));
  const std::size_t n_params = pr.n_params();
  auto reference = [&](const double* x, double* g) {
    return reference_full_batch_objective(images, labels, rows, head, C, x, l2, g);
  };

  std::vector<std::vector<double>> points;
  points.emplace_back(n_params, 0.0);  // the start of every fit
  Rng rng(7, 3);
  std::vector<double> middle(n_params);
  for (double& v : middle) v = 0.02 * (static_cast<double>(rng.below(1u << 20)) / (1u << 20) - 0.5);
  points.push_back(middle);
  LbfgsConfig config;
  config.tol = 1e-7;
  config.max_iter = 300;
  const LbfgsResult optimum = minimize_lbfgs(reference, middle, config);
  ASSERT_GT(optimum.iterations, 5) << optimum.reason;
  points.push_back(optimum.x);

  // The gradient's scale: its largest component at the start, the size of the per-row terms. Near an optimum
  // the components are differences of such terms, so their error is judged against it, not their own size.
  std::vector<double> g_start(n_params);
  reference(points[0].data(), g_start.data());
  double start_scale = 0.0;
  for (const double v : g_start) start_scale = std::max(start_scale, std::fabs(v));

  for (const CpuSimd simd : test::SimdLevelsOfThisCpu()) {
    const auto one = make_cpu_fast_full_batch_engine(images, labels, test::ZeroModel(D, C, head), 1, simd);
    const auto two = make_cpu_fast_full_batch_engine(images, labels, test::ZeroModel(D, C, head), 2, simd);
    const auto three = make_cpu_fast_full_batch_engine(images, labels, test::ZeroModel(D, C, head), 3, simd);
    for (std::size_t k = 0; k < points.size(); ++k) {
      SCOPED_TRACE(std::string(cpu_simd_name(simd)) + ", point " + std::to_string(k));
      const double* x = points[k].data();
      std::vector<double> g_ref(n_params), g1(n_params), g2(n_params), g3(n_params);
      const double f_ref = reference(x, g_ref.data());
      const double f1 = one->full_batch_objective(rows, x, l2, g1.data());
      const double f2 = two->full_batch_objective(rows, x, l2, g2.data());
      const double f3 = three->full_batch_objective(rows, x, l2, g3.data());
      EXPECT_NEAR(f1, f_ref, 1e-9 * std::fabs(f_ref));
      EXPECT_TRUE(test::AllClose(g_ref, g1, 1e-9 * start_scale, 1e-9));
      // Bit-identical whatever the threads: fixed row parts, added in part order.
      EXPECT_EQ(f1, f2);
      EXPECT_EQ(f1, f3);
      EXPECT_EQ(g1, g2);
      EXPECT_EQ(g1, g3);
    }
  }
}

std::vector<Case> AllCases() {
  std::vector<Case> cases;
  for (const ObjectiveProblem& p : test::kObjectiveProblems) {
    for (const LossHead h : {LossHead::kSoftmax, LossHead::kSigmoidSoftmax, LossHead::kOvr}) cases.push_back({p, h});
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(EveryHeadAndShape, FusedObjective, ::testing::ValuesIn(AllCases()), CaseName);

// A label that is not below the model's classes is refused with its row, whatever the backend checked before.
TEST(FusedObjectiveErrors, RowPastTheSetNamesIt) {
  const ImageSet images = test::RandomImages(10, 2, 2, 1);
  const LabelSet labels = test::RandomLabels(10, 3, 1);
  const auto fast = make_cpu_fast_full_batch_engine(images, labels, test::ZeroModel(4, 3, LossHead::kSoftmax), 2);
  std::vector<double> params(15, 0.0), grad(15);
  try {
    fast->full_batch_objective({0, 10}, params.data(), 0.0, grad.data());
    FAIL() << "expected a DataError";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("row 10 is past the 10 training images"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace logreg
