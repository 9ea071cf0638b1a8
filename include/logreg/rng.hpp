// Seeded random numbers with the same sequence on every platform and compiler (the standard
// library's distributions are implementation-defined): weight initialisation and epoch shuffles.
#pragma once

#include <cstdint>
#include <vector>

namespace logreg {

// splitmix64-seeded xoshiro256**. One independent stream per (seed, stream) pair.
class Rng {
 public:
  explicit Rng(std::uint64_t seed, std::uint64_t stream = 0);
  std::uint64_t next_u64();
  // Uniform integer in [0, n), unbiased (Lemire's multiply-and-reject). n > 0.
  std::uint64_t below(std::uint64_t n);
  // Uniform double in [0, 1) with 53 random bits.
  double unit();
  // Uniform float in [lo, hi).
  float uniform(float lo, float hi);

 private:
  std::uint64_t s_[4];
};

// The training order of one epoch: a Fisher-Yates shuffle of 0..n-1 drawn from stream (epoch + 1)
// of `seed`, so epoch e's order does not depend on how many epochs ran before it (resume-safe).
std::vector<std::uint32_t> epoch_order(std::uint64_t seed, int epoch, std::uint32_t n);

}  // namespace logreg
