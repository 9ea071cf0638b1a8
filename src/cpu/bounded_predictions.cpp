// BoundedPredictor and predict_rows_bounded (bounded_predictions.hpp).
//
// The bound. The reference's logit of class c is z_c = float(s~_c), s~_c the double sum b_c + sum_d w_cd x_d in
// d order, x_d = float(p_d / 255). Here y_c = b_c + (sum_d w_cd p_d) / 255 in float32: p_d exact as a float, the
// sum in 16 lanes of fused multiply-adds over ceil(D / 16) pixels each, then the lanes added pairwise, then one
// division and one addition. With u = 2^-24 and A_c = |b_c| + sum_d |w_cd| (x_d <= 1), each of at most D + 16
// roundings of the sum errs by u times a partial sum of |terms|, the division and the addition by u |y_c|, and
// x_d differs from p_d / 255 by u x_d; s~_c errs from the exact sum by less than (D + 1) 2^-53 A_c. So
//   |y_c - s~_c| <= E_c = 1.25 (D + 32) u A_c   (generous constants; a row whose y is not finite falls back).
// Rounding to float is monotone, and two doubles more than one float ulp apart (2^-23 |v| for the larger
// magnitude |v|, or the smallest subnormal) round to different floats. So when, for every j != k,
//   (y_k - E_k) - (y_j + E_j) > 2^-23 (max(|y_k|, |y_j|) + E_k + E_j) + 2^-149,
// z_k > z_j strictly and k is the reference's argmax (no tie). Otherwise the row takes the reference's logits.
#include "bounded_predictions.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#include "logreg/cpu_fast.hpp"
#include "logreg/maths/row_math.hpp"
#include "logit_rows.hpp"

