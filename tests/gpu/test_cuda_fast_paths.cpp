// GPU tests of the CUDA backend's fast paths: device-resident data (one upload, batches gathered and
// converted on the device) and CUDA-graph replay of the training step, each against the streamed path and
// against graphs off, bit for bit, and against the CPU reference; lr changes between epochs under replay,
// partial last batches, every loss head, momentum. Fixtures skip with the probe's reason without a GPU.
//
// Why bit-identical: every path feeds the same floats (pixel_to_unit<float> of the same bytes) to the
// same kernels and to cuBLAS with the same arguments (gemm_plan.hpp), the same handle, one stream and the
// same user-owned workspace, so cuBLAS picks the same algorithms; a graph replays the very launches that
// the eager path makes; lr is the same float whether it comes by value or from device memory.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <ostream>
#include <stdexcept>
#include <string>
#include <vector>

#include "cuda_parts.hpp"
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

constexpr int kSide = 28;
constexpr int kDim = kSide * kSide;
constexpr int kClasses = 10;
constexpr std::uint32_t kRows = 1007;  // a partial last batch for every batch size below but 1

const LossHead kHeads[] = {LossHead::kSoftmax, LossHead::kSigmoidSoftmax, LossHead::kOvr};

// First differing element, for the failure message.
std::string first_difference(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return "sizes " + std::to_string(a.size()) + " and " + std::to_string(b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::memcmp(&a[i], &b[i], sizeof(float)) != 0) {
      return "element " + std::to_string(i) + ": " + std::to_string(a[i]) + " vs " + std::to_string(b[i]);
    }
  }
  return "none";
}

// The cuBLAS step path (--kernel cublas), whose resident, graph and streamed variants run the same kernels
// with the same arguments; the persistent kernel has its own tests (test_cuda_persistent.cpp).
CudaOptions options_for(Residency residency, bool graphs, const OptimizerConfig& opt = {}) {
  CudaOptions o;
  o.kernel = CudaKernel::kCublas;
  o.residency = residency;
  o.cuda_graphs = graphs;
  o.optimizer = opt;
  return o;
}

using CudaFastPathTest = test::GpuTest;

// ---- Device-resident + graphs vs device-resident eager vs streamed: bit for bit -----------------------

struct PathCase {
  LossHead head;
  int batch;
  bool momentum;
};

void PrintTo(const PathCase& c, std::ostream* os) {
  *os << loss_head_name(c.head) << ", B=" << c.batch << (c.momentum ? ", momentum" : "");
}

std::string path_case_name(const ::testing::TestParamInfo<PathCase>& info) {
  std::string head = loss_head_name(info.param.head);
  std::replace(head.begin(), head.end(), '-', '_');
  return head + "_B" + std::to_string(info.param.batch) + (info.param.momentum ? "_momentum" : "");
}

std::vector<PathCase> all_path_cases() {
  std::vector<PathCase> cases;
  for (LossHead head : kHeads) {
    for (int batch : {1, 32, 33, 1000}) {
      for (bool momentum : {false, true}) cases.push_back({head, batch, momentum});
    }
  }
  return cases;
}

class CudaPathsAgree : public CudaFastPathTest, public ::testing::WithParamInterface<PathCase> {};

