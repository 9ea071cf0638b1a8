// GPU tests of the grid epoch kernel (kernels/grid_epoch.cu, --kernel grid): whole epochs at batch 1024 and
// 8192 against its CPU model (grid_epoch_model.hpp; bit for bit on the emulated device, where the host's expf
// is the kernel's) and against the CPU reference within the cluster kernel's tolerances, for every loss head,
// plain SGD and momentum + Nesterov + weight decay, with a partial last batch; the same bits whatever the number
// of blocks; and the shapes and devices it refuses, with their messages.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "gpu_test.hpp"
#include "grid_epoch.hpp"
#include "grid_epoch_model.hpp"
#include "logreg/cpu_reference.hpp"
#include "logreg/cuda_backend.hpp"
#include "logreg/errors.hpp"
#include "logreg/model.hpp"
#include "logreg/rng.hpp"
#include "test_support.hpp"

namespace logreg {
namespace {

using test::bit_identical;
using test::ScopedEnv;

constexpr int kClasses = 10;

CudaOptions grid_options(const OptimizerConfig& opt = {}) {
  CudaOptions o;
  o.residency = Residency::kDevice;
  o.kernel = CudaKernel::kGrid;
  o.optimizer = opt;
  return o;
}

// The emulated device has one multiprocessor unless told otherwise; give it 4, so that a batch's chunks are
// more than its blocks (each block takes several chunks a step). A real GPU ignores the variable.
class CudaGridTest : public test::GpuTest {
 protected:
  ScopedEnv sms_{"LOGREG_EMU_SMS", "4"};
};

// An epoch case on images of side x side pixels.
struct GridCase : test::EpochCase {
  int side;
  std::uint32_t rows;  // of the training set: a partial last batch
};

void PrintTo(const GridCase& c, std::ostream* os) {
  test::PrintTo(static_cast<const test::EpochCase&>(c), os);
  *os << ", D=" << c.side * c.side;
}

std::string case_name(const ::testing::TestParamInfo<GridCase>& info) {
  return info.param.name() + "_D" + std::to_string(info.param.side * info.param.side);
}

// Batch 1024 of 784 pixels (chunks of 8 rows) over 2500 rows: 1024, 1024, 452. Batch 8192 of 64 pixels
// (chunks of 64 rows) over 10000 rows: 8192, 1808.
std::vector<GridCase> all_cases() {
  return {
      {{LossHead::kSoftmax, 1024, false}, 28, 2500},
      {{LossHead::kSoftmax, 1024, true}, 28, 2500},
      {{LossHead::kSigmoidSoftmax, 1024, true}, 28, 2500},
      {{LossHead::kOvr, 1024, false}, 28, 2500},
      {{LossHead::kSoftmax, 8192, true}, 8, 10000},
  };
}

class CudaGridEpochs : public CudaGridTest, public ::testing::WithParamInterface<GridCase> {};

// Two epochs (lr 0.05, then 0.02, read from the step state). The emulated kernel gives its CPU model's floats
// bit for bit (weights, bias, velocity, loss sums, correct counts), and both follow the double-precision
// reference within the cluster kernel's tolerances. On a GPU the device's expf and contracted multiply-adds
// differ from the host's in the last bits, so there the model is only close.
TEST_P(CudaGridEpochs, MatchesItsCpuModelAndTheReference) {
  const GridCase c = GetParam();
  const int dim = c.side * c.side;
  ImageSet images;
  LabelSet labels;
  test::SeparableSet(c.rows, kClasses, static_cast<std::uint32_t>(c.side), 37, &images, &labels);
  const Model initial = init_model(dim, kClasses, c.head, 12);
  const OptimizerConfig opt = c.optimizer();
  auto gpu = make_cuda_backend(images, labels, initial, grid_options(opt));
  EXPECT_NE(gpu->name().find("kernel grid"), std::string::npos) << gpu->name();
  auto cpu = make_cpu_reference_backend(images, labels, initial, opt);
  std::vector<float> params = initial.weights;
  params.insert(params.end(), initial.bias.begin(), initial.bias.end());
  std::vector<float> velocity(c.momentum ? params.size() : 0, 0.0f);
  const float lrs[] = {0.05f, 0.02f};
  const int last_rows = static_cast<int>(c.rows % c.batch == 0 ? c.batch : c.rows % c.batch);
  for (int epoch = 1; epoch <= 2; ++epoch) {
    const std::vector<std::uint32_t> order = epoch_order(9, epoch, images.count);
    const float lr = lrs[epoch - 1];
    const Totals got = gpu->train_epoch(order, c.batch, lr);
    const test::ClusterModelTotals model = test::grid_epoch_model(images.pixels.data(), labels.labels.data(), order,
                                                                  c.batch, dim, kClasses, c.head, test::SgdParams(opt), lr,
                                                                  params, velocity);
    const Totals want = cpu->train_epoch(order, c.batch, lr);
    test::ExpectEpochTotalsAgree(got, model, want, last_rows, c.rows, epoch);
  }
  test::ExpectModelAndReferenceAgree(*gpu, *cpu, params, velocity);
}

INSTANTIATE_TEST_SUITE_P(CudaGridEpochs, CudaGridEpochs, ::testing::ValuesIn(all_cases()), case_name);

using CudaGrid = CudaGridTest;

// The chunk size is the batch's alone: 8 rows up to batch 1024, then ceil(B / 128), at most 64.
TEST(CudaGridShapes, ChunksSharedMemoryAndScratch) {
  EXPECT_EQ(kernels::grid_epoch_chunk_rows(1), 8);
  EXPECT_EQ(kernels::grid_epoch_chunk_rows(1024), 8);
  EXPECT_EQ(kernels::grid_epoch_chunk_rows(1025), 9);
  EXPECT_EQ(kernels::grid_epoch_chunk_rows(8192), 64);
  EXPECT_EQ(kernels::grid_epoch_chunk_rows(60000), 64);
  EXPECT_EQ(kernels::grid_epoch_chunks(1024, 1024), 128);
  EXPECT_EQ(kernels::grid_epoch_chunks(452, 1024), 57);
  EXPECT_EQ(kernels::grid_epoch_chunks(1808, 8192), 29);
  // 128 slots of 10 x 784 + 10 gradients, then the row losses and flags of 8192 rows.
  EXPECT_EQ(kernels::grid_epoch_scratch_floats(8192, 784, 10), 128u * 7850u + 2u * 8192u);
  // W (10 x 788 floats), b, the chunk's rows, labels, logits and dz, the pixel table, the totals: 39 and 86 KiB.
  EXPECT_EQ(kernels::grid_epoch_shared_bytes(1024, 784, 10), 39552u);
  EXPECT_EQ(kernels::grid_epoch_shared_bytes(8192, 784, 10), 87984u);
  EXPECT_EQ(kernels::grid_epoch_shared_bytes(1024, 25, 10), 0u);   // D not a multiple of 16
  EXPECT_EQ(kernels::grid_epoch_shared_bytes(1024, 784, kernels::kGridMaxClasses + 1), 0u);
  EXPECT_EQ(kernels::grid_epoch_shared_bytes(0, 784, 10), 0u);
}

#if defined(LOGREG_CUDA_EMULATED)
// The same epoch at batch 256 (32 chunks of 8 rows) on 1, 4 and 8 emulated multiprocessors (5, 20 and 32 blocks:
// several chunks per block, then one each): the same bits, as every sum's order is the chunks'. (Batch 1024's
// 128 blocks would be 32,768 emulated threads, each a fiber with its own stack mapping.)
TEST_F(CudaGrid, SameBitsWhateverTheBlockCount) {
  ImageSet images;
  LabelSet labels;
  test::SeparableSet(1500, kClasses, 28, 41, &images, &labels);
  const Model initial = init_model(784, kClasses, LossHead::kSoftmax, 15);
  const std::vector<std::uint32_t> order = epoch_order(3, 1, images.count);
  std::vector<std::vector<float>> results;
  std::vector<Totals> totals;
  for (const char* sms : {"1", "4", "8"}) {
    ScopedEnv env("LOGREG_EMU_SMS", sms);
    auto gpu = make_cuda_backend(images, labels, initial, grid_options(test::EpochOptimizer(true)));
    totals.push_back(gpu->train_epoch(order, 256, 0.05f));
    results.push_back(gpu->model().weights);
    const std::vector<float> v = gpu->optimizer_state();
    results.back().insert(results.back().end(), v.begin(), v.end());
  }
  for (std::size_t k = 1; k < results.size(); ++k) {
    EXPECT_TRUE(bit_identical(results[0], results[k])) << "run " << k;
    EXPECT_EQ(totals[0].loss_sum, totals[k].loss_sum) << "run " << k;
    EXPECT_EQ(totals[0].correct, totals[k].correct) << "run " << k;
  }
}
#endif

// Refused with a usage error naming --kernel grid and the limit, before anything runs: D not a multiple of
// 16, too many classes, too little shared memory, streamed data.
TEST_F(CudaGrid, RefusesWhatItCannotRun) {
  auto expect_refusal = [](int side, int classes, int batch, const std::string& why) {
    ImageSet images;
    LabelSet labels;
    test::SeparableSet(64, classes, static_cast<std::uint32_t>(side), 44, &images, &labels);
    const Model initial = init_model(side * side, classes, LossHead::kSoftmax, 14);
    auto gpu = make_cuda_backend(images, labels, initial, grid_options());
    const std::vector<float> before = gpu->model().weights;
    try {
      gpu->train_epoch(epoch_order(5, 1, images.count), batch, 0.05f);
      FAIL() << "D=" << side * side << ", C=" << classes << " was accepted (" << why << ")";
    } catch (const UsageError& e) {
      EXPECT_NE(std::string(e.what()).find("--kernel grid cannot run batches of " + std::to_string(batch)),
                std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(why), std::string::npos) << e.what();
    }
    EXPECT_TRUE(bit_identical(before, gpu->model().weights));  // nothing ran
  };
  expect_refusal(5, kClasses, 1024, "D a multiple of 16");
  expect_refusal(8, kernels::kGridMaxClasses + 1, 1024, "at most 16 classes");
#if defined(LOGREG_CUDA_EMULATED)
  {
    ScopedEnv smem("LOGREG_EMU_SMEM_PER_BLOCK", "32768");  // W of 10 x 784 floats alone is 31.5 KiB
    expect_refusal(28, kClasses, 1024, "bytes of shared memory per block");
  }
#endif
  ImageSet images;
  LabelSet labels;
  test::SeparableSet(64, kClasses, 8, 45, &images, &labels);
  CudaOptions streamed = grid_options();
  streamed.residency = Residency::kStream;
  EXPECT_TRUE(test::ThrowsWith<UsageError>(
      [&] { make_cuda_backend(images, labels, init_model(64, kClasses, LossHead::kSoftmax, 14), streamed); },
      {"--kernel grid needs the training set on the device"}));
}

// auto does not pick the grid kernel (no GPU has measured it yet): at batch 1024 it runs the cuBLAS steps.
TEST_F(CudaGrid, AutoDoesNotPickIt) {
  ImageSet images;
  LabelSet labels;
  test::SeparableSet(1100, kClasses, 8, 43, &images, &labels);
  const Model initial = init_model(64, kClasses, LossHead::kSoftmax, 13);
  CudaOptions automatic = grid_options();
  automatic.kernel = CudaKernel::kAuto;
  auto a = make_cuda_backend(images, labels, initial, automatic);
  EXPECT_EQ(a->name().find("kernel grid"), std::string::npos) << a->name();
  CudaOptions cublas = grid_options();
  cublas.kernel = CudaKernel::kCublas;
  auto b = make_cuda_backend(images, labels, initial, cublas);
  const std::vector<std::uint32_t> order = epoch_order(4, 1, images.count);
  a->train_epoch(order, 1024, 0.05f);
  b->train_epoch(order, 1024, 0.05f);
  EXPECT_TRUE(bit_identical(a->model().weights, b->model().weights));
}

}  // namespace
}  // namespace logreg
