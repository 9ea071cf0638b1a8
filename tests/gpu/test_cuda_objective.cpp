// The CUDA backend's full-batch objective (DeviceObjective, the L-BFGS solver's primitive) against the CPU
// reference's: value and gradient at random parameters over a row subset spanning several device chunks, both
// residencies, bit-identical reruns, and an L-BFGS fit on the device matching one on the CPU. Skips with the
// probe's reason where no CUDA device is usable (fails under LOGREG_REQUIRE_GPU, as on the emulated device).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <numeric>
#include <vector>

#include "logreg/cpu_fast.hpp"
#include "logreg/cpu_reference.hpp"
#include "logreg/cuda_backend.hpp"
#include "logreg/maths/objective_math.hpp"
#include "logreg/model.hpp"
#include "logreg/rng.hpp"
#include "logreg/solver.hpp"
#include "gpu_test.hpp"
#include "test_support.hpp"

namespace logreg {
namespace {

using test::AllClose;

class CudaObjectiveTest : public test::GpuTest {};

std::vector<double> RandomParams(std::size_t n, double scale, std::uint64_t seed) {
  Rng rng(seed, 3);
  std::vector<double> p(n);
  for (double& v : p) v = scale * (2.0 * static_cast<double>(rng.below(1u << 30)) / (1u << 30) - 1.0);
  return p;
}

double MaxAbs(const std::vector<double>& v) {
  double m = 0.0;
  for (const double x : v) m = std::max(m, std::fabs(x));
  return m;
}

// 9,000 of 9,500 rows (the device works in chunks of 8,192), in a scrambled order, 10 classes of 28x28.
void ExpectMatchesReference(Residency residency) {
  const std::uint32_t N = 9500;
  const ImageSet images = test::RandomImages(N, 28, 28, 12);
  const LabelSet labels = test::RandomLabels(N, 10, 12);
  std::vector<std::uint32_t> rows(9000);
  for (std::uint32_t i = 0; i < 9000; ++i) rows[i] = (i * 7919u) % N;
  const std::size_t P = 10 * 784 + 10;
  const std::vector<double> params = RandomParams(P, 0.02, 9);
  const double l2 = l2_strength(0.5, static_cast<double>(rows.size()));
  std::vector<double> g_ref(P), g1(P), g2(P);
  const double f_ref =
      reference_full_batch_objective(images, labels, rows, LossHead::kSoftmax, 10, params.data(), l2, g_ref.data());
  CudaOptions options;
  options.residency = residency;
  Model shape = init_model(784, 10, LossHead::kSoftmax, 1);
  auto gpu = make_cuda_backend(images, labels, shape, options);
  const double f1 = gpu->full_batch_objective(rows, params.data(), l2, g1.data());
  const double f2 = gpu->full_batch_objective(rows, params.data(), l2, g2.data());
  // float32 on the device: the objective to 1e-6 relative, each gradient component to 1e-5 of the largest.
  EXPECT_NEAR(f1, f_ref, 1e-6 * f_ref) << residency_name(residency);
  EXPECT_TRUE(AllClose(g_ref, g1, 1e-5 * MaxAbs(g_ref), 1e-4)) << residency_name(residency);
  EXPECT_EQ(f1, f2);
  EXPECT_EQ(g1, g2);
  // The trained parameters are untouched.
  const Model after = gpu->model();
  EXPECT_EQ(after.weights, shape.weights);
  EXPECT_EQ(after.bias, shape.bias);
}

TEST_F(CudaObjectiveTest, MatchesReferenceWithTheSetOnTheDevice) { ExpectMatchesReference(Residency::kDevice); }
TEST_F(CudaObjectiveTest, MatchesReferenceWithTheSetStreamed) { ExpectMatchesReference(Residency::kStream); }

// A whole L-BFGS fit (C = 1, tol 1e-4, scikit-learn's defaults) on the device and on the fast CPU backend:
// the same optimum to the float32 device's accuracy.
TEST_F(CudaObjectiveTest, LbfgsFitMatchesTheCpuFit) {
  const std::uint32_t N = 600;
  ImageSet images;
  LabelSet labels;
  test::SeparableSet(N, 10, 28, 5, &images, &labels);
  for (std::size_t k = 0; k < images.pixels.size(); k += 3) images.pixels[k] = static_cast<std::uint8_t>(k % 251);
  std::vector<std::uint32_t> rows(N);
  std::iota(rows.begin(), rows.end(), 0u);
  const Model shape = init_model(784, 10, LossHead::kSoftmax, 2);
  auto gpu = make_cuda_backend(images, labels, shape);
  auto cpu = make_cpu_fast_backend(images, labels, shape);
  const double l2 = l2_strength(1.0, N);
  LbfgsConfig config;
  config.tol = 1e-4;
  config.max_iter = 200;
  auto fit = [&](TrainerBackend& b) {
    return minimize_lbfgs([&](const double* x, double* g) { return b.full_batch_objective(rows, x, l2, g); },
                          std::vector<double>(784 * 10 + 10, 0.0), config);
  };
  const LbfgsResult on_gpu = fit(*gpu);
  const LbfgsResult on_cpu = fit(*cpu);
  EXPECT_TRUE(on_cpu.converged()) << on_cpu.reason;
  EXPECT_TRUE(on_gpu.converged()) << on_gpu.reason;
  EXPECT_NEAR(on_gpu.objective, on_cpu.objective, 1e-5 * on_cpu.objective);
  EXPECT_LT(test::RelativeL2(on_cpu.x, on_gpu.x), 1e-2);
}

}  // namespace
}  // namespace logreg
