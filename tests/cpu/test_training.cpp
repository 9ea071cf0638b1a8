// The CPU reference trainer end to end: a separable set is learnt perfectly, runs are bit-identical
// for a seed, chunked epochs equal whole epochs, and 2 epochs on Fashion-MNIST reach PyTorch's accuracy.
#include <gtest/gtest.h>

#include <filesystem>

#include "logreg/cpu_reference.hpp"
#include "logreg/data_source.hpp"
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

RunResult Train(const Dataset& d, const TrainConfig& cfg, bool chunked = false) {
  const Model init = init_model(static_cast<int>(d.train_images.dim()), d.num_classes, cfg.head, cfg.seed);
  auto backend = make_cpu_reference_backend(d.train_images, d.train_labels, init);
  RunResult r;
  TrainHooks hooks;
  hooks.on_epoch = [&r](const EpochReport& e) { r.epochs.push_back(e); };
  if (chunked) hooks.on_progress = [](int, std::int64_t, std::int64_t) {};
  run_training(*backend, d, d.train_images.count, cfg, hooks);
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

}  // namespace
}  // namespace logreg