// Two epochs with different learning rates through the three paths; the totals, weights, bias and
// momentum state must be bit-identical after each epoch, and close to the CPU reference at the end.
TEST_P(CudaPathsAgree, GraphsEagerAndStreamedGiveBitIdenticalTrajectories) {
  const PathCase c = GetParam();
  // Batch 1 runs a step per row through four backends: 251 rows test the same paths as 1007 in a quarter
  // of the time. At LOGREG_TEST_SIZE=small 61 rows at batch 1 and 203 at 32 and 33 (a partial last batch at
  // each); batch 1000 keeps its full and partial batch of 1007 rows.
  const std::uint32_t rows = c.batch == 1      ? test::TestSize(251u, 61u)
                             : c.batch >= 1000 ? kRows
                                               : test::TestSize(kRows, 203u);
  ImageSet images;
  LabelSet labels;
  test::SeparableSet(rows, kClasses, kSide, 700 + static_cast<std::uint64_t>(c.batch), &images, &labels);
  const Model initial = init_model(kDim, kClasses, c.head, 701);
  OptimizerConfig opt;
  if (c.momentum) {
    opt.momentum = 0.9f;
    opt.nesterov = true;
    opt.weight_decay = 1e-3f;
  }
  auto graphs = make_cuda_backend(images, labels, initial, options_for(Residency::kDevice, true, opt));
  auto eager = make_cuda_backend(images, labels, initial, options_for(Residency::kDevice, false, opt));
  auto stream = make_cuda_backend(images, labels, initial, options_for(Residency::kStream, true, opt));
  auto cpu = make_cpu_reference_backend(images, labels, initial, opt);
  EXPECT_NE(graphs->name().find("data on device, CUDA graphs on"), std::string::npos) << graphs->name();
  EXPECT_NE(eager->name().find("data on device, CUDA graphs off"), std::string::npos) << eager->name();
  EXPECT_NE(stream->name().find("streamed"), std::string::npos) << stream->name();

  const float lrs[] = {0.05f, 0.01f};  // a schedule: the replayed graph must read each epoch's lr
  for (int epoch = 1; epoch <= 2; ++epoch) {
    const std::vector<std::uint32_t> order = epoch_order(702, epoch, rows);
    const float lr = lrs[epoch - 1];
    const Totals tg = graphs->train_epoch(order, c.batch, lr);
    const Totals te = eager->train_epoch(order, c.batch, lr);
    const Totals ts = stream->train_epoch(order, c.batch, lr);
    cpu->train_epoch(order, c.batch, lr);
    EXPECT_EQ(tg.loss_sum, te.loss_sum) << "epoch " << epoch;
    EXPECT_EQ(tg.loss_sum, ts.loss_sum) << "epoch " << epoch;
    EXPECT_EQ(tg.correct, te.correct) << "epoch " << epoch;
    EXPECT_EQ(tg.correct, ts.correct) << "epoch " << epoch;
    EXPECT_EQ(tg.last_batch_loss, ts.last_batch_loss) << "epoch " << epoch;
    EXPECT_EQ(tg.count, static_cast<std::int64_t>(rows));

    const Model mg = graphs->model();
    const Model me = eager->model();
    const Model ms = stream->model();
    EXPECT_TRUE(bit_identical(mg.weights, me.weights)) << "epoch " << epoch << ", graphs vs eager W: "
                                                       << first_difference(mg.weights, me.weights);
    EXPECT_TRUE(bit_identical(mg.bias, me.bias)) << "epoch " << epoch << ", graphs vs eager b";
    EXPECT_TRUE(bit_identical(me.weights, ms.weights)) << "epoch " << epoch << ", device vs stream W: "
                                                       << first_difference(me.weights, ms.weights);
    EXPECT_TRUE(bit_identical(me.bias, ms.bias)) << "epoch " << epoch << ", device vs stream b";
    if (c.momentum) {
      EXPECT_TRUE(bit_identical(graphs->optimizer_state(), eager->optimizer_state())) << "epoch " << epoch;
      EXPECT_TRUE(bit_identical(eager->optimizer_state(), stream->optimizer_state())) << "epoch " << epoch;
    }
  }
  // The capture did not fail over to eager steps.
  EXPECT_NE(graphs->name().find("CUDA graphs on"), std::string::npos) << graphs->name();
  // And all of them trained the reference's model (a wrong lr or a mis-gathered batch moves this).
  EXPECT_LE(test::RelativeL2(cpu->model().weights, graphs->model().weights), 1e-3);
  EXPECT_LE(test::RelativeL2(cpu->model().bias, graphs->model().bias), 1e-3);
}

INSTANTIATE_TEST_SUITE_P(CudaPathsAgree, CudaPathsAgree, ::testing::ValuesIn(all_path_cases()), path_case_name);

// ---- One step of the device-resident path against reference_sgd_step --------------------------------

class CudaResidentOneStep : public CudaFastPathTest, public ::testing::WithParamInterface<PathCase> {};

