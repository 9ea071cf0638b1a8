// The fast CPU backend's SIMD loops as plain inline templates over the lane count V: pixel loads, lane
// sums, the forward (logit sums), the backward (weight gradient) and the SGD update of a range. Included
// only by simd_kernels.cpp, which compiles each of them for AVX-512, AVX2+FMA and SSE2; not here: the
// run-time choice (simd_kernels.hpp) and the order of the work (cpu_fast_backend.cpp).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <utility>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#include "simd_kernels.hpp"
#include "logreg/maths/step_bodies.hpp"

namespace logreg::cpu {

constexpr int kRowBlock = 256;    // rows per backward pass, so that a big batch's rows stay in L2
constexpr int kPrefetchRows = 16;  // how far ahead of the forward the rows of the batch stream are prefetched

// V lanes of float through GCC's vector extensions (AVX-512: V = 16, AVX2+FMA: V = 8, SSE2: V = 4).
template <int V>
struct Lanes {
  typedef float F __attribute__((vector_size(V * sizeof(float))));
  typedef std::int32_t I __attribute__((vector_size(V * sizeof(std::int32_t))));
};

// The bodies below are plain inline templates; each wrapper in simd_kernels.cpp is `flatten`, so the whole call tree
// is inlined into it and compiled for its target. (always_inline would not do: GCC refuses to inline the
// target-specific pixel loads into the generic template before that reaches the wrapper.) Vectors are passed
// by reference, which keeps GCC's ABI notes (-Wpsabi) about by-value AVX arguments away.

// out = V pixels as floats 0..255 (unscaled). GCC 12 scalarises __builtin_convertvector from uint8, hence
// the zero-extension intrinsics (vpmovzxbd; SSE2: two unpacks with zero).
template <int V>
void load_pixels(const std::uint8_t* p, typename Lanes<V>::F& out);

#if defined(__x86_64__) && defined(__GNUC__)
template <>
__attribute__((target("avx512f"))) inline void load_pixels<16>(const std::uint8_t* p, Lanes<16>::F& out) {
  // maskz with an all-ones mask is the plain vpmovzxbd; the unmasked intrinsic draws -Wmaybe-uninitialized.
  const __m512i wide = _mm512_maskz_cvtepu8_epi32(0xffff, _mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  out = __builtin_convertvector((Lanes<16>::I)wide, Lanes<16>::F);
}

template <>
__attribute__((target("avx2"))) inline void load_pixels<8>(const std::uint8_t* p, Lanes<8>::F& out) {
  const __m256i wide = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
  out = __builtin_convertvector((Lanes<8>::I)wide, Lanes<8>::F);
}
#endif

template <>
inline void load_pixels<4>(const std::uint8_t* p, Lanes<4>::F& out) {
#if defined(__x86_64__) || defined(__i386__)
  std::int32_t four;
  std::memcpy(&four, p, sizeof four);
  const __m128i zero = _mm_setzero_si128();
  const __m128i wide = _mm_unpacklo_epi16(_mm_unpacklo_epi8(_mm_cvtsi32_si128(four), zero), zero);
  out = __builtin_convertvector((Lanes<4>::I)wide, Lanes<4>::F);
#else
  out = Lanes<4>::F{static_cast<float>(p[0]), static_cast<float>(p[1]), static_cast<float>(p[2]), static_cast<float>(p[3])};
#endif
}

// The first `count` pixels (none when count <= 0), zeros in the other lanes: the tail of a row.
template <int V>
inline void load_pixels_partial(const std::uint8_t* p, int count, typename Lanes<V>::F& out) {
  std::uint8_t tmp[V] = {};
  if (count > 0) std::memcpy(tmp, p, static_cast<std::size_t>(std::min(count, V)));
  load_pixels<V>(tmp, out);
}

template <int V>
inline void load_floats(const float* p, typename Lanes<V>::F& out) {
  std::memcpy(&out, p, sizeof out);
}

template <int V>
inline void store_floats(float* p, const typename Lanes<V>::F& v) {
  std::memcpy(p, &v, sizeof v);
}

// Lane sums of several vectors at once: out[g] = v[g][0] + ... + v[g][V-1] for g < count, each summed by
// halving (lane l += lane l + h for h = V/2, V/4, ..., 1), with the vectors transposed along the way so that
// every shuffle and add serves several sums: 11 shuffle pairs for 10 vectors of 16 lanes instead of 40.
//
// combine<V, BLK>: a and b each hold V/BLK sums in progress, in blocks of BLK lanes; the result holds the
// 2V/BLK sums (a's, then b's), in blocks of BLK/2 lanes, each block's low half plus its high half.
template <int V, int BLK>
constexpr int combine_low_lane(int j) {
  const int half = BLK / 2;
  const int out_block = j / half;
  const int blocks = V / BLK;  // per input vector
  return (out_block < blocks ? 0 : V) + (out_block % blocks) * BLK + j % half;
}

template <int V, int BLK, int... J>
inline void combine_lanes(const typename Lanes<V>::F& a, const typename Lanes<V>::F& b, typename Lanes<V>::F& out,
                          std::integer_sequence<int, J...>) {
  out = __builtin_shufflevector(a, b, combine_low_lane<V, BLK>(J)...) +
        __builtin_shufflevector(a, b, (combine_low_lane<V, BLK>(J) + BLK / 2)...);
}

// t[0, count) -> t[0, (count + 1) / 2) combined pairwise (a missing partner is zero), down to one vector.
template <int V, int BLK>
inline void reduce_levels(typename Lanes<V>::F* t, int count) {
  using F = typename Lanes<V>::F;
  const int m = (count + 1) / 2;
  for (int i = 0; i < m; ++i) {
    const F b = 2 * i + 1 < count ? t[2 * i + 1] : F{};
    combine_lanes<V, BLK>(t[2 * i], b, t[i], std::make_integer_sequence<int, V>{});
  }
  if constexpr (BLK > 2) reduce_levels<V, BLK / 2>(t, m);
}

// out[g] = the lane sum of v[g] for g < count <= V.
template <int V>
inline void lane_sums(const typename Lanes<V>::F* v, int count, float* out) {
  typename Lanes<V>::F t[V];
  for (int g = 0; g < count; ++g) t[g] = v[g];
  reduce_levels<V, V>(t, count);
  float lanes[V];
  std::memcpy(lanes, &t[0], sizeof lanes);
  for (int g = 0; g < count; ++g) out[g] = lanes[g];
}

// Forward partial sums of R rows over the column chunks [k0, k1) (V columns each) for the classes
// [cb, cb + kClassBlock):  out[r * C + c] = sum_d rows[r][d] * w[c, d] for c < C (pixels 0..255, no bias).
// Each sum is accumulated lane-wise over the chunks in order, then lane-summed: whatever R is.
template <int V, int R>
inline void forward_block(const std::uint8_t* const* rows,  // (R) pixel rows, D each
                          const float* w,                   // (Cpad, Dpad) weights, zero-padded
                          int D,
                          int Dpad,
                          int C,
                          int cb,
                          int k0,
                          int k1,
                          float* out) {                     // (R, C) row-major, stride C
  using F = typename Lanes<V>::F;
  F acc[R][kClassBlock];
  for (int r = 0; r < R; ++r) {
    for (int c = 0; c < kClassBlock; ++c) acc[r][c] = F{};
  }
  const float* wb = w + static_cast<std::size_t>(cb) * static_cast<std::size_t>(Dpad);
  const int full = D / V * V;
  for (int d = k0 * V; d < k1 * V; d += V) {
    F x[R];
    if (d < full) {
      for (int r = 0; r < R; ++r) load_pixels<V>(rows[r] + d, x[r]);
    } else {
      for (int r = 0; r < R; ++r) load_pixels_partial<V>(rows[r] + d, D - d, x[r]);
    }
#pragma GCC unroll 16
    for (int c = 0; c < kClassBlock; ++c) {
      F wv;
      load_floats<V>(wb + static_cast<std::size_t>(c) * static_cast<std::size_t>(Dpad) + d, wv);
      for (int r = 0; r < R; ++r) acc[r][c] += x[r] * wv;
    }
  }
  for (int r = 0; r < R; ++r) {
    for (int g = 0; g < kClassBlock; g += V) {  // groups of at most V classes
      float sums[V];
      const int count = std::min(V, kClassBlock - g);
      lane_sums<V>(acc[r] + g, count, sums);
      for (int c = 0; c < count && cb + g + c < C; ++c) out[static_cast<std::size_t>(r) * C + cb + g + c] = sums[c];
    }
  }
}

// Prefetch (into L2) the bytes [d0, d1) of a pixel row.
inline void prefetch_columns(const std::uint8_t* row, int d0, int d1) {
  for (int d = d0; d < d1; d += 64) __builtin_prefetch(row + d, 0, 2);
  if (d1 > d0) __builtin_prefetch(row + d1 - 1, 0, 2);
}

// out (n, C) = the partial sums of forward_block for rows [0, n) over chunks [k0, k1). rows[i + kPrefetchRows]
// (for i + kPrefetchRows < avail) is prefetched while row i is computed: a shuffled batch's rows lie
// scattered over a training set far bigger than the caches.
template <int V>
inline void forward_rows_body(const std::uint8_t* const* rows,  // (avail) pixel rows, D each
                              int n,
                              int avail,
                              const float* w,                   // (Cpad, Dpad)
                              int D,
                              int Dpad,
                              int C,
                              int k0,
                              int k1,
                              float* out) {                     // (n, C) row-major
  constexpr int R = V >= 16 ? 2 : 1;  // AVX-512 has registers for two rows' 10 accumulators
  const int d0 = std::min(k0 * V, D);
  const int d1 = std::min(k1 * V, D);
  int i = 0;
  for (; i + R <= n; i += R) {
    for (int r = 0; r < R; ++r) {
      if (i + r + kPrefetchRows < avail) prefetch_columns(rows[i + r + kPrefetchRows], d0, d1);
    }
    for (int cb = 0; cb < C; cb += kClassBlock) {
      forward_block<V, R>(rows + i, w, D, Dpad, C, cb, k0, k1, out + static_cast<std::size_t>(i) * C);
    }
  }
  for (; i < n; ++i) {
    if (i + kPrefetchRows < avail) prefetch_columns(rows[i + kPrefetchRows], d0, d1);
    for (int cb = 0; cb < C; cb += kClassBlock) {
      forward_block<V, 1>(rows + i, w, D, Dpad, C, cb, k0, k1, out + static_cast<std::size_t>(i) * C);
    }
  }
}

// The SGD update of parameters [j0, j1): the CUDA update kernel's body, in a loop the compiler vectorises
// (the parameters are copied so that the compiler knows the stores do not change them).
inline void update_body(std::size_t j0,
                        std::size_t j1,
                        float* __restrict__ w,          // parameters
                        const float* __restrict__ dw,   // gradients, same layout
                        float* __restrict__ velocity,   // momentum buffers, or nullptr
                        const kernels::SgdStepParams& params) {
  const kernels::SgdStepParams p = params;
  if (velocity == nullptr) {
    for (std::size_t j = j0; j < j1; ++j) kernels::sgd_update_element(j, w, dw, nullptr, p);
  } else {
    for (std::size_t j = j0; j < j1; ++j) kernels::sgd_update_element(j, w, dw, velocity, p);
  }
}

// The SGD update of `count` consecutive weights (never biases): sgd_param_step per weight as in
// sgd_update_element, with its branches decided once for the range so that the loop vectorises (a call of
// sgd_update_element per weight costs about a cycle per weight: 4 ms of a batch-32 epoch).
inline void update_weights(float* __restrict__ w,
                           const float* __restrict__ dw,
                           float* __restrict__ velocity,  // or nullptr: no momentum
                           int count,
                           const kernels::SgdStepParams& params) {
  const float lr = params.lr;
  const float momentum = params.momentum;
  const float decay = params.weight_decay;
  const bool nesterov = params.nesterov;
  if (velocity == nullptr) {
    for (int j = 0; j < count; ++j) w[j] = sgd_param_step<float>(w[j], dw[j], nullptr, lr, 0.0f, decay, nesterov);
  } else {
    for (int j = 0; j < count; ++j) w[j] = sgd_param_step<float>(w[j], dw[j], velocity + j, lr, momentum, decay, nesterov);
  }
}

// Backward of KC consecutive V-lane column chunks starting at column d, classes [cb, cb + kClassBlock):
//   dw[c, d..] (+)= sum_i dzs[i, c] * rows[i][d..] over the rows in order.
// With `update` (the last row block), the SGD update of those weights follows at once, while the block's dw
// is still in L1: the same sgd_update_element per weight as a separate pass, so the same results.
template <int V, int KC>
inline void backward_block(const std::uint8_t* const* rows,  // (n) pixel rows, D each
                           int n,
                           const float* dzs,                 // (n, Cpad) dz / 255, zero-padded
                           int Cpad,
                           int cb,
                           int D,
                           int Dpad,
                           int d,
                           bool accumulate,
                           float* dw,                        // (Cpad, Dpad)
                           const FusedUpdate* update) {      // or nullptr
  using F = typename Lanes<V>::F;
  F acc[KC][kClassBlock];
  float* dwb = dw + static_cast<std::size_t>(cb) * static_cast<std::size_t>(Dpad) + d;
  for (int c = 0; c < kClassBlock; ++c) {
    for (int k = 0; k < KC; ++k) {
      if (accumulate) {
        load_floats<V>(dwb + static_cast<std::size_t>(c) * Dpad + k * V, acc[k][c]);
      } else {
        acc[k][c] = F{};
      }
    }
  }
  const bool partial = d + KC * V > D;
  for (int i = 0; i < n; ++i) {
    F x[KC];
    if (!partial) {
      for (int k = 0; k < KC; ++k) load_pixels<V>(rows[i] + d + k * V, x[k]);
    } else {
      for (int k = 0; k < KC; ++k) load_pixels_partial<V>(rows[i] + d + k * V, D - d - k * V, x[k]);
    }
    const float* g = dzs + static_cast<std::size_t>(i) * Cpad + cb;
#pragma GCC unroll 16
    for (int c = 0; c < kClassBlock; ++c) {
      const float gc = g[c];
      for (int k = 0; k < KC; ++k) acc[k][c] += x[k] * gc;
    }
  }
  for (int c = 0; c < kClassBlock; ++c) {
    for (int k = 0; k < KC; ++k) store_floats<V>(dwb + static_cast<std::size_t>(c) * Dpad + k * V, acc[k][c]);
  }
  if (update == nullptr) return;
  const int width = std::min(KC * V, D - d);  // the columns past D are padding: never updated
  for (int c = 0; c < kClassBlock && cb + c < update->C && width > 0; ++c) {
    const std::size_t j = static_cast<std::size_t>(cb + c) * static_cast<std::size_t>(Dpad) + static_cast<std::size_t>(d);
    update_weights(update->w + j, dw + j, update->velocity == nullptr ? nullptr : update->velocity + j, width,
                   *update->params);
  }
}

// dw[:, chunks k0..k1) for every class block, rows in blocks of kRowBlock (same sums, in the same order).
template <int V>
inline void backward_cols_body(const std::uint8_t* const* rows,  // (n) pixel rows, D each
                               int n,
                               const float* dzs,                 // (n, Cpad)
                               int Cpad,
                               int D,
                               int Dpad,
                               int k0,                           // first chunk of V columns
                               int k1,                           // one past the last chunk
                               float* dw,                        // (Cpad, Dpad)
                               const FusedUpdate* update) {      // or nullptr: no update
  constexpr int KC = V >= 16 ? 2 : 1;  // AVX-512: two chunks share each dz broadcast
  const int d0 = std::min(k0 * V, D);
  const int d1 = std::min(k1 * V, D);
  for (int r0 = 0; r0 < n; r0 += kRowBlock) {
    const int rn = std::min(kRowBlock, n - r0);
    const bool accumulate = r0 > 0;
    const FusedUpdate* up = r0 + kRowBlock >= n ? update : nullptr;  // after the last row block only
    // A batch bigger than a row block has left the caches since its forward: fetch this block (the first
    // time) and the next one while this one is summed.
    if (n > kRowBlock) {
      const int p0 = r0 == 0 ? 0 : r0 + kRowBlock;
      const int p1 = std::min(n, r0 + 2 * kRowBlock);
      for (int i = p0; i < p1; ++i) prefetch_columns(rows[i], d0, d1);
    }
    for (int cb = 0; cb < Cpad; cb += kClassBlock) {
      int k = k0;
      for (; k + KC <= k1; k += KC) {
        backward_block<V, KC>(rows + r0, rn, dzs + static_cast<std::size_t>(r0) * Cpad, Cpad, cb, D, Dpad, k * V, accumulate, dw, up);
      }
      for (; k < k1; ++k) {
        backward_block<V, 1>(rows + r0, rn, dzs + static_cast<std::size_t>(r0) * Cpad, Cpad, cb, D, Dpad, k * V, accumulate, dw, up);
      }
    }
  }
}

}  // namespace logreg::cpu