namespace logreg::cpu {
namespace {

constexpr int kLanes = 16;
constexpr int kClassBlock = 10;  // classes of accumulators held in registers together
constexpr int kRowBlock = 2;     // rows whose logits are computed before their argmaxes
constexpr double kUlpFloat = 1.0 / 8388608.0;       // 2^-23
constexpr double kUnitRoundoff = 1.0 / 16777216.0;  // 2^-24
constexpr double kSmallestFloat = 1.401298464324817e-45;  // 2^-149

// The argmax of y (C) when the bound proves it is the reference's, else -1.
int certain_argmax(const float* y, const double* bound, int C) {
  int k = 0;
  for (int c = 0; c < C; ++c) {
    if (!std::isfinite(y[c])) return -1;
    if (y[c] > y[k]) k = c;
  }
  const double yk = y[k];
  for (int j = 0; j < C; ++j) {
    if (j == k) continue;
    const double yj = y[j];
    const double e = bound[k] + bound[j];
    const double gap = (yk - yj) - e;  // exact in double: floats' difference, then a rounded subtraction
    if (!(gap * (1.0 - 1e-15) > kUlpFloat * (std::max(std::fabs(yk), std::fabs(yj)) + e) + kSmallestFloat)) return -1;
  }
  return k;
}

#if defined(__x86_64__) && defined(__GNUC__)
#define LOGREG_BOUNDED_AVX512 __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma")))

// Pixels [d, d + 16) of a row, the bytes past D zero (a masked load: never past the row).
LOGREG_BOUNDED_AVX512 inline __m128i load_bytes(const std::uint8_t* row, int d, int D) {
  const int left = D - d;
  if (left >= kLanes) return _mm_loadu_si128(reinterpret_cast<const __m128i*>(row + d));
  return _mm_maskz_loadu_epi8(static_cast<__mmask16>((1u << left) - 1u), row + d);
}

// The 16 bytes as floats 0..255. The maskz forms with an all-ones mask are the plain instructions; the unmasked
// intrinsics leave a source undefined, which draws -Wmaybe-uninitialized.
LOGREG_BOUNDED_AVX512 inline __m512 to_floats(__m128i bytes) {
  return _mm512_maskz_cvtepi32_ps(0xffff, _mm512_maskz_cvtepu8_epi32(0xffff, bytes));
}

// The lanes of v added pairwise (a tree of 4 additions deep), in vector extensions: the shuffle intrinsics'
// undefined sources draw -Wmaybe-uninitialized from GCC 12.
typedef float Floats16 __attribute__((vector_size(64)));
typedef float Floats8 __attribute__((vector_size(32)));
typedef float Floats4 __attribute__((vector_size(16)));
LOGREG_BOUNDED_AVX512 inline float lane_sum(__m512 v) {
  Floats16 a;
  std::memcpy(&a, &v, sizeof a);
  const Floats8 h = __builtin_shufflevector(a, a, 0, 1, 2, 3, 4, 5, 6, 7) +
                    __builtin_shufflevector(a, a, 8, 9, 10, 11, 12, 13, 14, 15);
  const Floats4 q = __builtin_shufflevector(h, h, 0, 1, 2, 3) + __builtin_shufflevector(h, h, 4, 5, 6, 7);
  return (q[0] + q[2]) + (q[1] + q[3]);
}


// y (2, C) of two rows for the 10 classes from c0: b + (sum_d w p) / 255, twenty named accumulators (an array of
// them GCC 12 keeps in memory, storing each after every multiply-add); each weight vector serves both rows.
LOGREG_BOUNDED_AVX512 inline void ten_classes(const BoundedPredictor& p, const float* bias, const std::uint8_t* row0,
                                              const std::uint8_t* row1, int c0, float* y0, float* y1) {
  const std::size_t Dp = static_cast<std::size_t>(p.Dp);
  const float* w = p.w.data() + static_cast<std::size_t>(c0) * Dp;
  __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0, a8 = a0, a9 = a0;
  __m512 b0 = a0, b1 = a0, b2 = a0, b3 = a0, b4 = a0, b5 = a0, b6 = a0, b7 = a0, b8 = a0, b9 = a0;
  for (int d = 0; d < p.D; d += kLanes) {
    const __m512 x = to_floats(load_bytes(row0, d, p.D));
    const __m512 z = to_floats(load_bytes(row1, d, p.D));
    const float* wd = w + d;
#define LOGREG_TWO_ROWS(K)                                   \
  {                                                          \
    const __m512 wk = _mm512_loadu_ps(wd + (K) * Dp);        \
    a##K = _mm512_fmadd_ps(wk, x, a##K);                     \
    b##K = _mm512_fmadd_ps(wk, z, b##K);                     \
  }
    LOGREG_TWO_ROWS(0) LOGREG_TWO_ROWS(1) LOGREG_TWO_ROWS(2) LOGREG_TWO_ROWS(3) LOGREG_TWO_ROWS(4)
    LOGREG_TWO_ROWS(5) LOGREG_TWO_ROWS(6) LOGREG_TWO_ROWS(7) LOGREG_TWO_ROWS(8) LOGREG_TWO_ROWS(9)
#undef LOGREG_TWO_ROWS
  }
  const __m512 a[10] = {a0, a1, a2, a3, a4, a5, a6, a7, a8, a9};
  const __m512 b[10] = {b0, b1, b2, b3, b4, b5, b6, b7, b8, b9};
  for (int k = 0; k < 10; ++k) {
    y0[c0 + k] = bias[c0 + k] + lane_sum(a[k]) / 255.0f;
    y1[c0 + k] = bias[c0 + k] + lane_sum(b[k]) / 255.0f;
  }
}

// The same for the one class c0.
LOGREG_BOUNDED_AVX512 inline void one_class(const BoundedPredictor& p, const float* bias, const std::uint8_t* row,
                                            int c0, float* y) {
  const float* w = p.w.data() + static_cast<std::size_t>(c0) * static_cast<std::size_t>(p.Dp);
  __m512 a = _mm512_setzero_ps();
  for (int d = 0; d < p.D; d += kLanes) a = _mm512_fmadd_ps(_mm512_loadu_ps(w + d), to_floats(load_bytes(row, d, p.D)), a);
  y[c0] = bias[c0] + lane_sum(a) / 255.0f;
}

__attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma"), flatten)) std::size_t predict_avx512(const BoundedPredictor& p, const Model& model, const ImageSet& images,
                                                 std::size_t r0, std::size_t r1, int* predicted) {
  const int C = p.C;
  std::vector<float> y(static_cast<std::size_t>(kRowBlock) * static_cast<std::size_t>(C));
  std::vector<float> z(static_cast<std::size_t>(C));
  std::size_t fallbacks = 0;
  for (std::size_t t = r0; t < r1; t += kRowBlock) {
    const int nr = static_cast<int>(std::min<std::size_t>(kRowBlock, r1 - t));
    // A lone last row is computed twice (as both rows), its second copy unused.
    const std::uint8_t* row0 = images.image(t);
    const std::uint8_t* row1 = images.image(t + (nr > 1 ? 1 : 0));
    float* y0 = y.data();
    float* y1 = y.data() + static_cast<std::size_t>(C);
    int c0 = 0;
    for (; c0 + kClassBlock <= C; c0 += kClassBlock) ten_classes(p, model.bias.data(), row0, row1, c0, y0, y1);
    for (; c0 < C; ++c0) {
      one_class(p, model.bias.data(), row0, c0, y0);
      one_class(p, model.bias.data(), row1, c0, y1);
    }
    for (int r = 0; r < nr; ++r) {
      const std::size_t i = t + static_cast<std::size_t>(r);
      int k = certain_argmax(y.data() + static_cast<std::size_t>(r) * C, p.bound.data(), C);
      if (k < 0) {  // within the bound: the reference's logits decide
        ++fallbacks;
        reference_logit_row(model, images.image(i), z.data());
        k = row_argmax(z.data(), C);
      }
      predicted[i] = k;
    }
  }
  return fallbacks;
}
#endif

}  // namespace

