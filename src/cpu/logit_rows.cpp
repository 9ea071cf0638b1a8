// reference_logit_rows and fast_logit_rows (logit_rows.hpp). Built with -ffp-contract=off (CMakeLists.txt):
// a product rounded then added, as the reference does, on every instruction set.
#include "logit_rows.hpp"

#include <algorithm>
#include <array>
#include <cstring>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#include "logreg/maths/row_math.hpp"

namespace logreg::cpu {
namespace {

// double(pixel_to_unit<float>(p)) for every p, looked up rather than divided.
struct UnitTable {
  std::array<double, 256> v{};
  UnitTable() {
    for (int p = 0; p < 256; ++p) {
      v[static_cast<std::size_t>(p)] = static_cast<double>(pixel_to_unit<float>(static_cast<std::uint8_t>(p)));
    }
  }
};
const UnitTable kUnit;

constexpr int kClassBlock = 10;  // logit accumulators held in registers together

#define LOGREG_LOGITS_AVX512 __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma"), flatten))

template <int L>
struct RowLanes {
  typedef double D __attribute__((vector_size(L * sizeof(double))));
};

// Classes [c0, c0 + KC) of L rows whose nonzero pixel columns are cols[0, K) with their values xt (K, L):
// acc = b, then acc = acc + wt[d, c] * x[d] over those columns in d order.
template <int L, int KC>
inline void class_block(const double* wt, const double* xt, const std::uint16_t* cols, int K, const float* bias, int C,
                        int c0, int rows, float* out /* (rows, C) */) {
  using V = typename RowLanes<L>::D;
  V acc[KC];
  for (int k = 0; k < KC; ++k) {
    const double b = static_cast<double>(bias[c0 + k]);
    for (int l = 0; l < L; ++l) acc[k][l] = b;
  }
  for (int j = 0; j < K; ++j) {
    V x;
    std::memcpy(&x, xt + static_cast<std::size_t>(j) * L, sizeof x);
    const double* w = wt + static_cast<std::size_t>(cols[j]) * C + c0;
    for (int k = 0; k < KC; ++k) acc[k] = acc[k] + w[k] * x;
  }
  for (int k = 0; k < KC; ++k) {
    for (int l = 0; l < rows; ++l) out[static_cast<std::size_t>(l) * C + c0 + k] = static_cast<float>(acc[k][l]);
  }
}

// Column d of the L rows px: unless all L pixels are zero, its doubles go to xt[K] and d to cols[K]. Returns K.
template <int L>
inline int transpose_column(const std::uint8_t* const* px, int d, double* xt, std::uint16_t* cols, int K) {
  unsigned any = 0;
  for (int l = 0; l < L; ++l) any |= px[l][d];
  if (any == 0) return K;
  double* x = xt + static_cast<std::size_t>(K) * L;
  for (int l = 0; l < L; ++l) x[l] = kUnit.v[px[l][d]];
  cols[K] = static_cast<std::uint16_t>(d);
  return K + 1;
}

// Columns [d, d + 8) the same way.
template <int L>
inline int transpose_columns(const std::uint8_t* const* px, int d, double* xt, std::uint16_t* cols, int K) {
  for (int j = 0; j < 8; ++j) K = transpose_column<L>(px, d + j, xt, cols, K);
  return K;
}

#if defined(__x86_64__) && defined(__GNUC__)
// AVX-512 (the wrapper's own target, so that it inlines): the 8 rows' 8 bytes in the 64-bit lanes of one
// register, each column's bytes shifted down and looked up in kUnit by a gather.
template <>
LOGREG_LOGITS_AVX512 inline int transpose_columns<8>(const std::uint8_t* const* px, int d, double* xt,
                                                     std::uint16_t* cols, int K) {
  long long b[8];
  for (int l = 0; l < 8; ++l) std::memcpy(&b[l], px[l] + d, sizeof b[l]);
  const __m512i bytes = _mm512_loadu_si512(b);
  if (_mm512_test_epi64_mask(bytes, bytes) == 0) return K;
  const __m512i low = _mm512_set1_epi64(0xff);
  for (int j = 0; j < 8; ++j) {
    // A variable shift (vpsrlvq): the immediate form needs a constant count when not optimising. The masked
    // forms (all-ones mask, zero source) are the plain instructions; the unmasked intrinsics leave a source
    // undefined, which draws -Wmaybe-uninitialized.
    const __m512i index = _mm512_and_si512(_mm512_maskz_srlv_epi64(0xff, bytes, _mm512_set1_epi64(8 * j)), low);
    if (_mm512_test_epi64_mask(index, index) == 0) continue;
    const __m512d x = _mm512_mask_i64gather_pd(_mm512_setzero_pd(), 0xff, index, kUnit.v.data(), 8);
    _mm512_storeu_pd(xt + static_cast<std::size_t>(K) * 8, x);
    cols[K++] = static_cast<std::uint16_t>(d + j);
  }
  return K;
}
#endif

// The reference adds every pixel's product; a column of L zero pixels adds w * 0 = +-0 to each sum, which
// changes nothing unless the sum itself is zero (then only its sign). So the columns whose L pixels are all
// zero are skipped, and a row with a zero logit is recomputed by the reference: bit for bit its results.
// (The caller sends models with a non-finite weight, where w * 0 is NaN, to the reference.)
template <int L>
inline void rows_body(const Model& model, const double* wt, const ImageSet& images, std::size_t r0, std::size_t r1,
                      double* xt, std::uint16_t* cols, float* logits) {
  const int C = model.num_classes;
  const int D = model.input_dim;
  for (std::size_t t = r0; t < r1; t += L) {
    const int rows = static_cast<int>(std::min<std::size_t>(L, r1 - t));
    const std::uint8_t* px[L];
    for (int l = 0; l < L; ++l) px[l] = images.image(t + static_cast<std::size_t>(l < rows ? l : 0));
    // xt (K, L): the nonzero columns' pixels as the reference's doubles, one row per lane.
    int K = 0;
    int d = 0;
    for (; d + 8 <= D; d += 8) K = transpose_columns<L>(px, d, xt, cols, K);
    for (; d < D; ++d) K = transpose_column<L>(px, d, xt, cols, K);
    float* out = logits + t * static_cast<std::size_t>(C);
    int c0 = 0;
    for (; c0 + kClassBlock <= C; c0 += kClassBlock) {
      class_block<L, kClassBlock>(wt, xt, cols, K, model.bias.data(), C, c0, rows, out);
    }
    for (; c0 < C; ++c0) class_block<L, 1>(wt, xt, cols, K, model.bias.data(), C, c0, rows, out);
    for (int l = 0; l < rows; ++l) {
      const float* z = out + static_cast<std::size_t>(l) * C;
      if (std::find(z, z + C, 0.0f) != z + C) reference_logit_rows(model, images, t + l, t + l + 1, logits);
    }
  }
}

#define LOGREG_LOGIT_ROWS(SUFFIX, TARGET, L)                                                                         \
  TARGET void logit_rows_##SUFFIX(const Model& model, const double* wt, const ImageSet& images, std::size_t r0,    \
                                  std::size_t r1, double* xt, std::uint16_t* cols, float* logits) {                \
    rows_body<L>(model, wt, images, r0, r1, xt, cols, logits);                                                     \
  }

#if defined(__x86_64__) && defined(__GNUC__)
LOGREG_LOGIT_ROWS(avx512, LOGREG_LOGITS_AVX512, 8)
LOGREG_LOGIT_ROWS(avx2, __attribute__((target("avx2,fma"), flatten)), 4)
#endif
LOGREG_LOGIT_ROWS(sse2, __attribute__((flatten)), 2)

}  // namespace

