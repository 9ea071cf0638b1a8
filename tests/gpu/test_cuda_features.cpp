// The CUDA SGD engine over a feature file's float32 rows (make_cuda_feature_backend): its epochs against the cpu
// feature engine (float32 sums in row order) and the reference feature engine (double sums) on float32 and float64
// rows, with sample weights, class weights, no intercept, momentum, Nesterov and weight decay, and batches of both
// loss kernels (up to kLossThreads rows in one block, more in many); a rerun bit-identical; the CUDA options it
// refuses; the rows that do not fit the device refused with their bytes; and `train --data X.npz --device cuda`
// end to end against `--device cpu`.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <regex>
#include <string>
#include <vector>

#include "cli_runner.hpp"
#include "feature_files.hpp"
#include "feature_input.hpp"
#include "gpu_test.hpp"
#include "logreg/errors.hpp"
#include "logreg/feature_sgd.hpp"
#include "logreg/fit_weights.hpp"
#include "logreg/rng.hpp"

namespace logreg::test {
namespace {

constexpr std::uint32_t kRows = 700;  // 27 batches of 26 rows and a partial one of 2; 2 of 300 and one of 100
constexpr int kClasses = 4;
constexpr std::uint32_t kSide = 6;  // 36 features

// One case: the matrix's dtype, the fit's weights and intercept, the optimizer, the batch size.
struct FeatureCase {
  const char* name;
  FeatureDtype dtype;
  bool sample_weights;
  bool class_weights;
  bool intercept;
  bool momentum;  // momentum 0.9, Nesterov, weight decay 1e-3 (EpochOptimizer)
  int batch;
};

void PrintTo(const FeatureCase& c, std::ostream* os) { *os << c.name; }

class CudaFeatures : public GpuTest, public ::testing::WithParamInterface<FeatureCase> {
 protected:
  // FeatureRows of SeparableSet's images as centred float64 or float32 features (x = p / 100 - 1) with the
  // case's weights: sample weights 0.5, 1, 1.5, 2 in turn, class weights 1 + c / 2.
  FeatureRows Rows(const FeatureCase& c) const {
    ImageSet images;
    LabelSet labels;
    SeparableSet(kRows, kClasses, kSide, 61, &images, &labels);
    FeatureMatrix x;
    x.path = "features.npz";
    x.rows = kRows;
    x.cols = images.dim();
    x.dtype = c.dtype;
    if (c.dtype == FeatureDtype::kFloat64) {
      std::vector<double> v(images.pixels.size());
      for (std::size_t i = 0; i < v.size(); ++i) v[i] = images.pixels[i] / 100.0 - 1.0;
      const std::string bytes = RawBytes(v);
      x.dense.assign(bytes.begin(), bytes.end());
    } else {
      std::vector<float> v(images.pixels.size());
      for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(images.pixels[i]) / 100.0f - 1.0f;
      const std::string bytes = RawBytes(v);
      x.dense.assign(bytes.begin(), bytes.end());
    }
    const std::vector<std::uint32_t> y(labels.labels.begin(), labels.labels.end());
    std::vector<double> sample;
    if (c.sample_weights) {
      for (std::uint32_t i = 0; i < kRows; ++i) sample.push_back(0.5 + static_cast<double>(i % 4) / 2.0);
    }
    std::vector<double> per_class(kClasses, 1.0);  // fit_terms_of takes one weight per class, 1 when none given
    if (c.class_weights) {
      for (int k = 0; k < kClasses; ++k) per_class[static_cast<std::size_t>(k)] = 1.0 + k / 2.0;
    }
    return dense_float_rows(x, y, fit_terms_of(sample, per_class, y, c.intercept, x.path), 1u << 24);
  }
};

// `epochs` epochs of `backend` over seeded shuffles of every row (the same orders for every engine); the epochs'
// totals in order.
std::vector<Totals> TrainEpochs(TrainerBackend& backend, int epochs, int batch, float lr) {
  std::vector<Totals> totals;
  for (int e = 0; e < epochs; ++e) {
    totals.push_back(backend.train_epoch(epoch_order(100, e, kRows), batch, lr));
  }
  return totals;
}

// Tolerances. The CUDA engine and the cpu feature engine run the same float32 step (the same gathered rows, the
// same loss_grad_row with the same a_i / B scale, the same update element); they differ only in the order of the
// float32 sums of the two GEMMs (36-term logits, B-term weight gradients: cuBLAS's order against row order). That
// is a few float32 ulps per step, carried by 3 epochs x 27 steps of lr 0.01: the test's own CPU engines (cpu
// against reference, test_feature_sgd.cpp) agree to 1e-5 relative with atol 1e-6, and so must these. The loss sums
// are reduced in another order as well (a tree in double against a row loop): 1e-6 relative, plus 1e-8 per row
// for the float32 rounding of each row's small loss (the losses here are ~1e-3 a row). Against the
// reference's double losses, each row's float32 loss carries its own rounding (about eps32 x |z|, |z| < 10 here),
// so those sums agree to 1e-6 per row. The correct counts are counted before each update, from logits that agree
// to ~1e-6: no row of this set is that close to a tie.
constexpr double kAtol = 1e-6;
constexpr double kRtol = 1e-5;

TEST_P(CudaFeatures, EpochsAgreeWithTheCpuFeatureEngineAndTheReference) {
  const FeatureCase& c = GetParam();
  const FeatureRows rows = Rows(c);
  ASSERT_EQ(rows.terms.row_weights.empty(), !c.sample_weights && !c.class_weights);
  const OptimizerConfig opt = EpochOptimizer(c.momentum);
  const Model init = init_model(static_cast<int>(rows.dim), kClasses, LossHead::kSoftmax, 5);
  CudaOptions options;
  options.optimizer = opt;
  auto gpu = make_cuda_feature_backend(rows, init, options);
  auto cpu = make_cpu_feature_backend(rows, init, opt);
  auto ref = make_reference_feature_backend(rows, init, opt);
  EXPECT_TRUE(gpu->traits().gpu);
  EXPECT_NE(gpu->name().find("float32 feature rows on device, CUDA graphs on"), std::string::npos) << gpu->name();

  const float lr = 0.01f;  // small enough that the losses stay far from 0 after 3 epochs
  const std::vector<Totals> tg = TrainEpochs(*gpu, 3, c.batch, lr);
  const std::vector<Totals> tc = TrainEpochs(*cpu, 3, c.batch, lr);
  const std::vector<Totals> tr = TrainEpochs(*ref, 3, c.batch, lr);
  for (std::size_t e = 0; e < tg.size(); ++e) {
    EXPECT_EQ(tg[e].count, static_cast<std::int64_t>(kRows));
    EXPECT_NEAR(tg[e].loss_sum, tc[e].loss_sum, 1e-8 * kRows + 1e-6 * tc[e].loss_sum) << "epoch " << e + 1;
    EXPECT_NEAR(tg[e].last_batch_loss, tc[e].last_batch_loss, 1e-5 * tc[e].last_batch_loss) << "epoch " << e + 1;
    EXPECT_EQ(tg[e].correct, tc[e].correct) << "epoch " << e + 1;
    EXPECT_NEAR(tg[e].loss_sum, tr[e].loss_sum, 1e-6 * kRows + 1e-5 * tr[e].loss_sum) << "epoch " << e + 1;
  }
  EXPECT_LT(tg[2].loss_sum, tg[0].loss_sum);  // it learns

  const Model g = gpu->model();
  const Model m = cpu->model();
  const Model r = ref->model();
  EXPECT_TRUE(AllClose(m.weights, g.weights, kAtol, kRtol)) << "weights against the cpu feature engine";
  EXPECT_TRUE(AllClose(m.bias, g.bias, kAtol, kRtol)) << "bias against the cpu feature engine";
  EXPECT_TRUE(AllClose(r.weights, g.weights, kAtol, kRtol)) << "weights against the reference";
  EXPECT_TRUE(AllClose(r.bias, g.bias, kAtol, kRtol)) << "bias against the reference";
  EXPECT_NE(g.weights, init.weights);
  if (c.intercept) {
    EXPECT_NE(g.bias, init.bias);
  } else {
    EXPECT_EQ(g.bias, std::vector<float>(kClasses, 0.0f)) << "no intercept: the bias stays 0";
  }
  if (c.momentum) {
    EXPECT_TRUE(AllClose(cpu->optimizer_state(), gpu->optimizer_state(), kAtol, kRtol)) << "velocity";
  } else {
    EXPECT_TRUE(gpu->optimizer_state().empty());
  }

  // The same epochs again on a new engine: bit-identical (fixed-order sums, one captured step replayed).
  auto again = make_cuda_feature_backend(rows, init, options);
  const std::vector<Totals> ta = TrainEpochs(*again, 3, c.batch, lr);
  EXPECT_TRUE(bit_identical(g.weights, again->model().weights));
  EXPECT_TRUE(bit_identical(g.bias, again->model().bias));
  EXPECT_EQ(ta[2].loss_sum, tg[2].loss_sum);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, CudaFeatures,
    ::testing::Values(FeatureCase{"Float32", FeatureDtype::kFloat32, false, false, true, false, 26},
                      FeatureCase{"Float64SampleWeights", FeatureDtype::kFloat64, true, false, true, false, 26},
                      FeatureCase{"Float32ClassWeightsMomentum", FeatureDtype::kFloat32, false, true, true, true, 26},
                      FeatureCase{"Float64BothWeightsNoIntercept", FeatureDtype::kFloat64, true, true, false, true, 26},
                      FeatureCase{"Float32WeightsManyBlockLoss", FeatureDtype::kFloat32, true, false, true, true, 300}),
    [](const ::testing::TestParamInfo<FeatureCase>& info) { return std::string(info.param.name); });

class CudaFeatureRefusals : public GpuTest {};

TEST_F(CudaFeatureRefusals, OptionsItCannotHonourAndRowsThatDoNotFit) {
  FeatureRows rows;
  rows.path = "wide.npz";
  rows.count = 50;
  rows.dim = 40;
  rows.x.assign(rows.count * rows.dim, 0.5f);
  rows.labels.labels.assign(rows.count, 1);
  rows.terms.row_weights.assign(rows.count, 2.0);
  const Model init = init_model(40, 3, LossHead::kSoftmax, 1);
  auto refused = [&](const CudaOptions& o, const std::string& message) {
    try {
      make_cuda_feature_backend(rows, init, o);
      ADD_FAILURE() << "expected a UsageError: " << message;
    } catch (const UsageError& e) {
      EXPECT_NE(std::string(e.what()).find(message), std::string::npos) << e.what();
    }
  };
  CudaOptions stream;
  stream.residency = Residency::kStream;
  refused(stream, "--residency stream: a feature file's rows train on the CUDA device with the rows on the device");
  CudaOptions persistent;
  persistent.kernel = CudaKernel::kPersistent;
  refused(persistent, "--kernel persistent: a feature file's rows train with the cublas step path");
  CudaOptions profile;
  profile.profile_epoch = 1;
  refused(profile, "--profile-epoch");

  if (!probe_.emulated) return;  // the free memory below is the emulated device's (LOGREG_EMU_FREE_BYTES)
  // 50 x 40 x 4 + 50 labels + 50 x 8 weights + 50 x 4 order = 8,650 bytes.
  EXPECT_EQ(cuda::FeatureInput::device_bytes(rows.count, rows.dim, true), 8650u);
  ScopedEnv small("LOGREG_EMU_FREE_BYTES", "8649");
  try {
    make_cuda_feature_backend(rows, init, {});
    ADD_FAILURE() << "expected a ResourceError";
  } catch (const ResourceError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("wide.npz: the training rows (50 rows x 40 features as float32, their labels, row weights and "
                        "the epoch order) need 8650 bytes on the CUDA device, which has 8649 bytes free"),
              std::string::npos)
        << what;
  }
}

// The "Epoch: N. Loss: L. Accuracy: A." lines' losses and accuracies.
void EpochLines(const std::string& out, std::vector<double>* losses, std::vector<double>* accuracies) {
  const std::regex re("Epoch: [0-9]+\\. Loss: ([0-9.]+)\\. Accuracy: ([0-9.]+)\\.");
  for (auto it = std::sregex_iterator(out.begin(), out.end(), re); it != std::sregex_iterator(); ++it) {
    losses->push_back(std::stod((*it)[1].str()));
    accuracies->push_back(std::stod((*it)[2].str()));
  }
}

class CudaFeatureCli : public GpuTest {};

// `train --data X.npz --device cuda --solver sgd` (float32 rows with sample weights: the feature engine) prints the
// epochs of `--device cpu` to their printed digits, names its engine, and saves a model eval reads.
TEST_F(CudaFeatureCli, TrainOnAnNpzMatchesTheCpuEngine) {
  const TempDir dir;
  ImageSet images;
  LabelSet labels;
  SeparableSet(400, 3, kSide, 71, &images, &labels);
  std::vector<float> x(images.pixels.size());
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(images.pixels[i]) / 100.0f - 1.0f;
  std::vector<double> w(400);
  for (std::size_t i = 0; i < w.size(); ++i) w[i] = 1.0 + static_cast<double>(i % 3);
  WriteText(dir.file("f.npz"), NpzBytes({{"x_train", "<f4", {400, 36}, RawBytes(x)},
                                         {"y_train", "|u1", {400}, RawBytes(labels.labels)},
                                         {"w_train", "<f8", {400}, RawBytes(w)}},
                                        false));
  const std::string common = " --data " + dir.file("f.npz") + " --solver sgd --epochs 2 --batch-size 32 --lr 0.05 --seed 3";
  const CliResult gpu = RunCli("train --device cuda" + common + " --save " + dir.file("gpu.lrm"));
  const CliResult cpu = RunCli("train --device cpu" + common);
  ASSERT_EQ(gpu.exit_code, 0) << gpu.output;
  ASSERT_EQ(cpu.exit_code, 0) << cpu.output;
  EXPECT_NE(gpu.out.find("backend cuda ("), std::string::npos) << gpu.out;
  EXPECT_NE(gpu.out.find("float32 feature rows on device"), std::string::npos) << gpu.out;
  EXPECT_NE(gpu.out.find("each row's loss times its sample x class weight"), std::string::npos) << gpu.out;
  EXPECT_NE(gpu.err.find("logreg_cuda: training on cuda ("), std::string::npos) << gpu.err;
  std::vector<double> gl, ga, cl, ca;
  EpochLines(gpu.out, &gl, &ga);
  EpochLines(cpu.out, &cl, &ca);
  ASSERT_EQ(gl.size(), 2u) << gpu.out;
  ASSERT_EQ(cl.size(), 2u) << cpu.out;
  for (std::size_t e = 0; e < gl.size(); ++e) {
    EXPECT_NEAR(gl[e], cl[e], 1e-4 + 1e-5 * cl[e]) << "epoch " << e + 1;  // printed with 4 decimals
    EXPECT_EQ(ga[e], ca[e]) << "epoch " << e + 1;
  }
  const CliResult eval = RunCli("eval --model " + dir.file("gpu.lrm") + " --data " + dir.file("f.npz"));
  ASSERT_EQ(eval.exit_code, 0) << eval.output;
}

}  // namespace
}  // namespace logreg::test
