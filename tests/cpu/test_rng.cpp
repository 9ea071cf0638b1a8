// Rng and epoch_order: fixed sequences for a seed, permutations, independence of epochs.
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>

#include "logreg/model.hpp"
#include "logreg/rng.hpp"

namespace logreg {
namespace {

TEST(Rng, SameSeedSameSequenceOtherSeedOther) {
  Rng a(42), b(42), c(43);
  int differ = 0;
  for (int i = 0; i < 100; ++i) {
    const auto x = a.next_u64();
    EXPECT_EQ(x, b.next_u64());
    differ += x != c.next_u64() ? 1 : 0;
  }
  EXPECT_GT(differ, 95);
}

TEST(Rng, BelowStaysInRangeAndCoversIt) {
  Rng r(1);
  std::vector<int> hits(7, 0);
  for (int i = 0; i < 7000; ++i) {
    const auto v = r.below(7);
    ASSERT_LT(v, 7u);
    ++hits[v];
  }
  for (int h : hits) EXPECT_GT(h, 800);
}

TEST(EpochOrder, IsAPermutationThatDependsOnSeedAndEpoch) {
  const auto o = epoch_order(5, 0, 1000);
  std::vector<std::uint32_t> sorted = o;
  std::sort(sorted.begin(), sorted.end());
  for (std::uint32_t i = 0; i < 1000; ++i) ASSERT_EQ(sorted[i], i);
  EXPECT_EQ(o, epoch_order(5, 0, 1000));
  EXPECT_NE(o, epoch_order(5, 1, 1000));
  EXPECT_NE(o, epoch_order(6, 0, 1000));
}

TEST(InitModel, UniformWithinPyTorchBoundAndSeeded) {
  const Model m = init_model(784, 10, LossHead::kSoftmax, 3);
  ASSERT_EQ(m.weights.size(), 7840u);
  ASSERT_EQ(m.bias.size(), 10u);
  const float bound = 1.0f / 28.0f;
  float lo = 1, hi = -1;
  for (float w : m.weights) {
    lo = std::min(lo, w);
    hi = std::max(hi, w);
  }
  EXPECT_GE(lo, -bound);
  EXPECT_LT(hi, bound);
  EXPECT_LT(lo, -0.9f * bound);  // spans the range
  EXPECT_GT(hi, 0.9f * bound);
  EXPECT_EQ(m.weights, init_model(784, 10, LossHead::kSoftmax, 3).weights);
  EXPECT_NE(m.weights, init_model(784, 10, LossHead::kSoftmax, 4).weights);
}

}  // namespace
}  // namespace logreg
