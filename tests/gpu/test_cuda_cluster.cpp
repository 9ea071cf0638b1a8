// GPU tests of the cluster epoch kernel (kernels/cluster_epoch.cu, --kernel cluster): whole epochs against its
// CPU model (cluster_epoch_model.hpp; bit for bit on the emulated device, where the host's expf is the
// kernel's) and against the CPU reference within the persistent kernel's tolerances, for every loss head,
// plain SGD and momentum + Nesterov + weight decay, full and partial last batches; and the devices and shapes
// it refuses, with their messages.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <ostream>
#include <string>
#include <vector>

#include "cluster_epoch.hpp"
#include "cluster_epoch_plan.hpp"
#include "cluster_epoch_model.hpp"
#include "cuda_check.hpp"
#include "device_resources.hpp"
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
using test::ScopedEnv;

constexpr int kSide = 28;
constexpr int kDim = kSide * kSide;
constexpr int kClasses = 10;

CudaOptions cluster_options(const OptimizerConfig& opt = {}) { return test::KernelOptions(CudaKernel::kCluster, opt); }

using test::SgdParams;

// The emulated device has one multiprocessor unless told otherwise, too few for a cluster of 7 blocks of 256
// threads; give it an H100's 132 (a real GPU ignores the variable).
class CudaClusterTest : public test::GpuTest {
 protected:
  ScopedEnv sms_{"LOGREG_EMU_SMS", "132"};
};

std::vector<test::EpochCase> all_cases() {
  std::vector<test::EpochCase> cases;
  for (LossHead head : {LossHead::kSoftmax, LossHead::kSigmoidSoftmax, LossHead::kOvr}) {
    cases.push_back({head, 8, false});
    cases.push_back({head, 8, true});
  }
  // A partial last batch, one row per step, and the largest batch (the most shared memory).
  cases.push_back({LossHead::kSoftmax, 45, true});
  cases.push_back({LossHead::kSoftmax, 1, false});
  cases.push_back({LossHead::kSoftmax, kernels::kClusterMaxBatch, true});
  return cases;
}

class CudaClusterEpochs : public CudaClusterTest, public ::testing::WithParamInterface<test::EpochCase> {};

// Three epochs (lr 0.02, 0.01, 0.005, read from the step state) over 300 rows: at batch 8, 114 steps. The
// emulated kernel gives its CPU model's floats bit for bit (weights, bias, velocity, loss sums, correct counts),
// and both follow the double-precision reference within the persistent kernel's tolerances. On a GPU the
// device's expf and contracted multiply-adds differ from the host's in the last bits, so there the model is
// only close. At LOGREG_TEST_SIZE=small: two epochs over 96 rows.
TEST_P(CudaClusterEpochs, MatchesItsCpuModelAndTheReference) {
  const test::EpochCase c = GetParam();
  const test::TrajectorySet set(c.head);
  const auto& [rows, epochs, images, labels, initial] = set;
  const OptimizerConfig opt = c.optimizer();
  auto gpu = make_cuda_backend(images, labels, initial, cluster_options(opt));
  if (!cuda::plan_cluster_epoch(c.batch, kDim, kClasses, c.momentum).runs()) {  // a GPU without clusters
    EXPECT_THROW(gpu->train_epoch(epoch_order(7, 1, images.count), c.batch, 0.02f), UsageError);
    return;
  }
  EXPECT_NE(gpu->name().find("kernel cluster"), std::string::npos) << gpu->name();
  auto cpu = make_cpu_reference_backend(images, labels, initial, opt);
  std::vector<float> params = initial.weights;
  params.insert(params.end(), initial.bias.begin(), initial.bias.end());
  std::vector<float> velocity(c.momentum ? params.size() : 0, 0.0f);
  const int ranks = kernels::cluster_epoch_ranks(kDim);
  ASSERT_EQ(ranks, 7);
  const float lrs[] = {0.02f, 0.01f, 0.005f};
  const int last_rows = static_cast<int>(rows % c.batch == 0 ? c.batch : rows % c.batch);
  for (int epoch = 1; epoch <= epochs; ++epoch) {
    const std::vector<std::uint32_t> order = epoch_order(7, epoch, images.count);
    const float lr = lrs[epoch - 1];
    const Totals got = gpu->train_epoch(order, c.batch, lr);
    const test::ClusterModelTotals model =
        test::cluster_epoch_model(images.pixels.data(), labels.labels.data(), order, c.batch, kDim, kClasses, ranks,
                                  c.head, SgdParams(opt), lr, params, velocity);
    const Totals want = cpu->train_epoch(order, c.batch, lr);
    test::ExpectEpochTotalsAgree(got, model, want, last_rows, rows, epoch);
  }
  test::ExpectModelAndReferenceAgree(*gpu, *cpu, params, velocity);
}