TEST_P(CudaResidentOneStep, MatchesReferenceSgdStep) {
  const PathCase c = GetParam();
  const auto n = static_cast<std::uint32_t>(c.batch);
  const ImageSet images = test::RandomImages(n, kSide, kSide, 710 + n);
  const LabelSet labels = test::RandomLabels(n, kClasses, 711 + n);
  const Model initial = init_model(kDim, kClasses, c.head, 712);
  const std::vector<std::uint32_t> order = epoch_order(713, 1, n);
  const float lr = 0.5f;
  auto backend = make_cuda_backend(images, labels, initial, options_for(Residency::kDevice, true));
  const Totals got = backend->train_epoch(order, c.batch, lr);
  const Model after = backend->model();

  std::vector<float> x(static_cast<std::size_t>(n) * kDim);
  std::vector<std::uint8_t> y(n);
  for (std::uint32_t j = 0; j < n; ++j) {
    for (int d = 0; d < kDim; ++d) x[static_cast<std::size_t>(j) * kDim + d] = pixel_to_unit<float>(images.image(order[j])[d]);
    y[j] = labels.labels[order[j]];
  }
  Model ref = initial;
  const Totals want = reference_sgd_step(ref, x.data(), y.data(), c.batch, lr);
  EXPECT_TRUE(test::AllClose(ref.weights, after.weights, 1e-5, 1e-4)) << "updated W";
  EXPECT_TRUE(test::AllClose(ref.bias, after.bias, 1e-5, 1e-4)) << "updated b";
  EXPECT_EQ(got.correct, want.correct);
  EXPECT_NEAR(got.loss_sum, want.loss_sum, 1e-5 + 1e-5 * std::fabs(want.loss_sum));
}

INSTANTIATE_TEST_SUITE_P(CudaResidentOneStep, CudaResidentOneStep,
                         ::testing::Values(PathCase{LossHead::kSoftmax, 1, false}, PathCase{LossHead::kSoftmax, 33, false},
                                           PathCase{LossHead::kSigmoidSoftmax, 32, false},
                                           PathCase{LossHead::kOvr, 1000, false}),
                         path_case_name);

// ---- Learning-rate changes under replay ---------------------------------------------------------------

// Epoch 2 runs at lr 0: a replayed graph that kept epoch 1's lr would move the weights. Epoch 3 runs at a
// new lr and must match the CPU reference that saw the same schedule.
TEST_F(CudaFastPathTest, ReplayedStepReadsEachEpochsLearningRate) {
  ImageSet images;
  LabelSet labels;
  test::SeparableSet(test::TestSize(2000u, 320u), kClasses, kSide, 720, &images, &labels);
  const Model initial = init_model(kDim, kClasses, LossHead::kSoftmax, 721);
  auto gpu = make_cuda_backend(images, labels, initial, options_for(Residency::kDevice, true));
  auto cpu = make_cpu_reference_backend(images, labels, initial);
  const float lrs[] = {0.1f, 0.0f, 0.02f};
  Model after_first;
  for (int epoch = 1; epoch <= 3; ++epoch) {
    const std::vector<std::uint32_t> order = epoch_order(722, epoch, images.count);
    gpu->train_epoch(order, 32, lrs[epoch - 1]);
    cpu->train_epoch(order, 32, lrs[epoch - 1]);
    if (epoch == 1) after_first = gpu->model();
    if (epoch == 2) {
      const Model m = gpu->model();
      EXPECT_TRUE(bit_identical(after_first.weights, m.weights)) << "lr 0 changed W: "
                                                                 << first_difference(after_first.weights, m.weights);
      EXPECT_TRUE(bit_identical(after_first.bias, m.bias)) << "lr 0 changed b";
    }
  }
  EXPECT_LE(test::RelativeL2(cpu->model().weights, gpu->model().weights), 1e-3);
  EXPECT_LE(test::RelativeL2(cpu->model().bias, gpu->model().bias), 1e-3);
  EXPECT_NE(gpu->name().find("CUDA graphs on"), std::string::npos) << gpu->name();
}

// Changing the batch size between calls re-captures the graph (and regrows the batch buffers); going
// back to an earlier size must not replay a stale graph.
TEST_F(CudaFastPathTest, BatchSizeChangesBetweenEpochsMatchGraphsOff) {
  ImageSet images;
  LabelSet labels;
  const std::uint32_t rows = test::TestSize(kRows, 203u);  // 203 = 6 * 32 + 11 = 40 * 5 + 3: partial batches
  test::SeparableSet(rows, kClasses, kSide, 730, &images, &labels);
  const Model initial = init_model(kDim, kClasses, LossHead::kOvr, 731);
  auto graphs = make_cuda_backend(images, labels, initial, options_for(Residency::kDevice, true));
  auto eager = make_cuda_backend(images, labels, initial, options_for(Residency::kDevice, false));
  const int batches[] = {32, 64, 32, 5};
  for (int epoch = 1; epoch <= 4; ++epoch) {
    const std::vector<std::uint32_t> order = epoch_order(732, epoch, rows);
    const Totals a = graphs->train_epoch(order, batches[epoch - 1], 0.03f);
    const Totals b = eager->train_epoch(order, batches[epoch - 1], 0.03f);
    EXPECT_EQ(a.loss_sum, b.loss_sum) << "epoch " << epoch;
    EXPECT_TRUE(bit_identical(graphs->model().weights, eager->model().weights)) << "epoch " << epoch;
  }
}