void reference_logit_row(const Model& model, const std::uint8_t* px, float* z) {
  const std::size_t D = static_cast<std::size_t>(model.input_dim);
  const std::size_t C = static_cast<std::size_t>(model.num_classes);
  for (std::size_t c = 0; c < C; ++c) {
    z[c] = static_cast<float>(reference_logit(model.weights.data() + c * D, model.bias[c], D,
                                              [&](std::size_t d) { return kUnit.v[px[d]]; }));  // x_d, looked up
  }
}

void reference_logit_rows(const Model& model, const ImageSet& images, std::size_t r0, std::size_t r1, float* logits) {
  const std::size_t C = static_cast<std::size_t>(model.num_classes);
  for (std::size_t i = r0; i < r1; ++i) reference_logit_row(model, images.image(i), logits + i * C);
}

void fast_logit_rows(CpuSimd simd, const Model& model, const double* wt, const ImageSet& images, std::size_t r0,
                     std::size_t r1, double* xt, std::uint16_t* cols, float* logits) {
  switch (simd) {
#if defined(__x86_64__) && defined(__GNUC__)
    case CpuSimd::kAvx512:
      logit_rows_avx512(model, wt, images, r0, r1, xt, cols, logits);
      return;
    case CpuSimd::kAvx2:
      logit_rows_avx2(model, wt, images, r0, r1, xt, cols, logits);
      return;
#endif
    default:
      logit_rows_sse2(model, wt, images, r0, r1, xt, cols, logits);
  }
}

}  // namespace logreg::cpu