INSTANTIATE_TEST_SUITE_P(CudaClusterEpochs, CudaClusterEpochs, ::testing::ValuesIn(all_cases()),
                         test::EpochCaseName);

using CudaCluster = CudaClusterTest;

// The shapes: 784 pixels split 7 ways (112 each, 7 copies of 16 bytes), 1024 8 ways; no split of 25 pixels.
TEST(CudaClusterShapes, RanksAndSharedMemory) {
  EXPECT_EQ(kernels::cluster_epoch_ranks(784), 7);
  EXPECT_EQ(kernels::cluster_epoch_ranks(1024), 8);
  EXPECT_EQ(kernels::cluster_epoch_ranks(64), 4);
  EXPECT_EQ(kernels::cluster_epoch_ranks(25), 0);
  EXPECT_EQ(kernels::cluster_epoch_shared_bytes(kernels::kClusterMaxBatch + 1, 784, 10, false), 0u);
  EXPECT_EQ(kernels::cluster_epoch_shared_bytes(32, 784, kernels::kClusterMaxClasses + 1, false), 0u);
  // Batch 256 of MNIST with momentum: W and velocity slices (10 x 116 floats each), bias and its velocity
  // (16-byte aligned), two batches of 256 x 112 pixels, their labels, 2 x 7 x 256 x 10 partial logits, dz, row
  // losses, row flags, the pixel table, two mbarriers: within an H100's 227 KiB.
  const std::size_t largest = kernels::cluster_epoch_shared_bytes(256, 784, 10, true);
  EXPECT_EQ(largest, 4640u + 4640u + 48u + 48u + 57344u + 512u + 143360u + 10240u + 1024u + 1024u + 1024u + 16u);
  EXPECT_LE(largest, 227u << 10);
}

// Where it cannot run, --kernel cluster says why before anything runs: a GPU without clusters (compute
// capability 8.x on the emulated device), too little shared memory, too large a batch, streamed data.
TEST_F(CudaCluster, RefusesWhatItCannotRun) {
  ImageSet images;
  LabelSet labels;
  test::SeparableSet(200, kClasses, kSide, 44, &images, &labels);
  const Model initial = init_model(kDim, kClasses, LossHead::kSoftmax, 14);
  const std::vector<std::uint32_t> order = epoch_order(5, 1, images.count);
  auto expect_refusal = [&](int batch, const std::string& why) {
    auto gpu = make_cuda_backend(images, labels, initial, cluster_options());
    const std::vector<float> before = gpu->model().weights;
    try {
      gpu->train_epoch(order, batch, 0.05f);
      FAIL() << "batch " << batch << " was accepted (" << why << ")";
    } catch (const UsageError& e) {
      EXPECT_NE(std::string(e.what()).find("--kernel cluster cannot run batches of " + std::to_string(batch)),
                std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(why), std::string::npos) << e.what();
    }
    EXPECT_TRUE(bit_identical(before, gpu->model().weights));  // nothing ran
  };
  expect_refusal(kernels::kClusterMaxBatch + 1, "at most 256 rows");
#if defined(LOGREG_CUDA_EMULATED)
  {
    ScopedEnv cc("LOGREG_EMU_CC", "80");
    expect_refusal(32, "no thread block clusters");
  }
  // The other cases on an sm_90 with clusters whatever the environment says (tools/testing/test_emulated.sh reruns
  // these tests as smaller GPUs without clusters).
  ScopedEnv cc("LOGREG_EMU_CC", "90");
  ScopedEnv clusters("LOGREG_EMU_CLUSTERS", "1");
  {
    ScopedEnv none("LOGREG_EMU_CLUSTERS", "0");  // as a MIG slice without cluster launches
    expect_refusal(32, "no thread block clusters");
  }
  {
    ScopedEnv smem("LOGREG_EMU_SMEM_PER_BLOCK", "101376");  // an RTX 4090's 99 KiB
    expect_refusal(256, "bytes of shared memory per block");
  }
  {
    ScopedEnv smem("LOGREG_EMU_SMEM_PER_BLOCK", "232448");  // an H100's 227 KiB
    ScopedEnv one_sm("LOGREG_EMU_SMS", "1");  // room for 1 block of 256 threads and 219 KiB, not a cluster of 7
    expect_refusal(256, "cannot hold a cluster of 7 blocks");
  }
#endif
  CudaOptions streamed = cluster_options();
  streamed.residency = Residency::kStream;
  EXPECT_TRUE(test::ThrowsWith<UsageError>([&] { make_cuda_backend(images, labels, initial, streamed); },
                                           {"--kernel cluster needs the training set on the device"}));
}