// The host loop's progress mode hands an epoch over in chunks of whole batches: the same graph is replayed
// across calls, each call restarting the cursor at its own order.
TEST_F(CudaFastPathTest, ChunkedEpochWithGraphsGivesIdenticalWeights) {
  const std::uint32_t n = 1000;
  const ImageSet images = test::RandomImages(n, kSide, kSide, 740);
  const LabelSet labels = test::RandomLabels(n, kClasses, 741);
  const Model initial = init_model(kDim, kClasses, LossHead::kSoftmax, 742);
  const std::vector<std::uint32_t> order = epoch_order(743, 1, n);
  auto whole = make_cuda_backend(images, labels, initial, options_for(Residency::kStream, false));
  auto chunked = make_cuda_backend(images, labels, initial, options_for(Residency::kDevice, true));
  const Totals a = whole->train_epoch(order, 32, 0.05f);
  Totals b;
  for (std::size_t start = 0; start < n; start += 320) {
    const std::size_t end = std::min<std::size_t>(n, start + 320);
    const Totals t = chunked->train_epoch(std::vector<std::uint32_t>(order.begin() + static_cast<std::ptrdiff_t>(start),
                                                                     order.begin() + static_cast<std::ptrdiff_t>(end)),
                                          32, 0.05f);
    b.loss_sum += t.loss_sum;
    b.correct += t.correct;
  }
  EXPECT_EQ(a.correct, b.correct);
  EXPECT_NEAR(a.loss_sum, b.loss_sum, 1e-9 * a.loss_sum);
  EXPECT_TRUE(bit_identical(whole->model().weights, chunked->model().weights));
  EXPECT_TRUE(bit_identical(whole->model().bias, chunked->model().bias));
}

// ---- The gathered batches as the GEMMs read them --------------------------------------------------------

}  // namespace

void PrintTo(Residency r, std::ostream* os) { *os << residency_name(r); }

namespace {

class CudaResidentBatches : public CudaFastPathTest, public ::testing::WithParamInterface<Residency> {};

TEST_P(CudaResidentBatches, BatchesArriveOnDeviceInShuffledOrder) {
  const std::uint32_t n = 1000;
  const int batch = 96;  // 10 full batches and a partial one of 40 rows
  const ImageSet images = test::RandomImages(n, kSide, kSide, 750);
  const LabelSet labels = test::RandomLabels(n, kClasses, 751);
  test::CudaParts parts(images, labels, init_model(kDim, kClasses, LossHead::kSoftmax, 752), GetParam());
  ExpectBatchesInShuffledOrder(parts, images, labels, batch, 753, residency_name(GetParam()));
}

INSTANTIATE_TEST_SUITE_P(CudaResidentBatches, CudaResidentBatches,
                         ::testing::Values(Residency::kDevice, Residency::kStream),
                         [](const ::testing::TestParamInfo<Residency>& info) {
                           return std::string(residency_name(info.param));
                         });

// ---- Residency choice and errors -----------------------------------------------------------------------

TEST_F(CudaFastPathTest, AutoKeepsASmallSetOnTheDevice) {
  const ImageSet images = test::RandomImages(100, kSide, kSide, 760);
  const LabelSet labels = test::RandomLabels(100, kClasses, 761);
  auto backend = make_cuda_backend(images, labels, init_model(kDim, kClasses, LossHead::kSoftmax, 762));
  EXPECT_NE(backend->name().find("data on device"), std::string::npos) << backend->name();
}

TEST_F(CudaFastPathTest, ResidentPathRejectsRowOutsideTheSet) {
  const ImageSet images = test::RandomImages(10, kSide, kSide, 770);
  const LabelSet labels = test::RandomLabels(10, kClasses, 771);
  auto backend = make_cuda_backend(images, labels, init_model(kDim, kClasses, LossHead::kSoftmax, 772),
                                   options_for(Residency::kDevice, true));
  EXPECT_THROW(backend->train_epoch({0, 3, 10}, 2, 0.1f), Error);
  // Still usable after the rejected call.
  const Totals t = backend->train_epoch({0, 3, 9}, 2, 0.1f);
  EXPECT_EQ(t.count, 3);
}

}  // namespace
}  // namespace logreg
