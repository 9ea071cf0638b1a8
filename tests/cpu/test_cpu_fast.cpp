// The fast CPU backend (`--device cpu`) against the double-precision reference: one epoch for every loss head
// and batch sizes 1, 32, 33, 1000; momentum, Nesterov and weight decay; shapes that need padding; every SIMD
// level this CPU has; bit-identical reruns and thread counts; evaluate(); chunked epochs equal whole ones.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <string>
#include <tuple>
#include <vector>

#include "logreg/cpu_fast.hpp"
#include "logreg/cpu_reference.hpp"
#include "logreg/errors.hpp"
#include "logreg/model.hpp"
#include "logreg/rng.hpp"
#include "logreg/training.hpp"
#include "test_support.hpp"

namespace logreg {
namespace {

constexpr double kWeightsRelL2 = 1e-4;  // float32 sums vs double sums, one epoch
constexpr double kAccuracyPoints = 0.05;

// Class c raises pixel block c by 40 over uniform noise 0..127 (`side` x `side` pixels): learnable, but one
// epoch leaves the test accuracy well short of 100%, so that the accuracy comparison means something.
void NoisyClasses(std::uint32_t count, int classes, std::uint32_t side, std::uint64_t seed, ImageSet* images,
                  LabelSet* labels) {
  *images = test::RandomImages(count, side, side, seed);
  *labels = test::RandomLabels(count, classes, seed);
  const std::size_t dim = images->dim();
  const std::size_t block = dim / static_cast<std::size_t>(classes);
  for (std::uint32_t i = 0; i < count; ++i) {
    std::uint8_t* img = images->pixels.data() + i * dim;
    const std::size_t c = labels->labels[i];
    for (std::size_t d = 0; d < dim; ++d) {
      img[d] = static_cast<std::uint8_t>(img[d] / 2 + (d >= c * block && d < (c + 1) * block ? 40 : 0));
    }
  }
}

Dataset MakeData(std::uint32_t train, std::uint32_t test, int classes, std::uint32_t side, std::uint64_t seed) {
  Dataset d;
  d.name = "noisy classes";
  NoisyClasses(train, classes, side, seed, &d.train_images, &d.train_labels);
  NoisyClasses(test, classes, side, seed + 1, &d.test_images, &d.test_labels);
  d.num_classes = classes;
  return d;
}

struct RunResult {
  Model model;
  std::vector<float> velocity;
  Totals train;
  Totals test;
};

struct RunSpec {
  LossHead head = LossHead::kSoftmax;
  int batch = 32;
  float lr = 0.05f;
  int epochs = 1;
  OptimizerConfig opt;
  std::uint64_t seed = 3;
};

// `epochs` epochs of the seeded shuffles, then an evaluation of the test set.
template <class Make>
RunResult Train(const Dataset& d, const RunSpec& s, Make make) {
  const Model init = init_model(static_cast<int>(d.train_images.dim()), d.num_classes, s.head, s.seed);
  std::unique_ptr<TrainerBackend> b = make(init);
  RunResult r;
  for (int e = 0; e < s.epochs; ++e) {
    const Totals t = b->train_epoch(epoch_order(s.seed, e, d.train_images.count), s.batch, s.lr);
    r.train.loss_sum += t.loss_sum;
    r.train.correct += t.correct;
    r.train.count += t.count;
  }
  r.test = b->evaluate(d.test_images, d.test_labels);
  r.model = b->model();
  r.velocity = b->optimizer_state();
  return r;
}

RunResult Reference(const Dataset& d, const RunSpec& s) {
  return Train(d, s, [&](const Model& init) {
    return make_cpu_reference_backend(d.train_images, d.train_labels, init, s.opt);
  });
}

RunResult Fast(const Dataset& d, const RunSpec& s, int threads = 0, CpuSimd simd = CpuSimd::kAuto) {
  return Train(d, s, [&](const Model& init) {
    return make_cpu_fast_backend(d.train_images, d.train_labels, init, s.opt, {}, threads, simd);
  });
}

void ExpectMatchesReference(const RunResult& ref, const RunResult& fast) {
  EXPECT_LE(test::RelativeL2(ref.model.weights, fast.model.weights), kWeightsRelL2);
  EXPECT_LE(test::RelativeL2(ref.model.bias, fast.model.bias), kWeightsRelL2);
  EXPECT_NEAR(fast.test.accuracy_percent(), ref.test.accuracy_percent(), kAccuracyPoints);
  EXPECT_NEAR(fast.train.loss_sum, ref.train.loss_sum, 1e-4 * std::fabs(ref.train.loss_sum));
  EXPECT_EQ(fast.train.count, ref.train.count);
  EXPECT_NEAR(static_cast<double>(fast.train.correct), static_cast<double>(ref.train.correct), 1.0);
}

std::vector<CpuSimd> SupportedSimd() {
  std::vector<CpuSimd> levels;
  for (CpuSimd s : {CpuSimd::kSse2, CpuSimd::kAvx2, CpuSimd::kAvx512}) {
    if (cpu_simd_supported(s)) levels.push_back(s);
  }
  return levels;
}

// ---------------------------------------------------------------------------------------------------
class FastVsReference : public ::testing::TestWithParam<std::tuple<LossHead, int>> {};

TEST_P(FastVsReference, OneEpochMatches) {
  static const Dataset d = MakeData(1200, 2000, 10, 28, 21);
  RunSpec s;
  s.head = std::get<0>(GetParam());
  s.batch = std::get<1>(GetParam());
  s.lr = s.head == LossHead::kSigmoidSoftmax ? 0.5f : 0.05f;
  if (s.batch == 1) s.lr /= 8.0f;  // 1200 steps
  const RunResult ref = Reference(d, s);
  const RunResult fast = Fast(d, s);
  ExpectMatchesReference(ref, fast);
}

INSTANTIATE_TEST_SUITE_P(HeadsAndBatches, FastVsReference,
                         ::testing::Combine(::testing::Values(LossHead::kSoftmax, LossHead::kSigmoidSoftmax,
                                                              LossHead::kOvr),
                                            ::testing::Values(1, 32, 33, 1000)),
                         [](const auto& info) {
                           std::string head = loss_head_name(std::get<0>(info.param));
                           for (char& ch : head) {
                             if (ch == '-') ch = '_';
                           }
                           return head + "_batch" + std::to_string(std::get<1>(info.param));
                         });

TEST(CpuFast, OptimizersMatchReference) {
  const Dataset d = MakeData(900, 500, 10, 28, 5);
  for (const auto& [momentum, nesterov, decay] :
       {std::tuple<float, bool, float>{0.9f, false, 0.0f}, {0.9f, true, 0.0f}, {0.0f, false, 0.01f},
        {0.5f, true, 0.001f}}) {
    SCOPED_TRACE("momentum " + std::to_string(momentum) + (nesterov ? " nesterov" : "") + " decay " +
                 std::to_string(decay));
    RunSpec s;
    s.batch = 33;
    s.lr = 0.02f;
    s.epochs = 2;
    s.opt.momentum = momentum;
    s.opt.nesterov = nesterov;
    s.opt.weight_decay = decay;
    const RunResult ref = Reference(d, s);
    const RunResult fast = Fast(d, s);
    ExpectMatchesReference(ref, fast);
    ASSERT_EQ(fast.velocity.size(), ref.velocity.size());
    if (momentum != 0.0f) EXPECT_LE(test::RelativeL2(ref.velocity, fast.velocity), kWeightsRelL2);
  }
}

// Pixel counts that are not a multiple of the vector width and class counts that are not a multiple of the
// register block exercise the zero padding of the weights and the partial pixel loads.
TEST(CpuFast, PaddedShapesMatchReference) {
  for (const auto& [side, classes] : {std::pair<std::uint32_t, int>{27, 13}, {5, 3}, {9, 2}, {28, 21}}) {
    SCOPED_TRACE(std::to_string(side) + "x" + std::to_string(side) + " pixels, " + std::to_string(classes) + " classes");
    const Dataset d = MakeData(500, 300, classes, side, 8);
    RunSpec s;
    s.batch = 16;
    s.lr = 0.05f;
    for (LossHead head : {LossHead::kSoftmax, LossHead::kOvr}) {
      s.head = head;
      ExpectMatchesReference(Reference(d, s), Fast(d, s));
    }
  }
}

// Every SIMD level this CPU has against the reference; the levels agree with each other only to rounding.
TEST(CpuFast, EverySupportedSimdLevelMatchesReference) {
  const Dataset d = MakeData(700, 400, 10, 27, 13);  // 729 pixels: a partial vector at the end of each row
  RunSpec s;
  s.batch = 33;
  const RunResult ref = Reference(d, s);
  for (CpuSimd simd : SupportedSimd()) {
    SCOPED_TRACE(cpu_simd_name(simd));
    ExpectMatchesReference(ref, Fast(d, s, 2, simd));
  }
}

// ---------------------------------------------------------------------------------------------------
// Determinism: every output element is summed by one thread in a fixed order, so reruns and thread counts
// give the same bits.
TEST(CpuFast, RerunsAndThreadCountsAreBitIdentical) {
  const Dataset d = MakeData(1000, 300, 10, 28, 17);
  RunSpec s;
  s.batch = 32;
  s.epochs = 2;
  s.opt.momentum = 0.9f;
  const RunResult a = Fast(d, s, 2);
  for (int threads : {2, 1, 3}) {
    SCOPED_TRACE(std::to_string(threads) + " threads");
    const RunResult b = Fast(d, s, threads);
    EXPECT_EQ(a.model.weights, b.model.weights);
    EXPECT_EQ(a.model.bias, b.model.bias);
    EXPECT_EQ(a.velocity, b.velocity);
    EXPECT_EQ(a.train.loss_sum, b.train.loss_sum);
    EXPECT_EQ(a.train.correct, b.train.correct);
    EXPECT_EQ(a.test.loss_sum, b.test.loss_sum);
    EXPECT_EQ(a.test.correct, b.test.correct);
  }
}

// The host loop hands an epoch over in chunks of whole batches (progress bar): the weights must not change.
TEST(CpuFast, ChunkedEpochsEqualWholeEpochs) {
  const Dataset d = MakeData(1000, 200, 10, 28, 4);
  const Model init = init_model(784, 10, LossHead::kSoftmax, 2);
  OptimizerConfig opt;
  opt.momentum = 0.5f;
  auto whole = make_cpu_fast_backend(d.train_images, d.train_labels, init, opt);
  auto chunked = make_cpu_fast_backend(d.train_images, d.train_labels, init, opt);
  const int batch = 24;
  for (int e = 0; e < 2; ++e) {
    const std::vector<std::uint32_t> order = epoch_order(7, e, d.train_images.count);
    const Totals w = whole->train_epoch(order, batch, 0.05f);
    Totals c;
    for (std::size_t start = 0; start < order.size(); start += 5 * batch) {  // chunks of 5 batches, the last partial
      const std::size_t end = std::min(order.size(), start + 5 * batch);
      const Totals t = chunked->train_epoch(std::vector<std::uint32_t>(order.begin() + static_cast<std::ptrdiff_t>(start),
                                                                       order.begin() + static_cast<std::ptrdiff_t>(end)),
                                            batch, 0.05f);
      c.loss_sum += t.loss_sum;
      c.correct += t.correct;
      c.count += t.count;
      c.last_batch_loss = t.last_batch_loss;
    }
    EXPECT_NEAR(c.loss_sum, w.loss_sum, 1e-9 * w.loss_sum);  // only the grouping of the double sum differs
    EXPECT_EQ(c.correct, w.correct);
    EXPECT_EQ(c.count, w.count);
    EXPECT_EQ(c.last_batch_loss, w.last_batch_loss);
  }
  EXPECT_EQ(whole->model().weights, chunked->model().weights);
  EXPECT_EQ(whole->model().bias, chunked->model().bias);
  EXPECT_EQ(whole->optimizer_state(), chunked->optimizer_state());
}

// The same through the host loop, told to hand each epoch over in 50 chunks.
TEST(CpuFast, HostLoopChunkedEqualsWhole) {
  const Dataset d = MakeData(800, 200, 10, 28, 6);
  TrainConfig cfg;
  cfg.epochs = 2;
  cfg.batch_size = 32;
  cfg.lr = 0.05f;
  cfg.seed = 5;
  auto run = [&](bool chunked) {
    const Model init = init_model(784, 10, cfg.head, cfg.seed);
    auto b = make_cpu_fast_backend(d.train_images, d.train_labels, init);
    TrainHooks hooks;
    if (chunked) hooks.chunks_per_epoch = 50;
    run_training(*b, d, make_train_split(d, 0, 0.0, cfg.seed), cfg, hooks);
    return b->model();
  };
  const Model a = run(false);
  const Model b = run(true);
  EXPECT_EQ(a.weights, b.weights);
  EXPECT_EQ(a.bias, b.bias);
}

// A saved momentum state continues exactly: 2 epochs straight equal 1 epoch, then a new backend from the
// model and velocity of the first, then 1 more.
TEST(CpuFast, ResumedVelocityContinuesExactly) {
  const Dataset d = MakeData(600, 100, 10, 28, 9);
  OptimizerConfig opt;
  opt.momentum = 0.9f;
  opt.nesterov = true;
  const Model init = init_model(784, 10, LossHead::kSoftmax, 1);
  auto straight = make_cpu_fast_backend(d.train_images, d.train_labels, init, opt);
  auto first = make_cpu_fast_backend(d.train_images, d.train_labels, init, opt);
  for (int e = 0; e < 2; ++e) straight->train_epoch(epoch_order(1, e, 600), 32, 0.02f);
  first->train_epoch(epoch_order(1, 0, 600), 32, 0.02f);
  auto second = make_cpu_fast_backend(d.train_images, d.train_labels, first->model(), opt, first->optimizer_state());
  second->train_epoch(epoch_order(1, 1, 600), 32, 0.02f);
  EXPECT_EQ(straight->model().weights, second->model().weights);
  EXPECT_EQ(straight->model().bias, second->model().bias);
  EXPECT_EQ(straight->optimizer_state(), second->optimizer_state());
}

// ---------------------------------------------------------------------------------------------------
TEST(CpuFast, EvaluateMatchesReference) {
  const Dataset d = MakeData(600, 100, 10, 28, 12);
  const ImageSet images = test::RandomImages(3000, 28, 28, 77);  // noise: logits far from saturated
  const LabelSet labels = test::RandomLabels(3000, 10, 78);
  for (LossHead head : {LossHead::kSoftmax, LossHead::kSigmoidSoftmax, LossHead::kOvr}) {
    SCOPED_TRACE(loss_head_name(head));
    Model m = init_model(784, 10, head, 4);
    auto warm = make_cpu_reference_backend(d.train_images, d.train_labels, m);
    warm->train_epoch(epoch_order(4, 0, 600), 32, 0.05f);
    m = warm->model();  // a trained model, the same for both
    auto ref = make_cpu_reference_backend(d.train_images, d.train_labels, m);
    for (int threads : {1, 2}) {
      auto fast = make_cpu_fast_backend(d.train_images, d.train_labels, m, {}, {}, threads);
      const Totals r = ref->evaluate(images, labels);
      const Totals f = fast->evaluate(images, labels);
      EXPECT_EQ(f.count, r.count);
      EXPECT_NEAR(f.loss_sum, r.loss_sum, 1e-5 * std::fabs(r.loss_sum));
      EXPECT_NEAR(f.accuracy_percent(), r.accuracy_percent(), kAccuracyPoints);
      EXPECT_EQ(fast->model().weights, m.weights);  // evaluating changes nothing
    }
  }
}

TEST(CpuFast, NameSaysFloat32SimdAndThreads) {
  const Dataset d = MakeData(10, 10, 2, 4, 1);
  auto b = make_cpu_fast_backend(d.train_images, d.train_labels, init_model(16, 2, LossHead::kSoftmax, 0), {}, {}, 2);
  EXPECT_NE(b->name().find("float32"), std::string::npos) << b->name();
  EXPECT_NE(b->name().find("2 threads"), std::string::npos) << b->name();
}

// Regression: a label not below the model's classes (a hand-built LabelSet; files are checked on
// loading) is rejected by both CPU backends, for the training set and for evaluate(), with the message the
// CUDA backend gives; before, it indexed past the logits.
TEST(CpuBackends, RejectLabelsNotBelowTheClasses) {
  const Dataset d = MakeData(50, 10, 3, 6, 1);
  const Model m = init_model(36, 3, LossHead::kSoftmax, 0);
  LabelSet bad = d.train_labels;
  bad.path = "hand-built labels";
  bad.labels[7] = 3;
  const std::vector<std::string> words = {"hand-built labels", "label 3 at row 7", "not below the model's 3 classes"};
  EXPECT_TRUE(test::ThrowsWith<DataError>([&] { make_cpu_fast_backend(d.train_images, bad, m); }, words));
  EXPECT_TRUE(test::ThrowsWith<DataError>([&] { make_cpu_reference_backend(d.train_images, bad, m); }, words));
  auto fast = make_cpu_fast_backend(d.train_images, d.train_labels, m);
  auto ref = make_cpu_reference_backend(d.train_images, d.train_labels, m);
  EXPECT_TRUE(test::ThrowsWith<DataError>([&] { fast->evaluate(d.train_images, bad); }, words));
  EXPECT_TRUE(test::ThrowsWith<DataError>([&] { ref->evaluate(d.train_images, bad); }, words));
  bad.labels[7] = 2;  // the largest valid label
  EXPECT_NO_THROW(fast->evaluate(d.train_images, bad));
  EXPECT_NO_THROW(ref->evaluate(d.train_images, bad));
}

TEST(CpuFast, RejectsBadInputs) {
  const Dataset d = MakeData(50, 10, 3, 6, 1);
  const Model m = init_model(36, 3, LossHead::kSoftmax, 0);
  auto b = make_cpu_fast_backend(d.train_images, d.train_labels, m);
  EXPECT_TRUE(test::ThrowsWith<DataError>([&] { b->train_epoch({0, 1, 50}, 8, 0.1f); }, {"row 50", "50 training images"}));
  EXPECT_TRUE(test::ThrowsWith<UsageError>([&] { b->train_epoch({0, 1}, 0, 0.1f); }, {"batch size"}));
  EXPECT_TRUE(test::ThrowsWith<DataError>(
      [&] { make_cpu_fast_backend(d.train_images, d.train_labels, init_model(35, 3, LossHead::kSoftmax, 0)); },
      {"36 pixels", "expects 35"}));
  OptimizerConfig opt;
  opt.momentum = 0.9f;
  EXPECT_TRUE(test::ThrowsWith<DataError>(
      [&] { make_cpu_fast_backend(d.train_images, d.train_labels, m, opt, std::vector<float>(5, 0.0f)); },
      {"optimizer state has 5 values"}));
}

// The choice of SIMD level for every combination of CPU features (not only this CPU's): auto takes the
// widest, an explicit level is kept when present and refused, naming it, when not.
TEST(CpuFast, SimdChoiceForEveryCpu) {
  for (bool avx2 : {false, true}) {
    for (bool avx512 : {false, true}) {
      SCOPED_TRACE(std::string("avx2 ") + (avx2 ? "yes" : "no") + ", avx512 " + (avx512 ? "yes" : "no"));
      CpuSimdSupport s;
      s.avx2 = avx2;
      s.avx512 = avx512;
      EXPECT_EQ(choose_cpu_simd(CpuSimd::kAuto, s), avx512 ? CpuSimd::kAvx512 : avx2 ? CpuSimd::kAvx2 : CpuSimd::kSse2);
      EXPECT_EQ(choose_cpu_simd(CpuSimd::kSse2, s), CpuSimd::kSse2);
      for (const auto& [level, has] : {std::pair<CpuSimd, bool>{CpuSimd::kAvx2, avx2}, {CpuSimd::kAvx512, avx512}}) {
        if (has) {
          EXPECT_EQ(choose_cpu_simd(level, s), level);
        } else {
          EXPECT_TRUE(test::ThrowsWith<UsageError>([&] { choose_cpu_simd(level, s); },
                                                   {"does not support the", cpu_simd_name(level)}));
        }
      }
    }
  }
  // This CPU's features agree with cpu_simd_supported, and the backend refuses what it lacks.
  const CpuSimdSupport here = cpu_simd_support();
  EXPECT_EQ(here.avx2, cpu_simd_supported(CpuSimd::kAvx2));
  EXPECT_EQ(here.avx512, cpu_simd_supported(CpuSimd::kAvx512));
}

}  // namespace
}  // namespace logreg
