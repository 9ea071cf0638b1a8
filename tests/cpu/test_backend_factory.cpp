// The backend factory (logreg/backend_factory.hpp) and the name tables (logreg/name_table.hpp): the `auto`
// rule with stand-in CUDA probes (no GPU, a real GPU, the emulator), what each request creates and hands to
// the CUDA entry point, the chunking policy from the backends' traits, and every enum's table pinned to the
// names the settings record and the model file hold.
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "cli_runner.hpp"
#include "logreg/backend_factory.hpp"
#include "logreg/cpu_fast.hpp"
#include "logreg/errors.hpp"
#include "logreg/feature_sgd.hpp"
#include "logreg/training.hpp"
#include "test_support.hpp"

namespace logreg {
namespace {

// ---- the `auto` rule ----------------------------------------------------------------------------------
CudaProbe NoGpu() {
  CudaProbe p;
  p.reason = "no CUDA driver found";
  return p;
}
CudaProbe RealGpu() {
  CudaProbe p;
  p.usable = true;
  p.device_count = 1;
  p.device_name = "NVIDIA H100";
  return p;
}
CudaProbe EmulatedGpu() {
  CudaProbe p = RealGpu();
  p.device_name = "logreg_cuda emulated device";
  p.emulated = true;
  return p;
}

TEST(ResolveDevice, AutoPicksCudaOnlyOnARealUsableGpu) {
  const DeviceChoice real = resolve_device(Device::kAuto, RealGpu());
  EXPECT_EQ(real.device, Device::kCuda);
  EXPECT_EQ(real.note, "");
  const DeviceChoice none = resolve_device(Device::kAuto, NoGpu());
  EXPECT_EQ(none.device, Device::kCpu);
  EXPECT_NE(none.note.find("no usable CUDA device (no CUDA driver found); training on the CPU"), std::string::npos)
      << none.note;
  const DeviceChoice emulated = resolve_device(Device::kAuto, EmulatedGpu());
  EXPECT_EQ(emulated.device, Device::kCpu);
  EXPECT_NE(emulated.note.find("emulator"), std::string::npos) << emulated.note;
}

TEST(ResolveDevice, ExplicitDevices) {
  for (const CudaProbe& probe : {NoGpu(), RealGpu(), EmulatedGpu()}) {
    EXPECT_EQ(resolve_device(Device::kCpu, probe).device, Device::kCpu);
    EXPECT_EQ(resolve_device(Device::kReference, probe).device, Device::kReference);
  }
  EXPECT_EQ(resolve_device(Device::kCuda, RealGpu()).device, Device::kCuda);
  EXPECT_EQ(resolve_device(Device::kCuda, EmulatedGpu()).device, Device::kCuda);  // asked for: the emulator
  EXPECT_TRUE(test::ThrowsWith<ResourceError>([] { resolve_device(Device::kCuda, NoGpu()); },
                                              {"--device cuda", "no usable CUDA device", "no CUDA driver found"}));
}

// ---- make_backend with stand-in CUDA entry points ------------------------------------------------------
class FakeGpuBackend final : public TrainerBackend {
 public:
  explicit FakeGpuBackend(const Model& m) : model_(m) {}
  std::string name() const override { return "fake gpu"; }
  BackendTraits traits() const override {
    BackendTraits t;
    t.gpu = true;
    return t;
  }
  Totals train_epoch(const std::vector<std::uint32_t>&, int, float) override { return {}; }
  Totals evaluate(const ImageSet&, const LabelSet&) override { return {}; }
  Model model() const override { return model_; }

