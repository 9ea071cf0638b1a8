// The CPU reference trainer end to end: a separable set is learnt perfectly, runs are bit-identical
// for a seed, chunked epochs equal whole epochs, and 2 epochs on Fashion-MNIST reach PyTorch's accuracy.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "logreg/cpu_reference.hpp"
#include "logreg/data_source.hpp"
#include "logreg/errors.hpp"
#include "logreg/training.hpp"
#include "test_support.hpp"

namespace logreg {
namespace {

Dataset SeparableDataset(std::uint32_t train, std::uint32_t test, int classes, std::uint64_t seed) {
  Dataset d;
  d.name = "separable";
  test::SeparableSet(train, classes, 28, seed, &d.train_images, &d.train_labels);
  test::SeparableSet(test, classes, 28, seed + 1, &d.test_images, &d.test_labels);
  d.num_classes = classes;
  return d;
}

struct RunResult {
  std::vector<EpochReport> epochs;
  Model model;
};

RunResult Train(const Dataset& d, const TrainConfig& cfg, bool chunked = false, const OptimizerConfig& opt = {},
               double val_split = 0.0) {
  const Model init = init_model(static_cast<int>(d.train_images.dim()), d.num_classes, cfg.head, cfg.seed);
  auto backend = make_cpu_reference_backend(d.train_images, d.train_labels, init, opt);
  RunResult r;
  TrainHooks hooks;
  hooks.on_epoch = [&r](const EpochReport& e) { r.epochs.push_back(e); };
  if (chunked) hooks.chunks_per_epoch = 50;
  run_training(*backend, d, make_train_split(d, 0, val_split, cfg.seed), cfg, hooks);
  r.model = backend->model();
  return r;
}

class TrainingHeads : public ::testing::TestWithParam<LossHead> {};

TEST_P(TrainingHeads, SeparableSetReachesFullAccuracy) {
  const Dataset d = SeparableDataset(600, 200, 10, 11);
  TrainConfig cfg;
  cfg.epochs = 6;
  cfg.batch_size = 32;
  cfg.lr = GetParam() == LossHead::kSigmoidSoftmax ? 2.0f : 0.5f;
  cfg.head = GetParam();
  cfg.seed = 1;
  const RunResult r = Train(d, cfg);
  ASSERT_EQ(r.epochs.size(), 6u);
  EXPECT_EQ(r.epochs.back().test.correct, 200) << "accuracy " << r.epochs.back().test.accuracy_percent();
  EXPECT_EQ(r.epochs.back().train.count, 600);
  EXPECT_LT(r.epochs.back().train.mean_loss(), r.epochs.front().train.mean_loss());
}

INSTANTIATE_TEST_SUITE_P(AllHeads, TrainingHeads,
                         ::testing::Values(LossHead::kSoftmax, LossHead::kSigmoidSoftmax, LossHead::kOvr));

TEST(Training, FixedSeedRunIsBitIdentical) {
  const Dataset d = SeparableDataset(333, 50, 10, 5);
  TrainConfig cfg;
  cfg.epochs = 2;
  cfg.batch_size = 32;  // 333 rows: a partial last batch of 13
  cfg.lr = 0.1f;
  cfg.seed = 9;
  const RunResult a = Train(d, cfg);
  const RunResult b = Train(d, cfg);
  EXPECT_EQ(a.model.weights, b.model.weights);
  EXPECT_EQ(a.model.bias, b.model.bias);
  ASSERT_EQ(a.epochs.size(), b.epochs.size());
  for (std::size_t i = 0; i < a.epochs.size(); ++i) {
    EXPECT_EQ(a.epochs[i].train.loss_sum, b.epochs[i].train.loss_sum);
    EXPECT_EQ(a.epochs[i].test.correct, b.epochs[i].test.correct);
  }
  cfg.seed = 10;
  EXPECT_NE(Train(d, cfg).model.weights, a.model.weights);
}

TEST(Training, ChunkedEpochsEqualWholeEpochs) {
  const Dataset d = SeparableDataset(700, 50, 10, 6);
  TrainConfig cfg;
  cfg.epochs = 1;
  cfg.batch_size = 8;
  cfg.lr = 0.05f;
  const RunResult whole = Train(d, cfg, false);
  const RunResult chunks = Train(d, cfg, true);
  EXPECT_EQ(whole.model.weights, chunks.model.weights);
  // The loss sums are added in a different grouping, so only rounding may differ.
  EXPECT_NEAR(whole.epochs[0].train.loss_sum, chunks.epochs[0].train.loss_sum, 1e-12 * whole.epochs[0].train.loss_sum);
}

// A backend that trains nothing and records how the host loop calls it.
class RecordingBackend final : public TrainerBackend {
 public:
  explicit RecordingBackend(int classes) { model_ = init_model(4, classes, LossHead::kSoftmax, 0); }
  std::string name() const override { return "recording"; }
  Totals train_epoch(const std::vector<std::uint32_t>& order, int, float) override {
    calls.push_back(order.size());
    orders.push_back(order);
    Totals t;
    t.count = static_cast<std::int64_t>(order.size());
    t.loss_sum = row_loss * static_cast<double>(order.size());
    return t;
  }
  // The validation split's mean loss is val_losses[k] at its k-th evaluation (then the last one again).
  Totals evaluate(const ImageSet&, const LabelSet& labels) override {
    Totals t;
    t.count = 4;
    if (labels.path.find("(validation split)") != std::string::npos && !val_losses.empty()) {
      t.loss_sum = 4.0 * val_losses[std::min(val_evaluations++, val_losses.size() - 1)];
    }
    return t;
  }
  Model model() const override { return model_; }
  std::vector<std::size_t> calls;                  // rows per train_epoch call, in order
  std::vector<std::vector<std::uint32_t>> orders;  // the rows of each call
  double row_loss = 0.5;                           // every training row's loss
  std::vector<double> val_losses;
  std::size_t val_evaluations = 0;

