// Rng and epoch_order: fixed sequences for a seed, permutations, independence of epochs, and known answers
// pinned as constants (the first outputs of Rng(0), epoch_order for seed 0, the first weights of init_model),
// so that "the same numbers on every platform and compiler" is asserted, not only a run compared with itself.
// The constants were computed by an independent Python transcription of splitmix64, xoshiro256** (Blackman
// and Vigna's reference), Lemire's bounded draw and the Fisher-Yates loop, and agree with this build.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <numeric>
#include <vector>

#include "logreg/model.hpp"
#include "logreg/rng.hpp"

namespace logreg {
namespace {

std::uint32_t Bits(float f) {
  std::uint32_t u = 0;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

TEST(KnownAnswers, FirstOutputsOfRngZero) {
  Rng r(0);
  EXPECT_EQ(r.next_u64(), 0x99ec5f36cb75f2b4ull);
  EXPECT_EQ(r.next_u64(), 0xbf6e1f784956452aull);
  EXPECT_EQ(r.next_u64(), 0x1a5f849d4933e6e0ull);
  EXPECT_EQ(r.next_u64(), 0x6aa594f1262d2d2cull);
  Rng s(0, 5);  // stream 5 of seed 0 (epoch 4's shuffle)
  EXPECT_EQ(s.next_u64(), 0xa3a26de809439e73ull);
  EXPECT_EQ(s.next_u64(), 0x24320aab38ee1135ull);
}

TEST(KnownAnswers, EpochOrderOfSeedZero) {
  EXPECT_EQ(epoch_order(0, 0, 10), (std::vector<std::uint32_t>{9, 0, 8, 6, 5, 7, 1, 4, 3, 2}));
  EXPECT_EQ(epoch_order(0, 1, 10), (std::vector<std::uint32_t>{5, 4, 3, 1, 0, 2, 8, 9, 7, 6}));
}

// nn.Linear(784, 10)'s initialisation from seed 0: bit patterns of the first weights and the first biases
// (drawn after all 7840 weights).
TEST(KnownAnswers, FirstWeightsOfInitModel) {
  const Model m = init_model(784, 10, LossHead::kSoftmax, 0);
  ASSERT_EQ(m.weights.size(), 7840u);
  EXPECT_EQ(Bits(m.weights[0]), 0x3bed0367u);  // 0.0072330716
  EXPECT_EQ(Bits(m.weights[1]), 0x3c90fbb6u);  // 0.017698150
  EXPECT_EQ(Bits(m.weights[2]), 0xbce84a3fu);  // -0.028355716
  EXPECT_EQ(Bits(m.weights[3]), 0xbbc33aafu);  // -0.0059579234
  EXPECT_EQ(Bits(m.bias[0]), 0x3ad30c47u);     // 0.0016101681
  EXPECT_EQ(Bits(m.bias[1]), 0x3caba1ceu);     // 0.020951178
}

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