// Epochs of the cluster kernel launched directly (no backend), with the given exchange and its phase timings
// on: the parameters and velocity after them, the last epoch's totals and phase cycles.
struct KernelEpochs {
  std::vector<float> params;
  std::vector<float> velocity;
  kernels::DeviceTotals totals{};
  std::vector<long long> phase_cycles;
};

KernelEpochs RunKernelEpochs(kernels::ClusterExchange exchange, const ImageSet& images, const LabelSet& labels,
                             const std::vector<float>& initial, int batch, const OptimizerConfig& opt,
                             const std::vector<std::vector<std::uint32_t>>& orders, const std::vector<float>& lrs) {
  using cuda::DeviceBuffer;
  const bool momentum = opt.momentum != 0.0f;
  DeviceBuffer<std::uint8_t> pixels(images.pixels.size());
  DeviceBuffer<std::uint8_t> device_labels(labels.count());
  DeviceBuffer<std::uint32_t> order(images.count);
  DeviceBuffer<float> params(initial.size());
  DeviceBuffer<float> velocity(momentum ? initial.size() : 0);
  DeviceBuffer<kernels::DeviceStepState> state(1);
  DeviceBuffer<kernels::DeviceTotals> totals(1);
  DeviceBuffer<long long> phases(kernels::kClusterPhases);
  CUDA_CHECK(cudaMemcpy(pixels.data(), images.pixels.data(), pixels.bytes(), cudaMemcpyHostToDevice));
  CUDA_CHECK(cudaMemcpy(device_labels.data(), labels.labels.data(), device_labels.bytes(), cudaMemcpyHostToDevice));
  CUDA_CHECK(cudaMemcpy(params.data(), initial.data(), params.bytes(), cudaMemcpyHostToDevice));
  if (momentum) CUDA_CHECK(cudaMemset(velocity.data(), 0, velocity.bytes()));
  kernels::PersistentEpochArgs a{};
  a.pixels = pixels.data();
  a.labels = device_labels.data();
  a.order = order.data();
  a.rows = images.count;
  a.batch = batch;
  a.dim = kDim;
  a.classes = kClasses;
  a.head = LossHead::kSoftmax;
  a.sgd = SgdParams(opt);
  a.params = params.data();
  a.velocity = momentum ? velocity.data() : nullptr;
  a.state = state.data();
  a.totals = totals.data();
  const std::size_t shared = kernels::cluster_epoch_shared_bytes(batch, kDim, kClasses, momentum);
  KernelEpochs out;
  for (std::size_t e = 0; e < orders.size(); ++e) {
    const kernels::DeviceStepState s{0, lrs[e]};
    CUDA_CHECK(cudaMemcpy(order.data(), orders[e].data(), order.bytes(), cudaMemcpyHostToDevice));
    CUDA_CHECK(cudaMemcpy(state.data(), &s, sizeof s, cudaMemcpyHostToDevice));
    CUDA_CHECK(cudaMemset(totals.data(), 0, totals.bytes()));
    kernels::cluster_epoch(a, shared, nullptr, exchange, phases.data());
    CUDA_CHECK(cudaDeviceSynchronize());
  }
  out.params.resize(initial.size());
  CUDA_CHECK(cudaMemcpy(out.params.data(), params.data(), params.bytes(), cudaMemcpyDeviceToHost));
  if (momentum) {
    out.velocity.resize(initial.size());
    CUDA_CHECK(cudaMemcpy(out.velocity.data(), velocity.data(), velocity.bytes(), cudaMemcpyDeviceToHost));
  }
  CUDA_CHECK(cudaMemcpy(&out.totals, totals.data(), sizeof out.totals, cudaMemcpyDeviceToHost));
  out.phase_cycles.resize(kernels::kClusterPhases);
  CUDA_CHECK(cudaMemcpy(out.phase_cycles.data(), phases.data(), phases.bytes(), cudaMemcpyDeviceToHost));
  return out;
}

