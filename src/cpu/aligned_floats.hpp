// AlignedFloats: the fast CPU backend's 64-byte aligned, zero-filled float storage (move-only).
// Not here: what the backend keeps in it (cpu_fast_backend.cpp).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <new>
#include <utility>

namespace logreg::cpu {

// n floats on a 64-byte boundary (a cache line, an AVX-512 vector), zero-filled, the allocation rounded
// up to whole lines so that a vector load at the end never leaves it. Copying is deleted (a copy of the
// weights by accident would cost a step's worth of bandwidth).
class AlignedFloats {
 public:
  AlignedFloats() = default;
  explicit AlignedFloats(std::size_t n) : n_(n) {
    const std::size_t bytes = std::max<std::size_t>(64, (n * sizeof(float) + 63) / 64 * 64);
    p_ = static_cast<float*>(std::aligned_alloc(64, bytes));
    if (p_ == nullptr) throw std::bad_alloc();
    std::memset(p_, 0, bytes);
  }
  ~AlignedFloats() { std::free(p_); }
  AlignedFloats(AlignedFloats&& o) noexcept : n_(o.n_), p_(o.p_) {
    o.n_ = 0;
    o.p_ = nullptr;
  }
  AlignedFloats& operator=(AlignedFloats&& o) noexcept {
    std::swap(n_, o.n_);
    std::swap(p_, o.p_);
    return *this;
  }
  AlignedFloats(const AlignedFloats&) = delete;
  AlignedFloats& operator=(const AlignedFloats&) = delete;
  float* data() { return p_; }
  const float* data() const { return p_; }
  std::size_t size() const { return n_; }

 private:
  std::size_t n_ = 0;
  float* p_ = nullptr;
};

}  // namespace logreg::cpu