 private:
  Model model_;
};

Dataset TinyDataset(std::uint32_t rows) {
  Dataset d;
  d.train_images = test::RandomImages(rows, 2, 2, 1);
  d.train_labels = test::RandomLabels(rows, 3, 1);
  d.train_images.path = "train-images";
  d.train_labels.path = "train-labels";
  d.test_images = test::RandomImages(5, 2, 2, 2);
  d.test_labels = test::RandomLabels(5, 3, 2);
  d.num_classes = 3;
  return d;
}

// Regression: a progress bar (stderr a terminal) forced an epoch into 50 chunks, each a host sync on
// the GPU. The chunks are the backend's choice alone; the progress hook only hears about them.
TEST(Training, ProgressHookDoesNotChangeTheChunks) {
  const Dataset d = TinyDataset(1000);
  TrainConfig cfg;
  cfg.epochs = 2;
  cfg.batch_size = 10;
  for (int chunks : {1, 4}) {
    SCOPED_TRACE(std::to_string(chunks) + " chunks per epoch");
    std::vector<std::vector<std::size_t>> calls;
    std::vector<std::int64_t> progress;
    for (bool with_progress : {false, true}) {
      RecordingBackend backend(3);
      TrainHooks hooks;
      hooks.chunks_per_epoch = chunks;
      if (with_progress) hooks.on_progress = [&](int, std::int64_t done, std::int64_t) { progress.push_back(done); };
      run_training(backend, d, make_train_split(d, 0, 0.0, 0), cfg, hooks);
      calls.push_back(backend.calls);
    }
    EXPECT_EQ(calls[0], calls[1]);
    ASSERT_EQ(calls[0].size(), static_cast<std::size_t>(2 * chunks));
    EXPECT_EQ(calls[0][0], static_cast<std::size_t>(1000 / chunks));
    // One report per chunk, ending at the whole epoch.
    ASSERT_EQ(progress.size(), static_cast<std::size_t>(2 * chunks));
    EXPECT_EQ(progress.back(), 1000);
    EXPECT_EQ(progress[0], 1000 / chunks);
  }
}

// Regression: a resumed run (first_epoch 3) stopped before it completes an epoch has still done the
// 2 epochs it resumed with; last_epoch used to start at 0, so the model was saved with 0 epochs done.
TEST(Training, ResumedRunStoppedInItsFirstEpochKeepsItsEpochCount) {
  const Dataset d = TinyDataset(1000);
  TrainConfig cfg;
  cfg.first_epoch = 3;
  cfg.epochs = 10;
  cfg.batch_size = 10;
  RecordingBackend backend(3);
  TrainHooks hooks;
  hooks.chunks_per_epoch = 4;
  hooks.stop_requested = [] { return true; };
  const TrainOutcome out = run_training(backend, d, make_train_split(d, 0, 0.0, 0), cfg, hooks);
  EXPECT_TRUE(out.stopped);
  EXPECT_TRUE(out.partial_epoch);
  EXPECT_EQ(out.last_epoch, 2);
  EXPECT_EQ(out.steps_in_partial_epoch, 25);  // one chunk of 250 rows, batches of 10
  // Nothing to run at all (resumed at its last epoch): still the resumed count.
  cfg.first_epoch = 11;
  EXPECT_EQ(run_training(backend, d, make_train_split(d, 0, 0.0, 0), cfg, {}).last_epoch, 10);
}

// Each epoch trains on its own seeded shuffle (epoch e: epoch_order(seed, e - 1, n)), so epochs differ and a
// resumed run replays the very orders it would have seen.
TEST(Training, EachEpochGetsItsOwnSeededShuffle) {
  const Dataset d = TinyDataset(50);
  TrainConfig cfg;
  cfg.epochs = 3;
  cfg.batch_size = 5;
  cfg.seed = 21;
  RecordingBackend backend(3);
  run_training(backend, d, make_train_split(d, 0, 0.0, cfg.seed), cfg, {});
  ASSERT_EQ(backend.orders.size(), 3u);
  for (int e = 1; e <= 3; ++e) EXPECT_EQ(backend.orders[static_cast<std::size_t>(e - 1)], epoch_order(21, e - 1, 50)) << e;
  EXPECT_NE(backend.orders[0], backend.orders[1]);
  cfg.first_epoch = 3;  // resumed after 2 epochs: epoch 3's order again
  RecordingBackend resumed(3);
  run_training(resumed, d, make_train_split(d, 0, 0.0, cfg.seed), cfg, {});
  ASSERT_EQ(resumed.orders.size(), 1u);
  EXPECT_EQ(resumed.orders[0], backend.orders[2]);
}

// Patience N stops exactly N epochs after the best validation loss; an equal loss is no improvement.
TEST(Training, EarlyStopPatienceIsExact) {
  const Dataset d = TinyDataset(100);
  TrainConfig cfg;
  cfg.epochs = 20;
  cfg.batch_size = 10;
  cfg.early_stop = 2;
  RecordingBackend backend(3);
  backend.val_losses = {1.0, 0.5, 0.5, 0.6, 0.1};  // best at epoch 2; epoch 3 only equals it
  const TrainOutcome out = run_training(backend, d, make_train_split(d, 0, 0.2, 0), cfg, {});
  EXPECT_TRUE(out.early_stopped);
  EXPECT_EQ(out.last_epoch, 4);
  cfg.early_stop = 3;
  RecordingBackend patient(3);
  patient.val_losses = {1.0, 0.5, 0.5, 0.6, 0.7, 0.8};
  EXPECT_EQ(run_training(patient, d, make_train_split(d, 0, 0.2, 0), cfg, {}).last_epoch, 5);
}

// A chunk's mean loss exactly at kDivergedLossFactor times a uniform guess's is still training; the next
// double above it is divergence. 64 rows per chunk keep loss_sum / count exact.
TEST(Training, DivergenceThresholdBoundary) {
  const Dataset d = TinyDataset(64);  // 3 classes
  for (LossHead head : {LossHead::kSoftmax, LossHead::kOvr}) {
    SCOPED_TRACE(loss_head_name(head));
    TrainConfig cfg;
    cfg.epochs = 1;
    cfg.batch_size = 64;
    cfg.head = head;
    const double uniform = head == LossHead::kOvr ? 3.0 * std::log(2.0) : std::log(3.0);
    RecordingBackend at(3);
    at.row_loss = kDivergedLossFactor * uniform;
    EXPECT_NO_THROW(run_training(at, d, make_train_split(d, 0, 0.0, 0), cfg, {}));
    RecordingBackend above(3);
    above.row_loss = std::nextafter(kDivergedLossFactor * uniform, INFINITY);
    EXPECT_TRUE(test::ThrowsWith<DivergedError>([&] { run_training(above, d, make_train_split(d, 0, 0.0, 0), cfg, {}); },
                                                {"epoch 1 by step 1 of 1", "uniform guess"}));
  }
}

TEST(Training, EpochLineHasTheTutorialFormat) {
  EpochReport r;
  r.epoch = 3;
  r.train = {312.7, 0, 1000};
  r.test = {0, 9112, 10000};
  r.seconds = 1.844;
  r.samples_per_second = 32600.4;
  EXPECT_EQ(format_epoch_line(r), "Epoch: 3. Loss: 0.3127. Accuracy: 91.12. Time: 1.84 s. Throughput: 32600 samples/s");
}

TEST(Training, FashionMnistTwoEpochsReachEightyPercent) {
  if (!std::filesystem::exists(std::string(kFashionMnistDir) + "/train-images-idx3-ubyte.gz")) {
    GTEST_SKIP() << "Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)";
  }
  const auto files = find_data_files(kFashionMnistDir);
  ASSERT_TRUE(files.has_value());
  const Dataset d = load_dataset(*files);
  TrainConfig cfg;
  cfg.epochs = 2;
  cfg.batch_size = 32;
  cfg.lr = 0.1f;
  cfg.seed = 0;
  const RunResult r = Train(d, cfg);
  ASSERT_EQ(r.epochs.size(), 2u);
  // PyTorch with the same settings: 81.3% after one epoch, 82.7% after two.
  EXPECT_GE(r.epochs[1].test.accuracy_percent(), 80.0);
  EXPECT_LT(r.epochs[1].train.mean_loss(), 0.6);
}

TEST(Training, LearningRateSchedules) {
  TrainConfig cfg;
  cfg.lr = 0.1f;
  cfg.epochs = 10;
  EXPECT_FLOAT_EQ(lr_for_epoch(cfg, 7), 0.1f);
  cfg.schedule = LrSchedule::kStep;
  cfg.lr_step = 3;
  cfg.lr_gamma = 0.5f;
  EXPECT_FLOAT_EQ(lr_for_epoch(cfg, 1), 0.1f);
  EXPECT_FLOAT_EQ(lr_for_epoch(cfg, 3), 0.1f);
  EXPECT_FLOAT_EQ(lr_for_epoch(cfg, 4), 0.05f);
  EXPECT_FLOAT_EQ(lr_for_epoch(cfg, 7), 0.025f);
  cfg.schedule = LrSchedule::kCosine;
  EXPECT_FLOAT_EQ(lr_for_epoch(cfg, 1), 0.1f);
  EXPECT_FLOAT_EQ(lr_for_epoch(cfg, 6), 0.05f);  // half way: cos(pi/2) = 0
  EXPECT_NEAR(lr_for_epoch(cfg, 10), 0.1 * 0.5 * (1 + std::cos(M_PI * 0.9)), 1e-8);
}

TEST(Training, ValidationSplitIsDisjointSeededAndReported) {
  const Dataset d = SeparableDataset(400, 50, 10, 8);
  const TrainSplit a = make_train_split(d, 0, 0.25, 3);
  ASSERT_EQ(a.train_rows.size(), 300u);
  ASSERT_EQ(a.val_images.count, 100u);
  ASSERT_EQ(a.val_labels.count(), 100u);
  const TrainSplit b = make_train_split(d, 0, 0.25, 3);
  EXPECT_EQ(a.train_rows, b.train_rows);
  EXPECT_NE(a.train_rows, make_train_split(d, 0, 0.25, 4).train_rows);
  // Every held-out image is a training image that is not in train_rows.
  std::vector<bool> in_train(400, false);
  for (auto r : a.train_rows) in_train[r] = true;
  int matched = 0;
  for (std::uint32_t k = 0; k < 100; ++k) {
    for (std::uint32_t r = 0; r < 400; ++r) {
      if (!in_train[r] && std::equal(d.train_images.image(r), d.train_images.image(r) + 784, a.val_images.image(k))) {
        ++matched;
        break;
      }
    }
  }
  EXPECT_EQ(matched, 100);
  EXPECT_THROW(make_train_split(d, 0, 0.9999, 3), UsageError);
  EXPECT_EQ(make_train_split(d, 120, 0.0, 3).train_rows.size(), 120u);

  TrainConfig cfg;
  cfg.epochs = 2;
  cfg.lr = 0.5f;
  const RunResult r = Train(d, cfg, false, {}, 0.25);
  ASSERT_EQ(r.epochs.size(), 2u);
  EXPECT_TRUE(r.epochs[1].has_val);
  EXPECT_EQ(r.epochs[1].val.count, 100);
  EXPECT_EQ(r.epochs[1].train.count, 300);
  EXPECT_NE(format_epoch_line(r.epochs[1]).find("Val accuracy: "), std::string::npos);
}

// Random images with random labels (10 classes): nothing to learn, so the predictions stay wrong and the
// updates keep coming.
Dataset RandomLabelDataset(std::uint32_t train_rows, std::uint32_t test_rows, std::uint64_t seed) {
  Dataset d;
  d.train_images = test::RandomImages(train_rows, 28, 28, seed);
  d.train_labels = test::RandomLabels(train_rows, 10, seed);
  d.test_images = test::RandomImages(test_rows, 28, 28, seed + 1);
  d.test_labels = test::RandomLabels(test_rows, 10, seed + 1);
  d.num_classes = 10;
  return d;
}

// Trains the reference backend from seed-0 weights; the DivergedError message, or "" when none came.
std::string DivergenceMessage(const Dataset& d, const TrainConfig& cfg) {
  auto backend = make_cpu_reference_backend(d.train_images, d.train_labels, init_model(784, 10, cfg.head, 0));
  try {
    run_training(*backend, d, make_train_split(d, 0, 0.0, 0), cfg, {});
  } catch (const DivergedError& e) {
    return e.what();
  }
  return "";
}

TEST(Training, EarlyStopEndsWhenValidationLossStopsImproving) {
  const Dataset d = RandomLabelDataset(300, 50, 1);
  TrainConfig cfg;
  cfg.epochs = 200;
  cfg.lr = 0.5f;
  cfg.early_stop = 2;
  const Model init = init_model(784, 10, cfg.head, 0);
  auto backend = make_cpu_reference_backend(d.train_images, d.train_labels, init);
  const TrainOutcome out = run_training(*backend, d, make_train_split(d, 0, 0.3, 0), cfg, {});
  EXPECT_TRUE(out.early_stopped);
  EXPECT_LT(out.last_epoch, 200);
}

TEST(Training, DivergenceIsReportedWithTheEpoch) {
  TrainConfig cfg;
  cfg.epochs = 3;
  cfg.batch_size = 1;
  cfg.lr = 3e38f;  // the first steps push weights to ~1e38, the next ones past float's range
  const std::string what = DivergenceMessage(RandomLabelDataset(200, 20, 3), cfg);
  EXPECT_NE(what.find("epoch 1"), std::string::npos) << what;
  EXPECT_NE(what.find("--lr"), std::string::npos) << what;
}

// Softmax cross-entropy stays finite however large the weights get, so a huge learning rate shows as an
// exploding loss (millions, where a uniform guess costs ln 10 = 2.3) and is reported as divergence.
TEST(Training, ExplodingLossIsDivergence) {
  const Dataset d = RandomLabelDataset(200, 20, 3);
  TrainConfig cfg;
  cfg.epochs = 3;
  cfg.batch_size = 10;
  cfg.lr = 1e6f;
  const std::string what = DivergenceMessage(d, cfg);
  EXPECT_NE(what.find("epoch 1 by step 20 of 20"), std::string::npos) << what;
  EXPECT_NE(what.find("learning rate 1e+06"), std::string::npos) << what;
  EXPECT_NE(what.find("uniform guess (2.30259)"), std::string::npos) << what;
  EXPECT_NE(what.find("smaller --lr"), std::string::npos) << what;
  cfg.lr = 0.01f;  // the same run at a sane learning rate is not flagged
  EXPECT_EQ(DivergenceMessage(d, cfg), "");
}

// Momentum and weight decay on a 2x3 example computed by hand (PyTorch's SGD semantics).
TEST(Optimizer, MomentumAndWeightDecayMatchHandComputedUpdates) {
  Model m;
  m.input_dim = 3;
  m.num_classes = 2;
  m.head = LossHead::kSoftmax;
  m.weights = {0.5f, -0.25f, 1.0f, 0.0f, 0.75f, -0.5f};
  m.bias = {0.0f, 0.0f};
  const float x[3] = {1.0f, 0.0f, 0.5f};
  const std::uint8_t y[1] = {1};
  // Logits: z0 = 0.5 + 0.5 = 1.0, z1 = 0 - 0.25 = -0.25; p = softmax(z); dz = p - onehot(1).
  const double p0 = std::exp(1.0) / (std::exp(1.0) + std::exp(-0.25));
  const double dz[2] = {p0, (1.0 - p0) - 1.0};
  const double grad_w[6] = {dz[0] * 1.0, 0.0, dz[0] * 0.5, dz[1] * 1.0, 0.0, dz[1] * 0.5};
  OptimizerConfig opt;
  opt.momentum = 0.9f;
  opt.weight_decay = 0.1f;
  std::vector<float> v(8, 0.0f);
  const double lr = 0.5;
  std::vector<double> w_expected(6), v_expected(6);
  for (int j = 0; j < 6; ++j) {
    const double g = grad_w[j] + 0.1 * m.weights[static_cast<std::size_t>(j)];
    v_expected[static_cast<std::size_t>(j)] = g;  // v = 0.9 * 0 + g
    w_expected[static_cast<std::size_t>(j)] = m.weights[static_cast<std::size_t>(j)] - lr * g;
  }
  Model step1 = m;
  reference_sgd_step(step1, x, y, 1, 0.5f, nullptr, nullptr, nullptr, nullptr, opt, v.data());
  EXPECT_TRUE(test::AllClose(w_expected.data(), step1.weights.data(), 6, 1e-7, 1e-6));
  EXPECT_TRUE(test::AllClose(v_expected.data(), v.data(), 6, 1e-7, 1e-6));
  EXPECT_NEAR(step1.bias[0], -lr * dz[0], 1e-7);  // no decay on the bias
  EXPECT_NEAR(v[6], dz[0], 1e-7);

  // Second step: v = 0.9 v + g; Nesterov uses g + 0.9 v.
  Model step2 = step1;
  std::vector<float> v2 = v;
  std::vector<double> logits(2), dz2(2), dw2(6), db2(2);
  Model probe = step1;
  std::vector<float> vprobe = v;
  reference_sgd_step(probe, x, y, 1, 0.5f, logits.data(), dz2.data(), dw2.data(), db2.data(), opt, vprobe.data());
  OptimizerConfig nesterov = opt;
  nesterov.nesterov = true;
  reference_sgd_step(step2, x, y, 1, 0.5f, nullptr, nullptr, nullptr, nullptr, nesterov, v2.data());
  for (int j = 0; j < 6; ++j) {
    const std::size_t k = static_cast<std::size_t>(j);
    const double g = dw2[k] + 0.1 * step1.weights[k];
    const double vn = 0.9 * v[k] + g;
    EXPECT_NEAR(v2[k], vn, 1e-6);
    EXPECT_NEAR(step2.weights[k], step1.weights[k] - lr * (g + 0.9 * vn), 1e-6);
  }
}

TEST(Optimizer, PlainSgdUpdateIsWeightMinusLrTimesGradient) {
  Model m = init_model(6, 3, LossHead::kOvr, 2);
  const Model before = m;
  const float x[12] = {0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f, 1.0f, 0.0f, 1.0f, 0.0f, 1.0f, 0.0f};
  const std::uint8_t y[2] = {2, 0};
  std::vector<double> dw(18), db(3);
  reference_sgd_step(m, x, y, 2, 0.25f, nullptr, nullptr, dw.data(), db.data());
  for (std::size_t j = 0; j < 18; ++j) EXPECT_EQ(m.weights[j], static_cast<float>(before.weights[j] - 0.25 * dw[j]));
  for (std::size_t c = 0; c < 3; ++c) EXPECT_EQ(m.bias[c], static_cast<float>(before.bias[c] - 0.25 * db[c]));
}

}  // namespace
}  // namespace logreg