// The mbarrier exchange (no cluster barrier per step) hands over the same partials in the same slots, so it
// gives the cluster.sync() exchange's bits, and both give the CPU model's on the emulated device (which runs
// the remote arrives, the fences and the parity waits; with the phase timings on: they change no result). Two
// epochs with momentum at batch 32 (a partial last batch), and at batch 1, where consecutive steps reuse each
// parity barrier fastest.
TEST_F(CudaCluster, MbarrierExchangeGivesTheClusterSyncBitsAndTheModels) {
  ImageSet images;
  LabelSet labels;
  test::SeparableSet(test::TestSize(300u, 96u), kClasses, kSide, 47, &images, &labels);
  const Model initial = init_model(kDim, kClasses, LossHead::kSoftmax, 17);
  std::vector<float> params = initial.weights;
  params.insert(params.end(), initial.bias.begin(), initial.bias.end());
  OptimizerConfig opt;
  opt.momentum = 0.9f;
  opt.nesterov = true;
  opt.weight_decay = 1e-3f;
  for (const int batch : {32, 1}) {
    SCOPED_TRACE("batch " + std::to_string(batch));
    const cuda::ClusterEpochPlan plan = cuda::plan_cluster_epoch(batch, kDim, kClasses, true);
    if (!plan.runs()) {  // a GPU without clusters (as tools/testing/test_emulated.sh's sm_86 and sm_75)
      EXPECT_NE(plan.refusal.find("no thread block clusters"), std::string::npos) << plan.refusal;
      return;
    }
    const std::vector<std::vector<std::uint32_t>> orders = {epoch_order(9, 1, images.count),
                                                             epoch_order(9, 2, images.count)};
    const std::vector<float> lrs = {0.02f, 0.01f};
    const KernelEpochs sync = RunKernelEpochs(kernels::ClusterExchange::kClusterSync, images, labels, params, batch,
                                              opt, orders, lrs);
    const KernelEpochs mbarrier = RunKernelEpochs(kernels::ClusterExchange::kMbarrier, images, labels, params, batch,
                                                  opt, orders, lrs);
    std::vector<float> model_params = params;
    std::vector<float> model_velocity(params.size(), 0.0f);
    test::ClusterModelTotals model;
    for (std::size_t e = 0; e < orders.size(); ++e) {
      model = test::cluster_epoch_model(images.pixels.data(), labels.labels.data(), orders[e], batch, kDim, kClasses,
                                        kernels::cluster_epoch_ranks(kDim), LossHead::kSoftmax, SgdParams(opt),
                                        lrs[e], model_params, model_velocity);
    }
    for (const KernelEpochs* run : {&sync, &mbarrier}) {
      SCOPED_TRACE(run == &sync ? "cluster.sync() exchange" : "mbarrier exchange");
      EXPECT_EQ(run->totals.correct, model.correct);
#if defined(LOGREG_CUDA_EMULATED)
      EXPECT_TRUE(bit_identical(run->params, model_params));
      EXPECT_TRUE(bit_identical(run->velocity, model_velocity));
      EXPECT_EQ(run->totals.loss_sum, model.loss_sum);
      EXPECT_EQ(run->phase_cycles, std::vector<long long>(kernels::kClusterPhases, 0));  // no cycle counter here
#else
      EXPECT_LE(test::RelativeL2(model_params, run->params), 1e-5);
      EXPECT_GT(run->phase_cycles[0], 0);  // the forward takes time
#endif
    }
    EXPECT_TRUE(bit_identical(mbarrier.params, sync.params));
    EXPECT_TRUE(bit_identical(mbarrier.velocity, sync.velocity));
    EXPECT_EQ(mbarrier.totals.loss_sum, sync.totals.loss_sum);
    EXPECT_EQ(mbarrier.totals.correct, sync.totals.correct);
    EXPECT_EQ(mbarrier.totals.last_batch_loss_sum, sync.totals.last_batch_loss_sum);
  }
}

// auto does not pick the cluster kernel (no GPU has measured it yet): at batch 32 it still runs the persistent
// kernel (the cuBLAS steps where that does not fit), bit for bit.
TEST_F(CudaCluster, AutoDoesNotPickIt) {
  ImageSet images;
  LabelSet labels;
  test::SeparableSet(test::TestSize(200u, 96u), kClasses, kSide, 43, &images, &labels);
  const Model initial = init_model(kDim, kClasses, LossHead::kSoftmax, 13);
  const std::vector<std::uint32_t> order = epoch_order(4, 1, images.count);
  CudaOptions automatic = cluster_options();
  automatic.kernel = CudaKernel::kAuto;
  CudaOptions persistent = cluster_options();
  persistent.kernel = test::PersistentFits(32, kDim, kClasses, false) ? CudaKernel::kPersistent : CudaKernel::kCublas;
  auto a = make_cuda_backend(images, labels, initial, automatic);
  auto p = make_cuda_backend(images, labels, initial, persistent);
  a->train_epoch(order, 32, 0.05f);
  p->train_epoch(order, 32, 0.05f);
  EXPECT_TRUE(bit_identical(a->model().weights, p->model().weights));
}

}  // namespace
}  // namespace logreg