 private:
  Model model_;
};

int g_probes = 0;
CudaProbe g_probe;
CudaOptions g_options;
CudaProbe CountingProbe() {
  ++g_probes;
  return g_probe;
}
std::unique_ptr<TrainerBackend> FakeMake(const ImageSet&, const LabelSet&, const Model& m, const CudaOptions& o) {
  g_options = o;
  return std::make_unique<FakeGpuBackend>(m);
}

class FakeGpuFullBatch final : public FullBatchEngine {
 public:
  std::string name() const override { return "fake gpu, full batch"; }
  BackendTraits traits() const override {
    BackendTraits t;
    t.gpu = true;
    return t;
  }
  double full_batch_objective(const std::vector<std::uint32_t>&, const double*, double, double*) override { return 0.0; }
};

int g_full_batch_makes = 0;
std::unique_ptr<FullBatchEngine> FakeMakeFullBatch(const ImageSet&, const LabelSet&, const Model&, const CudaOptions& o) {
  ++g_full_batch_makes;
  g_options = o;
  return std::make_unique<FakeGpuFullBatch>();
}

int g_feature_makes = 0;
std::unique_ptr<TrainerBackend> FakeMakeFeature(const FeatureRows&, const Model& m, const CudaOptions& o) {
  ++g_feature_makes;
  g_options = o;
  return std::make_unique<FakeGpuBackend>(m);
}

class Factory : public ::testing::Test {
 protected:
  void SetUp() override {
    images_ = test::RandomImages(20, 3, 3, 1);
    labels_ = test::RandomLabels(20, 4, 1);
    initial_ = init_model(9, 4, LossHead::kSoftmax, 0);
    g_probes = 0;
    g_options = CudaOptions{};
    cuda_.probe = CountingProbe;
    cuda_.make = FakeMake;
    cuda_.make_full_batch = FakeMakeFullBatch;
    cuda_.make_feature = FakeMakeFeature;
    g_full_batch_makes = 0;
    g_feature_makes = 0;
  }
  MadeBackend Make(const BackendRequest& r) { return make_backend(r, images_, labels_, initial_, cuda_); }
  MadeFullBatchEngine MakeFullBatch(const BackendRequest& r) {
    return make_full_batch_engine(r, images_, labels_, initial_, cuda_);
  }
  ImageSet images_;
  LabelSet labels_;
  Model initial_;
  CudaEntryPoints cuda_;
};

TEST_F(Factory, CpuAndReferenceNeverProbeCuda) {
  g_probe = RealGpu();
  BackendRequest r;
  r.device = Device::kCpu;
  const MadeBackend cpu = Make(r);
  EXPECT_EQ(cpu.backend->name().rfind("cpu (float32", 0), 0u) << cpu.backend->name();
  EXPECT_FALSE(cpu.backend->traits().gpu);
  EXPECT_EQ(cpu.note, "");
  r.device = Device::kReference;
  const MadeBackend ref = Make(r);
  EXPECT_EQ(ref.backend->name().rfind("cpu-reference", 0), 0u) << ref.backend->name();
  EXPECT_FALSE(ref.backend->traits().gpu);
  EXPECT_EQ(g_probes, 0);
}

TEST_F(Factory, AutoOnARealGpuHandsTheWholeRequestToCuda) {
  g_probe = RealGpu();
  BackendRequest r;
  r.optimizer.momentum = 0.5f;
  r.optimizer.weight_decay = 0.25f;
  r.velocity.assign(9 * 4 + 4, 0.125f);
  r.cuda.residency = Residency::kStream;
  r.cuda.cuda_graphs = false;
  r.cuda.profile_epoch = 3;
  const MadeBackend made = Make(r);
  EXPECT_EQ(g_probes, 1);
  EXPECT_TRUE(made.backend->traits().gpu);
  EXPECT_EQ(made.note, "logreg_cuda: training on fake gpu");
  EXPECT_EQ(g_options.optimizer.momentum, 0.5f);
  EXPECT_EQ(g_options.optimizer.weight_decay, 0.25f);
  EXPECT_EQ(g_options.velocity, r.velocity);
  EXPECT_EQ(g_options.residency, Residency::kStream);
  EXPECT_FALSE(g_options.cuda_graphs);
  EXPECT_EQ(g_options.profile_epoch, 3);
}

TEST_F(Factory, AutoOnTheEmulatorOrWithoutAGpuTrainsOnTheCpuBackend) {
  for (const CudaProbe& probe : {EmulatedGpu(), NoGpu()}) {
    g_probe = probe;
    const MadeBackend made = Make(BackendRequest{});
    EXPECT_FALSE(made.backend->traits().gpu);
    EXPECT_EQ(made.backend->name().rfind("cpu (float32", 0), 0u) << made.backend->name();
    EXPECT_NE(made.note.find("training on the CPU"), std::string::npos) << made.note;
  }
  EXPECT_EQ(g_probes, 2);
}

TEST_F(Factory, CudaOnTheEmulatorIsWhatWasAskedFor) {
  g_probe = EmulatedGpu();
  BackendRequest r;
  r.device = Device::kCuda;
  EXPECT_TRUE(Make(r).backend->traits().gpu);
}

// The full-batch engines: the same device rule, no SGD backend made, and the names the SGD backends give (the
// settings record holds them).
TEST_F(Factory, FullBatchEnginesFollowTheDeviceRuleAndNameThemselvesAsTheBackends) {
  g_probe = RealGpu();
  BackendRequest r;
  r.device = Device::kCpu;
  const MadeFullBatchEngine cpu = MakeFullBatch(r);
  EXPECT_EQ(cpu.engine->name(), Make(r).backend->name());
  EXPECT_FALSE(cpu.engine->traits().gpu);
  r.device = Device::kReference;
  const MadeFullBatchEngine ref = MakeFullBatch(r);
  EXPECT_EQ(ref.engine->name(), "cpu-reference (double accumulation)");
  EXPECT_EQ(g_probes, 0);
  EXPECT_EQ(g_full_batch_makes, 0);

  r.device = Device::kAuto;
  r.cuda.residency = Residency::kStream;
  const MadeFullBatchEngine gpu = MakeFullBatch(r);
  EXPECT_EQ(g_probes, 1);
  EXPECT_EQ(g_full_batch_makes, 1);
  EXPECT_TRUE(gpu.engine->traits().gpu);
  EXPECT_EQ(gpu.note, "logreg_cuda: training on fake gpu, full batch");
  EXPECT_EQ(g_options.residency, Residency::kStream);

  g_probe = NoGpu();
  const MadeFullBatchEngine fallback = MakeFullBatch(r);
  EXPECT_EQ(fallback.engine->name().rfind("cpu (float32", 0), 0u) << fallback.engine->name();
  EXPECT_NE(fallback.note.find("training on the CPU"), std::string::npos) << fallback.note;
  EXPECT_EQ(g_full_batch_makes, 1);
}

// A feature file's rows: cpu and reference never probe; auto on a real GPU hands the optimizer and the CUDA options
// to the CUDA feature engine; auto on the emulator (or without a GPU) trains on the cpu feature engine.
TEST_F(Factory, FeatureEnginesFollowTheDeviceRule) {
  FeatureRows rows;
  rows.path = "f.npz";
  rows.count = 20;
  rows.dim = 9;
  rows.x.assign(rows.count * rows.dim, 0.25f);
  rows.labels = labels_;
  g_probe = RealGpu();
  BackendRequest r;
  r.device = Device::kCpu;
  EXPECT_EQ(make_feature_backend(r, rows, initial_, cuda_).backend->name(), "cpu (float32 feature rows, one thread)");
  r.device = Device::kReference;
  EXPECT_EQ(make_feature_backend(r, rows, initial_, cuda_).backend->name(), "cpu-reference (double accumulation)");
  EXPECT_EQ(g_probes, 0);

  r.device = Device::kAuto;
  r.optimizer.momentum = 0.5f;
  r.cuda.cuda_graphs = false;
  const MadeBackend gpu = make_feature_backend(r, rows, initial_, cuda_);
  EXPECT_EQ(g_probes, 1);
  EXPECT_EQ(g_feature_makes, 1);
  EXPECT_TRUE(gpu.backend->traits().gpu);
  EXPECT_EQ(gpu.note, "logreg_cuda: training on fake gpu");
  EXPECT_EQ(g_options.optimizer.momentum, 0.5f);
  EXPECT_FALSE(g_options.cuda_graphs);

  for (const CudaProbe& probe : {EmulatedGpu(), NoGpu()}) {
    g_probe = probe;
    const MadeBackend cpu = make_feature_backend(r, rows, initial_, cuda_);
    EXPECT_EQ(cpu.backend->name(), "cpu (float32 feature rows, one thread)");
    EXPECT_NE(cpu.note, "");
  }
  g_probe = EmulatedGpu();
  r.device = Device::kCuda;
  EXPECT_TRUE(make_feature_backend(r, rows, initial_, cuda_).backend->traits().gpu);  // asked for: the emulator
  EXPECT_EQ(g_feature_makes, 2);
}

TEST(ChunkingPolicy, GpuEpochsWholeCpuEpochsInFiftyChunks) {
  BackendTraits gpu;
  gpu.gpu = true;
  EXPECT_EQ(chunks_per_epoch(gpu), 1);
  gpu.emulated = true;
  EXPECT_EQ(chunks_per_epoch(gpu), 1);  // the emulator does the GPU's work, call for call
  EXPECT_EQ(chunks_per_epoch(BackendTraits{}), 10);
}

// ---- the name tables --------------------------------------------------------------------------------
template <class E, std::size_t N>
void ExpectRoundTrips(const NameTable<E, N>& table) {
  std::set<std::string> names;
  for (const auto& e : table) {
    E parsed{};
    ASSERT_TRUE(parse_name(table, e.name, &parsed)) << e.name;
    EXPECT_EQ(parsed, e.value) << e.name;
    EXPECT_STREQ(name_of(table, e.value), e.name);
    EXPECT_TRUE(names.insert(e.name).second) << "duplicate name " << e.name;
    EXPECT_GT(std::string(e.help).size(), 3u) << e.name;
  }
  E untouched = table[0].value;
  EXPECT_FALSE(parse_name(table, "no-such-name", &untouched));
  EXPECT_FALSE(parse_name(table, "", &untouched));
  EXPECT_EQ(untouched, table[0].value);
}

TEST(NameTables, EveryTableRoundTrips) {
  ExpectRoundTrips(kLossHeadNames);
  ExpectRoundTrips(kDeviceNames);
  ExpectRoundTrips(kLrScheduleNames);
  ExpectRoundTrips(kResidencyNames);
  ExpectRoundTrips(kCpuSimdNames);
}

// Saved settings records and model files hold these names and codes: they must never change.
TEST(NameTables, NamesAndFileCodesArePinned) {
  EXPECT_EQ(names_joined(kLossHeadNames), "softmax|sigmoid-softmax|ovr");
  EXPECT_EQ(names_joined(kDeviceNames), "auto|cpu|cuda|reference");
  EXPECT_EQ(names_joined(kLrScheduleNames), "constant|step|cosine");
  EXPECT_EQ(names_joined(kResidencyNames), "auto|device|stream");
  EXPECT_EQ(names_joined(kCpuSimdNames), "auto|sse2|avx2|avx512");
  EXPECT_EQ(codes_with_names(kLossHeadNames), "0 (softmax), 1 (sigmoid-softmax) or 2 (ovr)");
  LossHead h = LossHead::kSoftmax;
  EXPECT_TRUE(value_from_code(kLossHeadNames, 2, &h));
  EXPECT_EQ(h, LossHead::kOvr);
  EXPECT_FALSE(value_from_code(kLossHeadNames, 3, &h));
  EXPECT_EQ(h, LossHead::kOvr);
  EXPECT_STREQ(name_of(kLossHeadNames, static_cast<LossHead>(7)), "?");
  EXPECT_EQ(names_list(kLrScheduleNames), "constant, step or cosine");
  EXPECT_EQ(names_with_help(kResidencyNames).rfind("auto (device when it fits", 0), 0u);
}

// The CLI reads the same tables: --help lists every name with its meaning, and anything else (another
// case, the enum's integer) is refused naming the option and the valid names.
TEST(NameTables, CliParserAndHelpUseTheTables) {
  const auto help = test::RunCli("train --help");
  ASSERT_EQ(help.exit_code, 0) << help.output;
  EXPECT_NE(help.out.find("--device auto|cpu|cuda|reference=auto"), std::string::npos) << help.out;
  EXPECT_NE(help.out.find("--loss softmax|sigmoid-softmax|ovr=softmax"), std::string::npos) << help.out;
  EXPECT_NE(help.out.find("--lr-schedule constant|step|cosine=constant"), std::string::npos) << help.out;
  EXPECT_NE(help.out.find("--residency auto|device|stream=auto"), std::string::npos) << help.out;
  for (const auto& e : kLossHeadNames) EXPECT_NE(help.out.find(e.help), std::string::npos) << e.help;
  for (const char* bad : {"--device 1", "--device CPU", "--loss 2", "--lr-schedule linear", "--residency host"}) {
    const auto r = test::RunCli(std::string("train --epochs 1 ") + bad);
    EXPECT_EQ(r.exit_code, 2) << bad << ": " << r.output;
    const std::string flag = std::string(bad).substr(0, std::string(bad).find(' '));
    EXPECT_NE(r.err.find(flag + ": '"), std::string::npos) << bad << ": " << r.err;
    EXPECT_NE(r.err.find("' is not "), std::string::npos) << bad << ": " << r.err;
  }
}

}  // namespace
}  // namespace logreg
