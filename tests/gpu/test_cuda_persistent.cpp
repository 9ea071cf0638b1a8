// GPU tests of the persistent small-batch epoch (kernels/persistent_epoch.cu, --kernel persistent): whole
// epochs against the CPU reference for every loss head, plain SGD and momentum + Nesterov + weight decay,
// batch sizes with and without a partial last batch, a learning rate that changes between epochs;
// bit-reproducible runs; what `auto` picks; and the shapes it refuses, with their messages.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "epoch_plan.hpp"
#include "gpu_test.hpp"
#include "logreg/cpu_reference.hpp"
#include "logreg/cuda_backend.hpp"
#include "logreg/errors.hpp"
#include "logreg/model.hpp"
#include "logreg/rng.hpp"
#include "test_support.hpp"

namespace logreg {
namespace {

using test::bit_identical;

constexpr int kSide = 28;
constexpr int kDim = kSide * kSide;
constexpr int kClasses = 10;

std::vector<test::EpochCase> all_cases() {
  std::vector<test::EpochCase> cases;
  for (LossHead head : {LossHead::kSoftmax, LossHead::kSigmoidSoftmax, LossHead::kOvr}) {
    for (int batch : {32, 45, 83}) cases.push_back({head, batch, false});
    cases.push_back({head, 32, true});
  }
  // Batch 1 (one row per step, a single forward pair with no second row): what it tests does not depend on
  // the head, so one head runs it.
  cases.push_back({LossHead::kSoftmax, 1, false});
  return cases;
}

class CudaPersistentEpochs : public test::GpuTest, public ::testing::WithParamInterface<test::EpochCase> {};

// Three epochs (lr 0.02, 0.01, 0.005: the kernel reads each epoch's lr from the step state) over 300 rows:
// batch 45 and 83 end on a partial batch (300 = 6 * 45 + 30 = 3 * 83 + 51); batch 83 is the largest of
// 784 pixels (83 * 784 <= 64 KiB). Totals, last-batch loss, weights, bias and the momentum buffers follow
// the double-precision reference. At LOGREG_TEST_SIZE=small: two epochs over 96 rows (96 = 2 * 45 + 6 =
// 83 + 13), every path the same.
TEST_P(CudaPersistentEpochs, MatchReferenceTrajectory) {
  const test::EpochCase c = GetParam();
  const test::TrajectorySet set(c.head);
  const auto& [rows, epochs, images, labels, initial] = set;
  const OptimizerConfig opt = c.optimizer();
  if (!test::PersistentFits(c.batch, kDim, kClasses, c.momentum)) {  // a smaller GPU: refused, nothing run
    auto gpu = make_cuda_backend(images, labels, initial, test::KernelOptions(CudaKernel::kPersistent, opt));
    EXPECT_THROW(gpu->train_epoch(epoch_order(7, 1, images.count), c.batch, 0.02f), UsageError);
    return;
  }
  auto cpu = make_cpu_reference_backend(images, labels, initial, opt);
  auto gpu = make_cuda_backend(images, labels, initial, test::KernelOptions(CudaKernel::kPersistent, opt));
  EXPECT_NE(gpu->name().find("kernel persistent"), std::string::npos) << gpu->name();
  const float lrs[] = {0.02f, 0.01f, 0.005f};
  for (int epoch = 1; epoch <= epochs; ++epoch) {
    const std::vector<std::uint32_t> order = epoch_order(7, epoch, images.count);
    const Totals want = cpu->train_epoch(order, c.batch, lrs[epoch - 1]);
    const Totals got = gpu->train_epoch(order, c.batch, lrs[epoch - 1]);
    test::ExpectTotalsNearReference(got, want, rows, epoch);
  }
  test::ExpectModelNearReference(*cpu, *gpu, c.momentum);
}

INSTANTIATE_TEST_SUITE_P(CudaPersistentEpochs, CudaPersistentEpochs, ::testing::ValuesIn(all_cases()),
                         test::EpochCaseName);

using CudaPersistent = test::GpuTest;

// Fixed-order sums and no atomics: two runs give the same bits; and the cuBLAS path lands close by.
TEST_F(CudaPersistent, RunsAreBitIdenticalAndAgreeWithTheCublasPath) {
  ImageSet images;
  LabelSet labels;
  test::SeparableSet(test::TestSize(500u, 160u), kClasses, kSide, 41, &images, &labels);
  const Model initial = init_model(kDim, kClasses, LossHead::kSoftmax, 12);
  if (!test::PersistentFits(32, kDim, kClasses, false)) {  // a smaller GPU: see MatchReferenceTrajectory
    auto gpu = make_cuda_backend(images, labels, initial, test::KernelOptions(CudaKernel::kPersistent));
    EXPECT_THROW(gpu->train_epoch(epoch_order(3, 1, images.count), 32, 0.05f), UsageError);
    return;
  }
  auto a = make_cuda_backend(images, labels, initial, test::KernelOptions(CudaKernel::kPersistent));
  auto b = make_cuda_backend(images, labels, initial, test::KernelOptions(CudaKernel::kPersistent));
  auto cublas = make_cuda_backend(images, labels, initial, test::KernelOptions(CudaKernel::kCublas));
  for (int epoch = 1; epoch <= 2; ++epoch) {
    const std::vector<std::uint32_t> order = epoch_order(3, epoch, images.count);
    const Totals ta = a->train_epoch(order, 32, 0.05f);
    const Totals tb = b->train_epoch(order, 32, 0.05f);
    cublas->train_epoch(order, 32, 0.05f);
    EXPECT_EQ(ta.loss_sum, tb.loss_sum);
    EXPECT_EQ(ta.correct, tb.correct);
  }
  EXPECT_TRUE(bit_identical(a->model().weights, b->model().weights));
  EXPECT_TRUE(bit_identical(a->model().bias, b->model().bias));
  EXPECT_FALSE(bit_identical(a->model().weights, cublas->model().weights));  // other summation order
  EXPECT_LE(test::RelativeL2(cublas->model().weights, a->model().weights), 1e-4);
}

// auto: the persistent kernel up to its row's auto_max_batch (the epoch plan) where it fits the device, the
// cuBLAS path above or where it does not (bit for bit each).
TEST_F(CudaPersistent, AutoPicksPersistentForSmallBatchesOnly) {
  ImageSet images;
  LabelSet labels;
  test::SeparableSet(test::TestSize(300u, 100u), kClasses, kSide, 43, &images, &labels);
  const Model initial = init_model(kDim, kClasses, LossHead::kSoftmax, 13);
  const std::vector<std::uint32_t> order = epoch_order(4, 1, images.count);
  const int auto_max = cuda::epoch_kernel(CudaKernel::kPersistent).auto_max_batch;
  EXPECT_EQ(auto_max, 32);
  for (int batch : {auto_max, auto_max + 1}) {
    const CudaKernel expected = batch <= auto_max && test::PersistentFits(batch, kDim, kClasses, false)
                                    ? CudaKernel::kPersistent
                                    : CudaKernel::kCublas;
    auto automatic = make_cuda_backend(images, labels, initial, test::KernelOptions(CudaKernel::kAuto));
    auto explicit_kernel = make_cuda_backend(images, labels, initial, test::KernelOptions(expected));
    automatic->train_epoch(order, batch, 0.05f);
    explicit_kernel->train_epoch(order, batch, 0.05f);
    EXPECT_TRUE(bit_identical(automatic->model().weights, explicit_kernel->model().weights))
        << "batch " << batch << " should run on " << cuda_kernel_name(expected);
  }
}

// What it cannot run is refused before anything runs, naming the option and the limit.
TEST_F(CudaPersistent, RefusesShapesItCannotRun) {
  ImageSet images;
  LabelSet labels;
  test::SeparableSet(200, kClasses, kSide, 44, &images, &labels);
  const Model initial = init_model(kDim, kClasses, LossHead::kSoftmax, 14);
  const std::vector<std::uint32_t> order = epoch_order(5, 1, images.count);

  auto gpu = make_cuda_backend(images, labels, initial, test::KernelOptions(CudaKernel::kPersistent));
  const std::vector<float> before = gpu->model().weights;
  try {
    gpu->train_epoch(order, 84, 0.05f);  // 84 * 784 > 64 KiB
    FAIL() << "batch 84 of 784 pixels was accepted";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("--kernel persistent cannot run batches of 84 rows"), std::string::npos)
        << e.what();
  }
  EXPECT_TRUE(bit_identical(before, gpu->model().weights));  // nothing ran
  if (test::PersistentFits(83, kDim, kClasses, false)) {
    gpu->train_epoch(order, 83, 0.05f);  // the largest that fits still runs
    EXPECT_FALSE(bit_identical(before, gpu->model().weights));
  } else {  // a smaller GPU: refused by its shared memory too
    EXPECT_THROW(gpu->train_epoch(order, 83, 0.05f), UsageError);
  }

  // 5 x 5 = 25 pixels: not a multiple of 16.
  ImageSet small;
  LabelSet small_labels;
  test::SeparableSet(100, kClasses, 5, 45, &small, &small_labels);
  auto odd = make_cuda_backend(small, small_labels, init_model(25, kClasses, LossHead::kSoftmax, 15),
                               test::KernelOptions(CudaKernel::kPersistent));
  EXPECT_THROW(odd->train_epoch(epoch_order(5, 1, small.count), 8, 0.05f), UsageError);
  // auto falls back to the cuBLAS path for the same shape.
  auto fallback = make_cuda_backend(small, small_labels, init_model(25, kClasses, LossHead::kSoftmax, 15),
                                    test::KernelOptions(CudaKernel::kAuto));
  EXPECT_NO_THROW(fallback->train_epoch(epoch_order(5, 1, small.count), 8, 0.05f));

  CudaOptions streamed = test::KernelOptions(CudaKernel::kPersistent);
  streamed.residency = Residency::kStream;
  EXPECT_TRUE(test::ThrowsWith<UsageError>([&] { make_cuda_backend(images, labels, initial, streamed); },
                                           {"--kernel persistent needs the training set on the device"}));
}

}  // namespace
}  // namespace logreg
