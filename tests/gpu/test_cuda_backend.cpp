// GPU tests of the CUDA backend against the CPU reference: one SGD step per loss head and batch size
// (updated parameters and every intermediate), whole epochs, evaluation, the pinned batch ring, and
// determinism. Fixtures skip with the probe's reason when no CUDA device is usable; the no-device test
// runs everywhere.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <iostream>
#include <stdexcept>
#include <ostream>
#include <string>
#include <vector>

#include "cuda_parts.hpp"
#include "device_resources.hpp"
#include "logreg/cpu_reference.hpp"
#include "logreg/cuda_backend.hpp"
#include "logreg/errors.hpp"
#include "logreg/model.hpp"
#include "logreg/rng.hpp"
#include "logreg/maths/row_math.hpp"
#include "gpu_test.hpp"
#include "test_support.hpp"

namespace logreg {
namespace {

using test::bit_identical;
using test::ExpectBatchesInShuffledOrder;

using test::AllClose;

constexpr int kSide = 28;
constexpr int kDim = kSide * kSide;
constexpr int kClasses = 10;

const LossHead kHeads[] = {LossHead::kSoftmax, LossHead::kSigmoidSoftmax, LossHead::kOvr};

// Rows order[0..n) as the backend should see them: x (n, D) in [0, 1] and labels (n).
void ordered_rows(const ImageSet& images, const LabelSet& labels, const std::vector<std::uint32_t>& order,
                  std::vector<float>* x, std::vector<std::uint8_t>* y) {
  const std::size_t dim = images.dim();
  x->resize(order.size() * dim);
  y->resize(order.size());
  for (std::size_t j = 0; j < order.size(); ++j) {
    const std::uint8_t* img = images.image(order[j]);
    for (std::size_t d = 0; d < dim; ++d) (*x)[j * dim + d] = pixel_to_unit<float>(img[d]);
    (*y)[j] = labels.labels[order[j]];
  }
}

using CudaBackendTest = test::GpuTest;

// ---- One step against reference_sgd_step ---------------------------------------------------------

struct StepCase {
  LossHead head;
  int batch;
};

void PrintTo(const StepCase& c, std::ostream* os) { *os << loss_head_name(c.head) << ", B=" << c.batch; }

std::string step_case_name(const ::testing::TestParamInfo<StepCase>& info) {
  std::string head = loss_head_name(info.param.head);
  std::replace(head.begin(), head.end(), '-', '_');
  return head + "_B" + std::to_string(info.param.batch);
}

std::vector<StepCase> all_step_cases() {
  std::vector<StepCase> cases;
  for (LossHead head : kHeads) {
    for (int batch : {1, 32, 33, 1000}) cases.push_back({head, batch});
  }
  return cases;
}

class CudaOneStep : public CudaBackendTest, public ::testing::WithParamInterface<StepCase> {};

TEST_P(CudaOneStep, MatchesReferenceSgdStep) {
  const LossHead head = GetParam().head;
  const int batch = GetParam().batch;
  const auto n = static_cast<std::uint32_t>(batch);
  const ImageSet images = test::RandomImages(n, kSide, kSide, 100 + n);
  const LabelSet labels = test::RandomLabels(n, kClasses, 200 + n);
  const Model initial = init_model(kDim, kClasses, head, 7);
  const std::vector<std::uint32_t> order = epoch_order(3, 1, n);  // shuffled: the gather is part of it
  const float lr = 0.5f;  // large, so a wrong gradient moves the weights beyond the tolerance

  // The backend's parts (last_step() describes the step-by-step path's buffers).
  test::CudaParts parts(images, labels, initial, Residency::kDevice);
  const Totals got = parts.train_epoch(order, batch, lr);
  const Model after = parts.model();
  const cuda::StepIntermediates step = parts.last_step();

  std::vector<float> x;
  std::vector<std::uint8_t> y;
  ordered_rows(images, labels, order, &x, &y);
  Model ref = initial;
  std::vector<double> logits(static_cast<std::size_t>(batch) * kClasses), dz(logits.size());
  std::vector<double> dw(static_cast<std::size_t>(kClasses) * kDim), db(kClasses);
  const Totals want = reference_sgd_step(ref, x.data(), y.data(), batch, lr, logits.data(), dz.data(),
                                         dw.data(), db.data());

  EXPECT_TRUE(AllClose(ref.weights, after.weights, 1e-5, 1e-4)) << "updated W";
  EXPECT_TRUE(AllClose(ref.bias, after.bias, 1e-5, 1e-4)) << "updated b";
  ASSERT_EQ(step.batch, batch);
  EXPECT_TRUE(AllClose(logits, step.logits, 1e-5, 1e-4)) << "logits X·Wᵀ + b";
  EXPECT_TRUE(AllClose(dz, step.dz, 1e-5 / batch, 1e-4)) << "dZ";
  EXPECT_TRUE(AllClose(dw, step.dw, 1e-5, 1e-4)) << "dW";
  EXPECT_TRUE(AllClose(db, step.db, 1e-5, 1e-4)) << "db";
  EXPECT_EQ(got.count, batch);
  EXPECT_EQ(got.correct, want.correct);
  EXPECT_NEAR(got.loss_sum, want.loss_sum, 1e-5 + 1e-5 * std::fabs(want.loss_sum));
  EXPECT_NEAR(got.last_batch_loss, want.mean_loss(), 1e-5 + 1e-5 * want.mean_loss());
}

INSTANTIATE_TEST_SUITE_P(CudaOneStep, CudaOneStep, ::testing::ValuesIn(all_step_cases()), step_case_name);

// ---- Whole epochs against the CPU reference backend ----------------------------------------------

class CudaEpochs : public CudaBackendTest, public ::testing::WithParamInterface<LossHead> {};

TEST_P(CudaEpochs, TrajectoryWeightsAndTestAccuracyMatchReference) {
  ImageSet train_images, test_images;
  LabelSet train_labels, test_labels;
  // 1,000 training rows: 32 steps an epoch through the default (persistent) kernel. At LOGREG_TEST_SIZE=small
  // two epochs of 200 rows (a partial last batch of 8) and 300 test rows.
  const std::uint32_t train_rows = test::TestSize(1000u, 200u);
  const std::uint32_t test_rows = test::TestSize(2000u, 300u);
  test::SeparableSet(train_rows, kClasses, kSide, 21, &train_images, &train_labels);
  test::SeparableSet(test_rows, kClasses, kSide, 22, &test_images, &test_labels);
  const int epochs = test::TestSize(3, 2);
  // One row in percent, where the small size makes it more than the full size's tolerance.
  const double train_acc_tol = test::TestSize(0.1, 100.0 / train_rows + 0.01);
  const double test_acc_tol = test::TestSize(0.05, 100.0 / test_rows + 0.01);
  const Model initial = init_model(kDim, kClasses, GetParam(), 9);
  const int batch = 32;
  const float lr = 0.01f;

  auto cpu = make_cpu_reference_backend(train_images, train_labels, initial);
  auto gpu = make_cuda_backend(train_images, train_labels, initial);
  for (int epoch = 1; epoch <= epochs; ++epoch) {
    const std::vector<std::uint32_t> order = epoch_order(5, epoch, train_images.count);
    const Totals want = cpu->train_epoch(order, batch, lr);
    const Totals got = gpu->train_epoch(order, batch, lr);
    EXPECT_EQ(got.count, want.count);
    EXPECT_NEAR(got.mean_loss(), want.mean_loss(), 1e-4 + 1e-3 * want.mean_loss()) << "epoch " << epoch;
    EXPECT_NEAR(got.accuracy_percent(), want.accuracy_percent(), train_acc_tol) << "epoch " << epoch;
    EXPECT_NEAR(got.last_batch_loss, want.last_batch_loss, 1e-4 + 1e-3 * want.last_batch_loss) << "epoch " << epoch;
  }
  const Model want_model = cpu->model();
  const Model got_model = gpu->model();
  EXPECT_LE(test::RelativeL2(want_model.weights, got_model.weights), 1e-3);
  EXPECT_LE(test::RelativeL2(want_model.bias, got_model.bias), 1e-3);

  const Totals want_test = cpu->evaluate(test_images, test_labels);
  const Totals got_test = gpu->evaluate(test_images, test_labels);
  EXPECT_EQ(got_test.count, want_test.count);
  EXPECT_NEAR(got_test.accuracy_percent(), want_test.accuracy_percent(), test_acc_tol);
  EXPECT_NEAR(got_test.mean_loss(), want_test.mean_loss(), 1e-4 + 1e-3 * want_test.mean_loss());
}

INSTANTIATE_TEST_SUITE_P(CudaEpochs, CudaEpochs, ::testing::ValuesIn(kHeads),
                         [](const ::testing::TestParamInfo<LossHead>& info) {
                           std::string s = loss_head_name(info.param);
                           std::replace(s.begin(), s.end(), '-', '_');
                           return s;
                         });

// ---- Momentum, Nesterov and weight decay fused into the update kernel ------------------------------

TEST_F(CudaBackendTest, MomentumNesterovAndWeightDecayMatchReference) {
  ImageSet images;
  LabelSet labels;
  test::SeparableSet(test::TestSize(1000u, 168u), kClasses, kSide, 41, &images, &labels);  // partial last batch
  const Model initial = init_model(kDim, kClasses, LossHead::kSoftmax, 42);
  OptimizerConfig opt;
  opt.momentum = 0.9f;
  opt.nesterov = true;
  opt.weight_decay = 0.01f;
  std::vector<float> velocity(initial.weights.size() + initial.bias.size());
  Rng rng(43, 1);
  for (auto& v : velocity) v = static_cast<float>(0.01 * (rng.unit() - 0.5));  // a resumed state
  auto cpu = make_cpu_reference_backend(images, labels, initial, opt, velocity);
  CudaOptions options;
  options.optimizer = opt;
  options.velocity = velocity;
  auto gpu = make_cuda_backend(images, labels, initial, options);
  for (int epoch = 1; epoch <= 2; ++epoch) {
    const std::vector<std::uint32_t> order = epoch_order(6, epoch, images.count);
    cpu->train_epoch(order, 32, 0.01f);
    gpu->train_epoch(order, 32, 0.01f);
  }
  EXPECT_LE(test::RelativeL2(cpu->model().weights, gpu->model().weights), 1e-3);
  EXPECT_LE(test::RelativeL2(cpu->model().bias, gpu->model().bias), 1e-3);
  const std::vector<float> want_v = cpu->optimizer_state();
  const std::vector<float> got_v = gpu->optimizer_state();
  ASSERT_EQ(got_v.size(), velocity.size());
  EXPECT_LE(test::RelativeL2(want_v, got_v), 1e-3);
}

// ---- Evaluation ----------------------------------------------------------------------------------

TEST_F(CudaBackendTest, EvaluateMatchesReferenceAcrossChunks) {
  // More rows than one evaluation chunk (8192), so the chunk loop and its offsets are exercised.
  const ImageSet images = test::RandomImages(9000, kSide, kSide, 31);
  const LabelSet labels = test::RandomLabels(9000, kClasses, 32);
  const Model initial = init_model(kDim, kClasses, LossHead::kSoftmax, 33);
  auto cpu = make_cpu_reference_backend(images, labels, initial);
  auto gpu = make_cuda_backend(images, labels, initial);
  const Totals want = cpu->evaluate(images, labels);
  const Totals got = gpu->evaluate(images, labels);
  const Totals again = gpu->evaluate(images, labels);  // cached upload
  EXPECT_EQ(got.count, 9000);
  EXPECT_NEAR(got.loss_sum, want.loss_sum, 1e-5 * std::fabs(want.loss_sum));
  EXPECT_NEAR(static_cast<double>(got.correct), static_cast<double>(want.correct), 0.0005 * 9000);
  EXPECT_EQ(again.loss_sum, got.loss_sum);
  EXPECT_EQ(again.correct, got.correct);
}

// Regression: with a validation split every epoch evaluates two sets; each must be
// uploaded once and then served from the cache, not freed and re-uploaded every epoch.
TEST_F(CudaBackendTest, TestAndValidationSetsAreUploadedOnceEach) {
  const ImageSet train = test::RandomImages(64, kSide, kSide, 34);
  const LabelSet train_labels = test::RandomLabels(64, kClasses, 35);
  const ImageSet test_images = test::RandomImages(50, kSide, kSide, 36);
  const LabelSet test_labels = test::RandomLabels(50, kClasses, 37);
  const ImageSet val_images = test::RandomImages(30, kSide, kSide, 38);
  const LabelSet val_labels = test::RandomLabels(30, kClasses, 39);
  test::CudaParts gpu(train, train_labels, init_model(kDim, kClasses, LossHead::kSoftmax, 40), Residency::kDevice);
  Totals first_test;
  Totals first_val;
  for (int epoch = 1; epoch <= 3; ++epoch) {
    const Totals t = gpu.evaluate(test_images, test_labels);
    const Totals v = gpu.evaluate(val_images, val_labels);
    if (epoch == 1) {
      first_test = t;
      first_val = v;
    }
    EXPECT_EQ(t.loss_sum, first_test.loss_sum);  // no training in between: the same answers
    EXPECT_EQ(v.correct, first_val.correct);
    EXPECT_EQ(t.count, 50);
    EXPECT_EQ(v.count, 30);
  }
  EXPECT_EQ(gpu.evaluator().uploads(), 2u);
}

// ---- The pinned batch ring -----------------------------------------------------------------------

class CudaBatchRing : public CudaBackendTest, public ::testing::WithParamInterface<int> {};

TEST_P(CudaBatchRing, BatchesArriveOnDeviceInShuffledOrder) {
  const std::uint32_t n = 1000;
  const int batch = 96;  // 10 full batches and a partial one of 40 rows
  const ImageSet images = test::RandomImages(n, kSide, kSide, 41);
  const LabelSet labels = test::RandomLabels(n, kClasses, 42);
  // The pinned ring is the streaming path.
  test::CudaParts parts(images, labels, init_model(kDim, kClasses, LossHead::kSoftmax, 43), Residency::kStream,
                        GetParam());
  ExpectBatchesInShuffledOrder(parts, images, labels, batch, 44, "ring of " + std::to_string(GetParam()) + " slots");
}

INSTANTIATE_TEST_SUITE_P(CudaBatchRing, CudaBatchRing, ::testing::Values(2, 3, 5));

// Handing an epoch over in chunks of whole batches (the host loop's progress mode) changes nothing.
TEST_F(CudaBackendTest, ChunkedEpochGivesIdenticalWeights) {
  const std::uint32_t n = test::TestSize(1000u, 200u);
  const std::ptrdiff_t split = test::TestSize(320, 96);  // whole batches of 32
  const ImageSet images = test::RandomImages(n, kSide, kSide, 51);
  const LabelSet labels = test::RandomLabels(n, kClasses, 52);
  const Model initial = init_model(kDim, kClasses, LossHead::kSoftmax, 53);
  const std::vector<std::uint32_t> order = epoch_order(54, 1, n);
  auto whole = make_cuda_backend(images, labels, initial);
  auto chunked = make_cuda_backend(images, labels, initial);
  const Totals a = whole->train_epoch(order, 32, 0.05f);
  const std::vector<std::uint32_t> first(order.begin(), order.begin() + split);
  const std::vector<std::uint32_t> rest(order.begin() + split, order.end());
  const Totals b1 = chunked->train_epoch(first, 32, 0.05f);
  const Totals b2 = chunked->train_epoch(rest, 32, 0.05f);
  EXPECT_EQ(a.correct, b1.correct + b2.correct);
  EXPECT_NEAR(a.loss_sum, b1.loss_sum + b2.loss_sum, 1e-9 * a.loss_sum);
  EXPECT_TRUE(bit_identical(whole->model().weights, chunked->model().weights));
  EXPECT_TRUE(bit_identical(whole->model().bias, chunked->model().bias));
}

// ---- Determinism ---------------------------------------------------------------------------------

TEST_F(CudaBackendTest, SameSeedGivesBitIdenticalRuns) {
  ImageSet images;
  LabelSet labels;
  test::SeparableSet(test::TestSize(2000u, 300u), kClasses, kSide, 61, &images, &labels);
  const Model initial = init_model(kDim, kClasses, LossHead::kSigmoidSoftmax, 62);
  auto run = [&](std::vector<Totals>* trajectory) {
    auto backend = make_cuda_backend(images, labels, initial);
    for (int epoch = 1; epoch <= 2; ++epoch) {
      backend->begin_epoch(epoch);
      trajectory->push_back(backend->train_epoch(epoch_order(63, epoch, images.count), 33, 0.02f));
      trajectory->push_back(backend->evaluate(images, labels));
      backend->end_epoch(epoch);
    }
    return backend->model();
  };
  std::vector<Totals> t1, t2;
  const Model m1 = run(&t1);
  const Model m2 = run(&t2);
  EXPECT_TRUE(bit_identical(m1.weights, m2.weights));
  EXPECT_TRUE(bit_identical(m1.bias, m2.bias));
  ASSERT_EQ(t1.size(), t2.size());
  for (std::size_t i = 0; i < t1.size(); ++i) {
    EXPECT_EQ(t1[i].loss_sum, t2[i].loss_sum) << "totals " << i;
    EXPECT_EQ(t1[i].correct, t2[i].correct) << "totals " << i;
  }
}

// ---- Resources and naming ------------------------------------------------------------------------

TEST_F(CudaBackendTest, NameCarriesDeviceAndComputeCapability) {
  const ImageSet images = test::RandomImages(4, kSide, kSide, 71);
  const LabelSet labels = test::RandomLabels(4, kClasses, 72);
  auto backend = make_cuda_backend(images, labels, init_model(kDim, kClasses, LossHead::kOvr, 73));
  const std::string name = backend->name();
  EXPECT_EQ(name.rfind("cuda (", 0), 0u) << name;
  EXPECT_NE(name.find(probe_.device_name), std::string::npos) << name;
  EXPECT_NE(name.find(", cc "), std::string::npos) << name;
}

TEST_F(CudaBackendTest, OutOfMemoryThrowsResourceErrorNamingTheSize) {
  const std::size_t huge = std::size_t{1} << 50;  // 4 PiB of floats
  try {
    cuda::DeviceBuffer<float> buffer(huge);
    FAIL() << "allocating 4 PiB succeeded";
  } catch (const ResourceError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("out of GPU memory"), std::string::npos) << what;
    EXPECT_NE(what.find(std::to_string(huge * sizeof(float))), std::string::npos) << what;
  }
  cuda::DeviceBuffer<float> small(16);  // the failure was not sticky
  EXPECT_EQ(small.size(), 16u);
}

TEST_F(CudaBackendTest, RejectsRingOfOneSlot) {
  const ImageSet images = test::RandomImages(4, kSide, kSide, 81);
  const LabelSet labels = test::RandomLabels(4, kClasses, 82);
  CudaOptions options;
  options.ring_slots = 1;
  EXPECT_THROW(make_cuda_backend(images, labels, init_model(kDim, kClasses, LossHead::kSoftmax, 83), options),
               UsageError);
}

// Runs with or without a GPU: either a device is usable, or creating the backend throws ResourceError
// (exit code kDevice) carrying the probe's reason -- never a crash.
TEST(CudaBackendNoDevice, UsableDeviceOrResourceError) {
  CudaProbe probe;
  ASSERT_NO_THROW(probe = probe_cuda());
  const ImageSet images = test::RandomImages(4, kSide, kSide, 91);
  const LabelSet labels = test::RandomLabels(4, kClasses, 92);
  const Model initial = init_model(kDim, kClasses, LossHead::kSoftmax, 93);
  if (probe.usable) {
    EXPECT_GE(probe.device_count, 1);
    EXPECT_FALSE(probe.device_name.empty());
    EXPECT_NO_THROW(make_cuda_backend(images, labels, initial));
    return;
  }
  EXPECT_FALSE(probe.reason.empty());
  std::cout << "[          ] no usable CUDA device: " << probe.reason << "\n";
  try {
    make_cuda_backend(images, labels, initial);
    FAIL() << "make_cuda_backend succeeded although the probe said: " << probe.reason;
  } catch (const ResourceError& e) {
    EXPECT_EQ(e.code(), ExitCode::kDevice);
    EXPECT_NE(std::string(e.what()).find(probe.reason), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace logreg
