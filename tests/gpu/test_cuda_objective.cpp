// The CUDA backend's full-batch objective (DeviceObjective, double on the device, the L-BFGS solver's primitive)
// against the CPU reference's: value and gradient at three points of a fit (zeros, mid-fit, the optimum) for
// every loss head, both residencies; bit-identical reruns, residencies and kernel plans (where W and the block's
// gradient live); and an L-BFGS fit to tol 1e-8 on the device matching the fast CPU backend's. Skips with the
// probe's reason where no CUDA device is usable (fails under LOGREG_REQUIRE_GPU, as on the emulated device).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <numeric>
#include <vector>

#include "device_resources.hpp"
#include "kernels.hpp"
#include "logreg/cpu_fast.hpp"
#include "logreg/cpu_reference.hpp"
#include "logreg/cuda_backend.hpp"
#include "logreg/maths/objective_math.hpp"
#include "logreg/model.hpp"
#include "logreg/rng.hpp"
#include "logreg/solver.hpp"
#include "gpu_test.hpp"
#include "simulated_ranks.hpp"
#include "test_support.hpp"

namespace logreg {
namespace {

class CudaObjectiveTest : public test::GpuTest {};

constexpr int kClasses = 10;
constexpr std::size_t kParams = 784 * kClasses + kClasses;

bool BitIdentical(const std::vector<double>& a, const std::vector<double>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(double)) == 0;
}

// A separable set with noise on every third pixel (so no pixel column is constant), N rows of 28x28.
void NoisySet(std::uint32_t n, std::uint64_t seed, ImageSet* images, LabelSet* labels) {
  test::SeparableSet(n, kClasses, 28, seed, images, labels);
  for (std::size_t k = 0; k < images->pixels.size(); k += 3) images->pixels[k] = static_cast<std::uint8_t>(k % 251);
}

double MaxAbs(const std::vector<double>& v) {
  double m = 0.0;
  for (const double x : v) m = std::max(m, std::fabs(x));
  return m;
}

LbfgsResult FitOnCpu(const ImageSet& images, const LabelSet& labels, const std::vector<std::uint32_t>& rows,
                     LossHead head, double l2, double tol, int max_iter) {
  auto cpu = make_cpu_fast_full_batch_engine(images, labels, init_model(784, kClasses, head, 2));
  LbfgsConfig config;
  config.tol = tol;
  config.max_iter = max_iter;
  return minimize_lbfgs([&](const double* x, double* g) { return cpu->full_batch_objective(rows, x, l2, g); },
                        std::vector<double>(kParams, 0.0), config);
}

// 700 of 760 rows in a scrambled order (11 row blocks, a partial last tile in some), for one loss head: the
// device's f and gradient against the CPU reference's at zeros, after 8 L-BFGS iterations and at the optimum
// (tol 1e-8), with the set on the device and streamed; the two residencies and two calls bit-identical.
class CudaObjectiveHeads : public CudaObjectiveTest, public ::testing::WithParamInterface<LossHead> {};

TEST_P(CudaObjectiveHeads, MatchesTheReferenceAtThreePointsOfAFit) {
  const LossHead head = GetParam();
  const std::uint32_t N = test::TestSize(760u, 200u);
  const std::uint32_t n = N - N / 12;
  ImageSet images;
  LabelSet labels;
  NoisySet(N, 21, &images, &labels);
  std::vector<std::uint32_t> rows(n);
  for (std::uint32_t i = 0; i < n; ++i) rows[i] = (i * 7919u) % N;
  const double l2 = l2_strength(1.0, static_cast<double>(n));
  const LbfgsResult mid = FitOnCpu(images, labels, rows, head, l2, 1e-12, 8);
  const LbfgsResult opt = FitOnCpu(images, labels, rows, head, l2, 1e-8, test::TestSize(3000, 30));
  const std::vector<std::vector<double>> points = {std::vector<double>(kParams, 0.0), mid.x, opt.x};
  const char* names[] = {"zeros", "mid-fit", "optimum"};

  CudaOptions on_device;
  on_device.residency = Residency::kDevice;
  CudaOptions streamed;
  streamed.residency = Residency::kStream;
  const Model shape = init_model(784, kClasses, head, 1);
  auto gpu = make_cuda_full_batch_engine(images, labels, shape, on_device);
  auto gpu_streamed = make_cuda_full_batch_engine(images, labels, shape, streamed);
  // Each engine holds the set where its residency says: uploaded once, or read from pinned host memory.
  EXPECT_NE(gpu->name().find("data on device"), std::string::npos) << gpu->name();
  EXPECT_NE(gpu_streamed->name().find("data streamed from pinned host memory"), std::string::npos)
      << gpu_streamed->name();
  for (std::size_t p = 0; p < points.size(); ++p) {
    const double* x = points[p].data();
    std::vector<double> g_ref(kParams), g1(kParams), g2(kParams), g3(kParams);
    const double f_ref = reference_full_batch_objective(images, labels, rows, head, kClasses, x, l2, g_ref.data());
    const double f1 = gpu->full_batch_objective(rows, x, l2, g1.data());
    const double f2 = gpu->full_batch_objective(rows, x, l2, g2.data());
    const double f3 = gpu_streamed->full_batch_objective(rows, x, l2, g3.data());
    // Near the optimum the gradient is the small difference of the data term and the penalty's l2 w, so its
    // error is measured against the data term's size (the reference's gradient at l2 = 0).
    std::vector<double> g_data(kParams);
    reference_full_batch_objective(images, labels, rows, head, kClasses, x, 0.0, g_data.data());
    const double f_err = std::fabs(f1 - f_ref) / std::fabs(f_ref);
    const double g_err = test::RelativeMaxError(g_ref, g1) * MaxAbs(g_ref) / std::max(MaxAbs(g_ref), MaxAbs(g_data));
    std::printf("%s, %s: f %.17g, max |g| %.3g; relative error of f %.3g, of the gradient %.3g\n", loss_head_name(head),
                names[p], f_ref, MaxAbs(g_ref), f_err, g_err);
    EXPECT_LE(f_err, 1e-12) << names[p];
    EXPECT_LE(g_err, 1e-12) << names[p];
    // Run to run and residency to residency: the same kernel, the same sums in the same order.
    EXPECT_EQ(std::memcmp(&f1, &f2, sizeof f1), 0) << names[p];
    EXPECT_TRUE(BitIdentical(g1, g2)) << names[p];
    EXPECT_EQ(std::memcmp(&f1, &f3, sizeof f1), 0) << names[p];
    EXPECT_TRUE(BitIdentical(g1, g3)) << names[p];
  }
}

INSTANTIATE_TEST_SUITE_P(AllHeads, CudaObjectiveHeads,
                         ::testing::Values(LossHead::kSoftmax, LossHead::kSigmoidSoftmax, LossHead::kOvr),
                         [](const ::testing::TestParamInfo<LossHead>& info) {
                           std::string name = loss_head_name(info.param);
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

// The kernel under each plan (W and the block's gradient in shared memory, the gradient alone, neither; full
// and short tiles): the same sums in the same order wherever the operands live, so the same bits; this is
// what a GPU with less shared memory runs.
TEST_F(CudaObjectiveTest, EveryKernelPlanGivesTheSameBits) {
  const std::uint32_t N = 300;
  const int D = 784;
  ImageSet images;
  LabelSet labels;
  NoisySet(N, 5, &images, &labels);
  Rng rng(8, 1);
  std::vector<double> params(kParams);
  for (double& v : params) v = 0.01 * (static_cast<double>(rng.below(2001)) - 1000.0) / 1000.0;
  using cuda::DeviceBuffer;
  DeviceBuffer<std::uint8_t> pixels(images.pixels.size());
  DeviceBuffer<std::uint8_t> y(N);
  DeviceBuffer<double> p(kParams);
  const int parts = full_batch_parts(N);
  const int blocks = parts * kernels::objective_blocks_per_part(N);
  DeviceBuffer<double> partials(static_cast<std::size_t>(blocks) * (kParams + 1));
  DeviceBuffer<double> out(static_cast<std::size_t>(parts) * (kParams + 1));
  ASSERT_EQ(cudaMemcpy(pixels.data(), images.pixels.data(), pixels.bytes(), cudaMemcpyHostToDevice), cudaSuccess);
  ASSERT_EQ(cudaMemcpy(y.data(), labels.labels.data(), N, cudaMemcpyHostToDevice), cudaSuccess);
  ASSERT_EQ(cudaMemcpy(p.data(), params.data(), p.bytes(), cudaMemcpyHostToDevice), cudaSuccess);
  kernels::ObjectiveArgs args{};
  args.x = pixels.data();
  args.element = FeatureDtype::kUint8;
  args.weights = nullptr;
  args.labels = y.data();
  args.rows = nullptr;
  args.n = static_cast<int>(N);
  args.first_part = 0;
  args.first_row = 0;
  args.dim = D;
  args.classes = kClasses;
  args.head = LossHead::kSoftmax;
  args.inv_n = 1.0 / N;
  args.params = p.data();
  args.partials = partials.data();
  const auto bytes = [&](int r, bool w, bool g) {
    const std::size_t P = kParams;
    return (256 + static_cast<std::size_t>(r) * (D + 2 * kClasses) + (w ? P : 0) + (g ? P : 0)) * sizeof(double);
  };
  const kernels::ObjectivePlan full = kernels::objective_plan(kClasses, D, 227 * 1024);
  EXPECT_EQ(full.tile_rows, kernels::kObjectiveMaxTileRows);
  EXPECT_TRUE(full.w_shared && full.g_shared);
  EXPECT_EQ(full.shared_bytes, bytes(8, true, true));
  const kernels::ObjectivePlan mid = kernels::objective_plan(kClasses, D, 99 * 1024);
  EXPECT_EQ(mid.tile_rows, 5);
  EXPECT_TRUE(!mid.w_shared && mid.g_shared);
  const kernels::ObjectivePlan low = kernels::objective_plan(kClasses, D, 48 * 1024);
  EXPECT_EQ(low.tile_rows, 7);
  EXPECT_TRUE(!low.w_shared && !low.g_shared);
  EXPECT_EQ(kernels::objective_plan(kClasses, 8000, 48 * 1024).tile_rows, 0);  // not one row of 8,000 doubles

  // The plans this device holds (the emulated one can be made smaller: LOGREG_EMU_SMEM_PER_BLOCK); the
  // 48 KiB ones always.
  cudaDeviceProp prop{};
  ASSERT_EQ(cudaGetDeviceProperties(&prop, 0), cudaSuccess);
  std::vector<std::vector<double>> results;
  const kernels::ObjectivePlan plans[] = {low, {1, false, false, bytes(1, false, false)}, mid, full,
                                          {3, true, false, bytes(3, true, false)}};
  for (const kernels::ObjectivePlan& plan : plans) {
    if (plan.shared_bytes > prop.sharedMemPerBlockOptin) continue;
    kernels::objective_evaluate(args, plan, parts, out.data(), nullptr);
    std::vector<double> r(static_cast<std::size_t>(parts) * (kParams + 1));
    ASSERT_EQ(cudaMemcpy(r.data(), out.data(), out.bytes(), cudaMemcpyDeviceToHost), cudaSuccess);
    results.push_back(r);
  }
  std::vector<std::uint32_t> rows(N);
  std::iota(rows.begin(), rows.end(), 0u);
  std::vector<double> g_ref(kParams);
  const double f_ref = reference_full_batch_objective(images, labels, rows, LossHead::kSoftmax, kClasses,
                                                      params.data(), 0.0, g_ref.data());
  double loss_sum = 0.0;  // the parts' loss sums, in part order
  for (int q = 0; q < parts; ++q) loss_sum += results[0][static_cast<std::size_t>(q) * (kParams + 1) + kParams];
  EXPECT_NEAR(loss_sum / N, f_ref, 1e-12 * f_ref);
  ASSERT_GE(results.size(), 2u);
  for (std::size_t k = 1; k < results.size(); ++k) EXPECT_TRUE(BitIdentical(results[0], results[k])) << "plan " << k;
}

// The objective's 8 row parts shared over 3 simulated MPI ranks (CudaOptions::parts), each rank's engine holding
// only its parts' rows (a window of the set) on the device or streamed from pinned host memory: every rank gets
// the single engine's f and gradient bit for bit. 1,100 rows: 8 parts of 137-138 rows, 2 row blocks each.
TEST_F(CudaObjectiveTest, PartsSharedOverRanksGiveTheSameBits) {
  const std::uint32_t N = 1100;
  ImageSet images;
  LabelSet labels;
  NoisySet(N, 9, &images, &labels);
  std::vector<std::uint32_t> rows(N);
  std::iota(rows.begin(), rows.end(), 0u);
  Rng rng(6, 3);
  std::vector<double> params(kParams);
  for (double& v : params) v = 0.01 * (static_cast<double>(rng.below(2001)) - 1000.0) / 1000.0;
  const double l2 = l2_strength(1.0, N);
  const Model shape = init_model(784, kClasses, LossHead::kSoftmax, 1);
  std::vector<double> g_one(kParams);
  const double f_one = make_cuda_full_batch_engine(images, labels, shape)->full_batch_objective(rows, params.data(), l2,
                                                                                              g_one.data());
  test::SimulatedRanks::size = 3;
  for (const Residency residency : {Residency::kDevice, Residency::kStream}) {
    test::SimulatedRanks::store.clear();
    for (int round = 0; round < 2; ++round) {  // round 0 fills the store with every rank's sums, round 1 checks
      for (int r = 0; r < test::SimulatedRanks::size; ++r) {
        test::SimulatedRanks::rank = r;
        const ImageSet mine = test::SimulatedRanks::window(images, N);
        CudaOptions options;
        options.residency = residency;
        options.parts = test::SimulatedRanks::share();
        std::vector<double> g(kParams);
        const double f =
            make_cuda_full_batch_engine(mine, labels, shape, options)->full_batch_objective(rows, params.data(), l2, g.data());
        if (round == 1) {
          EXPECT_EQ(std::memcmp(&f, &f_one, sizeof f), 0) << "rank " << r << ", " << residency_name(residency);
          EXPECT_TRUE(BitIdentical(g, g_one)) << "rank " << r << ", " << residency_name(residency);
        }
      }
    }
  }
  test::SimulatedRanks::rank = 0;
  test::SimulatedRanks::size = 1;
}

// Shapes off the Fashion-MNIST path: D not a multiple of 4 (27 x 27, the tile read without the prefetch), D
// over 1,024 (33 x 33), an odd number of classes (the last class pair and micro-tile clamped), both residencies.
TEST_F(CudaObjectiveTest, OtherShapesMatchTheReference) {
  struct Shape {
    std::uint32_t side;
    int classes;
  };
  for (const Shape shape : {Shape{27, 7}, Shape{33, 3}}) {
    const std::uint32_t N = 150;
    const ImageSet images = test::RandomImages(N, shape.side, shape.side, 31);
    const LabelSet labels = test::RandomLabels(N, shape.classes, 31);
    std::vector<std::uint32_t> rows(140);
    for (std::uint32_t i = 0; i < rows.size(); ++i) rows[i] = (i * 37u) % N;
    const std::size_t D = images.dim();
    const std::size_t P = D * static_cast<std::size_t>(shape.classes) + static_cast<std::size_t>(shape.classes);
    Rng rng(4, 2);
    std::vector<double> params(P);
    for (double& v : params) v = 0.01 * (static_cast<double>(rng.below(2001)) - 1000.0) / 1000.0;
    const double l2 = l2_strength(0.5, static_cast<double>(rows.size()));
    std::vector<double> g_ref(P), g1(P), g2(P);
    const double f_ref = reference_full_batch_objective(images, labels, rows, LossHead::kOvr, shape.classes,
                                                        params.data(), l2, g_ref.data());
    const Model model = init_model(static_cast<int>(D), shape.classes, LossHead::kOvr, 1);
    CudaOptions streamed;
    streamed.residency = Residency::kStream;
    auto gpu = make_cuda_full_batch_engine(images, labels, model);
    auto gpu_streamed = make_cuda_full_batch_engine(images, labels, model, streamed);
    const double f1 = gpu->full_batch_objective(rows, params.data(), l2, g1.data());
    const double f2 = gpu_streamed->full_batch_objective(rows, params.data(), l2, g2.data());
    EXPECT_LE(std::fabs(f1 - f_ref), 1e-12 * std::fabs(f_ref)) << shape.side << "x" << shape.side;
    EXPECT_LE(test::RelativeMaxError(g_ref, g1), 1e-12) << shape.side << "x" << shape.side;
    EXPECT_EQ(std::memcmp(&f1, &f2, sizeof f1), 0);
    EXPECT_TRUE(BitIdentical(g1, g2));
  }
}

// A whole L-BFGS fit to tol 1e-8 (C = 1) on the device and on the fast CPU backend: both converge, to the same
// objective within 1e-9 relative.
TEST_F(CudaObjectiveTest, LbfgsFitToTol1e8MatchesTheCpuFit) {
  const std::uint32_t N = test::TestSize(400u, 120u);
  ImageSet images;
  LabelSet labels;
  NoisySet(N, 5, &images, &labels);
  std::vector<std::uint32_t> rows(N);
  std::iota(rows.begin(), rows.end(), 0u);
  const Model shape = init_model(784, kClasses, LossHead::kSoftmax, 2);
  auto gpu = make_cuda_full_batch_engine(images, labels, shape);
  auto cpu = make_cpu_fast_full_batch_engine(images, labels, shape);
  const double l2 = l2_strength(1.0, N);
  LbfgsConfig config;
  config.tol = 1e-8;
  config.max_iter = 3000;
  auto fit = [&](FullBatchEngine& b) {
    return minimize_lbfgs([&](const double* x, double* g) { return b.full_batch_objective(rows, x, l2, g); },
                          std::vector<double>(kParams, 0.0), config);
  };
  const LbfgsResult on_gpu = fit(*gpu);
  const LbfgsResult on_cpu = fit(*cpu);
  std::printf("tol 1e-8: device %d iterations, f %.17g, max|g| %.3g (%s); cpu %d iterations, f %.17g, max|g| %.3g\n",
              on_gpu.iterations, on_gpu.objective, on_gpu.grad_max, on_gpu.reason.c_str(), on_cpu.iterations,
              on_cpu.objective, on_cpu.grad_max);
  EXPECT_TRUE(on_cpu.converged()) << on_cpu.reason;
  EXPECT_TRUE(on_gpu.converged()) << on_gpu.reason;
  EXPECT_NEAR(on_gpu.objective, on_cpu.objective, 1e-9 * on_cpu.objective);
  EXPECT_LT(test::RelativeL2(on_cpu.x, on_gpu.x), 1e-4);
}

// The full-batch engine builds nothing of SGD: the device memory it takes is the objective's buffers
// (objective_device_bytes) and, with the set on the device, the set's pixels and labels; streamed, the buffers
// less the row list. The SGD backend takes more for the same set even streamed (its step state, cuBLAS
// workspace, the evaluator). Exact byte counts need the emulated device's allocator (a GPU rounds allocations
// up to pages and keeps its own), so a real GPU skips this test.
TEST_F(CudaObjectiveTest, FullBatchEngineHoldsTheSetAndTheObjectiveAlone) {
  if (!probe_.emulated) GTEST_SKIP() << "exact device byte counts: the emulated device only";
  constexpr std::uint32_t N = 300;
  ImageSet images;
  LabelSet labels;
  NoisySet(N, 9, &images, &labels);
  std::vector<std::uint32_t> rows(N);
  std::iota(rows.begin(), rows.end(), 0u);
  const Model shape = init_model(784, kClasses, LossHead::kSoftmax, 1);
  std::vector<double> x(kParams, 0.0), g(kParams);
  auto used_bytes = [] {
    std::size_t free_bytes = 0, total = 0;
    EXPECT_EQ(cudaMemGetInfo(&free_bytes, &total), cudaSuccess);
    return total - free_bytes;
  };
  const std::size_t before = used_bytes();
  const std::size_t objective = objective_device_bytes(N, 784, kClasses);
  CudaOptions on_device;
  on_device.residency = Residency::kDevice;
  CudaOptions streamed;
  streamed.residency = Residency::kStream;
  {
    auto engine = make_cuda_full_batch_engine(images, labels, shape, on_device);
    engine->full_batch_objective(rows, x.data(), 0.0, g.data());
    EXPECT_EQ(used_bytes() - before, std::size_t{N} * 784 + N + objective);
  }
  std::size_t full_batch_streamed = 0;
  {
    auto engine = make_cuda_full_batch_engine(images, labels, shape, streamed);
    engine->full_batch_objective(rows, x.data(), 0.0, g.data());
    full_batch_streamed = used_bytes() - before;
    EXPECT_EQ(full_batch_streamed, objective - std::size_t{N} * sizeof(std::uint32_t));
  }
  EXPECT_EQ(used_bytes(), before);  // all of it freed
  const auto sgd = make_cuda_backend(images, labels, shape, streamed);
  EXPECT_TRUE(sgd->traits().gpu);
  std::printf("device bytes, %u rows streamed: full-batch engine %zu, SGD backend %zu\n", N, full_batch_streamed,
              used_bytes() - before);
  EXPECT_GT(used_bytes() - before, full_batch_streamed);
}

}  // namespace
}  // namespace logreg