BoundedPredictor BoundedPredictor::of(const Model& model) {
  BoundedPredictor p;
  p.C = model.num_classes;
  p.D = model.input_dim;
  p.Dp = (p.D + kLanes - 1) / kLanes * kLanes;
  const bool finite = std::all_of(model.weights.begin(), model.weights.end(), [](float w) { return std::isfinite(w); }) &&
                      std::all_of(model.bias.begin(), model.bias.end(), [](float b) { return std::isfinite(b); });
#if defined(__x86_64__) && defined(__GNUC__)
  p.usable = finite && p.C > 0 && p.D > 0 && cpu_simd_supported(CpuSimd::kAvx512);
#else
  p.usable = false;
#endif
  if (!p.usable) return p;
  const std::size_t D = static_cast<std::size_t>(p.D), Dp = static_cast<std::size_t>(p.Dp);
  p.w.assign(static_cast<std::size_t>(p.C) * Dp, 0.0f);
  p.bound.resize(static_cast<std::size_t>(p.C));
  for (std::size_t c = 0; c < static_cast<std::size_t>(p.C); ++c) {
    const float* w = model.weights.data() + c * D;
    std::copy(w, w + D, p.w.begin() + static_cast<std::ptrdiff_t>(c * Dp));
    double a = std::fabs(static_cast<double>(model.bias[c]));
    for (std::size_t d = 0; d < D; ++d) a += std::fabs(static_cast<double>(w[d]));
    p.bound[c] = 1.25 * static_cast<double>(p.D + 32) * kUnitRoundoff * a * (1.0 + 1e-12);
  }
  return p;
}

std::size_t predict_rows_bounded(const BoundedPredictor& p, const Model& model, const ImageSet& images, std::size_t r0,
                                 std::size_t r1, int* predicted) {
#if defined(__x86_64__) && defined(__GNUC__)
  if (p.usable) return predict_avx512(p, model, images, r0, r1, predicted);
#endif
  // Not usable (the caller checks): the reference's logits for every row.
  std::vector<float> z(static_cast<std::size_t>(model.num_classes));
  for (std::size_t i = r0; i < r1; ++i) {
    reference_logit_row(model, images.image(i), z.data());
    predicted[i] = row_argmax(z.data(), model.num_classes);
  }
  return r1 - r0;
}

}  // namespace logreg::cpu
