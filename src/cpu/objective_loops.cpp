// objective_rows (objective_loops.hpp): tile by tile, dense double SIMD logits over the pixels (a block of rows
// times a block of classes in registers), the shared per-row loss, then the tile's weight gradient (a block of
// classes' gradient vectors in registers, the tile's rows added in order); and hessian_vector_rows, the same
// tiles over a direction instead of W. Compiled for three instruction sets; the block sizes at the end of the
// file are each one's register budget.
#include "objective_loops.hpp"

#include <algorithm>
#include <cstring>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#include "logreg/maths/objective_math.hpp"
#include "logreg/maths/step_bodies.hpp"

namespace logreg::cpu {
namespace {

constexpr int kTile = kObjectiveTileRows;
// W's columns per pass over the tile: 10 classes x 256 doubles (20 KiB) and the tile's 16 x 784 bytes in L1.
constexpr int kChunkPixels = 256;
constexpr int kMaxCk = (kernels::kMaxClasses + kObjectiveClassBlock - 1) / kObjectiveClassBlock * kObjectiveClassBlock;

// V doubles in one vector, and V int32 to widen pixels through.
template <int V>
struct Lanes {
  typedef double D __attribute__((vector_size(V * sizeof(double))));
  typedef std::int32_t I __attribute__((vector_size(V * sizeof(std::int32_t))));
};

// x = V pixels as doubles 0..255. Vectors by reference only: none crosses a call boundary by value (-Wpsabi:
// the clones' ABIs differ). GCC 12 scalarises __builtin_convertvector from uint8, hence the zero-extension
// intrinsics (vpmovzxbd), as in simd_loops.hpp; each wrapper below is `flatten`, so these inline into it.
template <int V>
void load_pixels(const std::uint8_t* p, typename Lanes<V>::D& x);

#if defined(__x86_64__) && defined(__GNUC__)
// The targets are the wrappers' own: GCC inlines only into a function of the same or a wider target string.
#define LOGREG_OBJECTIVE_AVX512 __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma"), flatten))
#define LOGREG_OBJECTIVE_AVX2 __attribute__((target("avx2,fma"), flatten))

template <>
LOGREG_OBJECTIVE_AVX512 inline void load_pixels<8>(const std::uint8_t* p, Lanes<8>::D& x) {
  // maskz with an all-ones mask is the plain vcvtdq2pd; the unmasked intrinsic draws -Wmaybe-uninitialized.
  const __m512d wide =
      _mm512_maskz_cvtepi32_pd(0xff, _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))));
  std::memcpy(&x, &wide, sizeof x);
}

template <>
LOGREG_OBJECTIVE_AVX2 inline void load_pixels<4>(const std::uint8_t* p, Lanes<4>::D& x) {
  std::int32_t four;
  std::memcpy(&four, p, sizeof four);
  const __m128i wide = _mm_cvtepu8_epi32(_mm_cvtsi32_si128(four));
  x = __builtin_convertvector((Lanes<4>::I)wide, Lanes<4>::D);
}
#endif

template <>
inline void load_pixels<2>(const std::uint8_t* p, Lanes<2>::D& x) {
  x = Lanes<2>::D{static_cast<double>(p[0]), static_cast<double>(p[1])};
}

// Makes the compiler load v into a register once, to be used by every row of a block: left alone, GCC folds
// the load into each row's multiply-add, one load per row, and the AVX-512 loop is bound by the load ports.
// (Other widths: the compiler's choice.)
template <int V>
inline void in_register(typename Lanes<V>::D& /*v*/) {}

#if defined(__x86_64__) && defined(__GNUC__)
template <>
LOGREG_OBJECTIVE_AVX512 inline void in_register<8>(Lanes<8>::D& v) {
  __asm__("" : "+v"(v));
}
#endif

template <int V>
inline double lane_sum(const typename Lanes<V>::D& v) {
  double s = v[0];
  for (int l = 1; l < V; ++l) s += v[l];
  return s;
}

// s (kTile, Ck) = tile (kTile, Dp) . wᵀ over rows [0, nt) rounded up to RB, in chunks of kChunkPixels pixels so
// that a chunk of W stays in L1 while every row of the tile passes over it: RB rows x KC classes of
// accumulators in registers, each pixel vector widened once per block of classes, each weight vector read
// once per block of rows; between chunks the accumulators wait in acc (kTile, Ck) vectors of V lanes.
template <int V, int RB, int KC>
inline void tile_logits(const std::uint8_t* tile, int nt, int Dp, const double* w, int Ck, double* acc_spill,
                        double* s) {
  using D = typename Lanes<V>::D;
  for (int d0 = 0; d0 < Dp; d0 += kChunkPixels) {
    const int d1 = std::min(Dp, d0 + kChunkPixels);
    for (int r0 = 0; r0 < nt; r0 += RB) {
      for (int c0 = 0; c0 < Ck; c0 += KC) {
        D acc[RB][KC];
        for (int rb = 0; rb < RB; ++rb) {
          for (int k = 0; k < KC; ++k) {
            if (d0 == 0) {
              acc[rb][k] = D{};
            } else {
              std::memcpy(&acc[rb][k], acc_spill + ((r0 + rb) * Ck + c0 + k) * V, sizeof(D));
            }
          }
        }
        for (int d = d0; d < d1; d += V) {
          D x[RB];
          for (int rb = 0; rb < RB; ++rb) load_pixels<V>(tile + static_cast<std::size_t>(r0 + rb) * Dp + d, x[rb]);
          for (int k = 0; k < KC; ++k) {
            D wv;
            std::memcpy(&wv, w + static_cast<std::size_t>(c0 + k) * Dp + d, sizeof wv);
            in_register<V>(wv);
            for (int rb = 0; rb < RB; ++rb) acc[rb][k] += x[rb] * wv;
          }
        }
        for (int rb = 0; rb < RB; ++rb) {
          for (int k = 0; k < KC; ++k) {
            if (d1 == Dp) {
              s[(r0 + rb) * Ck + c0 + k] = lane_sum<V>(acc[rb][k]);
            } else {
              std::memcpy(acc_spill + ((r0 + rb) * Ck + c0 + k) * V, &acc[rb][k], sizeof(D));
            }
          }
        }
      }
    }
  }
}

// g (Ck, Dp) += dzᵀ (Ck, kTile) . tile (kTile, Dp) over rows [0, nt) (rows past nt have dz 0 and zero pixels;
// classes past C have dz 0): KC gradient vectors in registers, read and written once per tile, each adding
// the tile's rows in order (KC independent chains of multiply-adds keep both FMA ports busy).
template <int V, int KC>
inline void tile_gradient(const std::uint8_t* tile, int nt, int Dp, const double* dz, int Ck, double* g) {
  using D = typename Lanes<V>::D;
  for (int d = 0; d < Dp; d += V) {
    for (int c0 = 0; c0 < Ck; c0 += KC) {
      D acc[KC];
      for (int k = 0; k < KC; ++k) std::memcpy(&acc[k], g + static_cast<std::size_t>(c0 + k) * Dp + d, sizeof(D));
      for (int r = 0; r < nt; ++r) {
        D x;
        load_pixels<V>(tile + static_cast<std::size_t>(r) * Dp + d, x);
        const double* dzr = dz + r * Ck + c0;
        for (int k = 0; k < KC; ++k) acc[k] += dzr[k] * x;
      }
      for (int k = 0; k < KC; ++k) std::memcpy(g + static_cast<std::size_t>(c0 + k) * Dp + d, &acc[k], sizeof(D));
    }
  }
}

// tile (kTile, Dp) = the pixels of rows[0, nt), zero past D and past row nt (a tile in L1 for both passes).
inline void copy_tile(const std::uint8_t* const* rows, int nt, int D, int Dp, std::uint8_t* tile) {
  for (int i = 0; i < kTile; ++i) {
    std::uint8_t* out = tile + static_cast<std::size_t>(i) * Dp;
    if (i < nt) {
      std::memcpy(out, rows[i], static_cast<std::size_t>(D));
      std::memset(out + D, 0, static_cast<std::size_t>(Dp - D));
    } else {
      std::memset(out, 0, static_cast<std::size_t>(Dp));
    }
  }
}

template <int V, int RB, int KC, int KB>
inline double rows_body(const std::uint8_t* const* rows, const std::uint8_t* labels, int r0, int r1, LossHead head,
                        const ObjectiveShape& shape, const double* w, const double* b, double inv_n, double* g,
                        double* gb, double* probs, const ObjectiveScratch& scratch) {
  static_assert(kTile % RB == 0, "blocks of rows tile the tile");
  static_assert(kObjectiveClassBlock % KC == 0 && kObjectiveClassBlock % KB == 0, "blocks of classes tile Ck");
  static_assert(kObjectivePixelLanes % V == 0, "pixel rows are padded to whole vectors");
  const int C = shape.C, Ck = shape.Ck, Dp = shape.Dp;
  double* s = scratch.sums;
  double* dz = scratch.dz;
  double z[kMaxCk];
  double loss = 0.0;
  for (int t = r0; t < r1; t += kTile) {
    const int nt = std::min(kTile, r1 - t);
    copy_tile(rows + t, nt, shape.D, Dp, scratch.tile);
    // The next tile's rows are read from L3 while this one is computed.
    for (int i = t + kTile; i < std::min(r1, t + 2 * kTile); ++i) {
      for (int d = 0; d < shape.D; d += 64) __builtin_prefetch(rows[i] + d);
    }
    tile_logits<V, RB, KC>(scratch.tile, nt, Dp, w, Ck, scratch.acc, s);
    for (int i = 0; i < nt; ++i) {
      for (int c = 0; c < C; ++c) z[c] = b[c] + s[i * Ck + c] / 255.0;
      double* dzi = dz + i * Ck;
      if (probs != nullptr) {
        loss += objective_row_probs<double>(z, C, labels[t + i], inv_n, dzi,
                                            probs + static_cast<std::size_t>(t + i) * static_cast<std::size_t>(C));
      } else {
        loss += objective_row<double>(head, z, C, labels[t + i], inv_n, dzi);
      }
      for (int c = 0; c < C; ++c) gb[c] += dzi[c];
    }
    for (int i = 0; i < kTile; ++i) {  // zero past the rows and past the classes
      for (int c = i < nt ? C : 0; c < Ck; ++c) dz[i * Ck + c] = 0.0;
    }
    tile_gradient<V, KB>(scratch.tile, nt, Dp, dz, Ck, g);
  }
  return loss;
}

// The same tiles as rows_body, with the direction v in place of W and the kept probabilities in place of the
// loss: u = v_b + (tile . vᵀ) / 255 per row, r = hessian_row(p, u), then the tile's r into g and gb.
template <int V, int RB, int KC, int KB>
inline void hessian_body(const std::uint8_t* const* rows, int r0, int r1, const ObjectiveShape& shape, const double* v,
                         const double* vb, const double* probs, double inv_n, double* g, double* gb,
                         const ObjectiveScratch& scratch) {
  const int C = shape.C, Ck = shape.Ck, Dp = shape.Dp;
  double* s = scratch.sums;
  double* r = scratch.dz;
  double u[kMaxCk];
  for (int t = r0; t < r1; t += kTile) {
    const int nt = std::min(kTile, r1 - t);
    copy_tile(rows + t, nt, shape.D, Dp, scratch.tile);
    for (int i = t + kTile; i < std::min(r1, t + 2 * kTile); ++i) {
      for (int d = 0; d < shape.D; d += 64) __builtin_prefetch(rows[i] + d);
    }
    tile_logits<V, RB, KC>(scratch.tile, nt, Dp, v, Ck, scratch.acc, s);
    for (int i = 0; i < nt; ++i) {
      for (int c = 0; c < C; ++c) u[c] = vb[c] + s[i * Ck + c] / 255.0;
      double* ri = r + i * Ck;
      hessian_row<double>(probs + static_cast<std::size_t>(t + i) * static_cast<std::size_t>(C), u, C, inv_n, ri);
      for (int c = 0; c < C; ++c) gb[c] += ri[c];
    }
    for (int i = 0; i < kTile; ++i) {  // zero past the rows and past the classes
      for (int c = i < nt ? C : 0; c < Ck; ++c) r[i * Ck + c] = 0.0;
    }
    tile_gradient<V, KB>(scratch.tile, nt, Dp, r, Ck, g);
  }
}

// Per instruction set: V doubles per vector; RB x KC logit accumulators and RB pixel vectors, then KB gradient
// vectors, in registers (32 vector registers with AVX-512, 16 below it).
#define LOGREG_OBJECTIVE_ROWS(SUFFIX, TARGET, V, RB, KC, KB)                                                           \
  TARGET double objective_rows_##SUFFIX(const std::uint8_t* const* rows, const std::uint8_t* labels, int r0, int r1,  \
                                        LossHead head, const ObjectiveShape& shape, const double* w, const double* b, \
                                        double inv_n, double* g, double* gb, double* probs,                          \
                                        const ObjectiveScratch& scratch) {                                           \
    return rows_body<V, RB, KC, KB>(rows, labels, r0, r1, head, shape, w, b, inv_n, g, gb, probs, scratch);           \
  }                                                                                                                    \
  TARGET void hessian_vector_rows_##SUFFIX(const std::uint8_t* const* rows, int r0, int r1,                           \
                                           const ObjectiveShape& shape, const double* v, const double* vb,            \
                                           const double* probs, double inv_n, double* g, double* gb,                 \
                                           const ObjectiveScratch& scratch) {                                        \
    hessian_body<V, RB, KC, KB>(rows, r0, r1, shape, v, vb, probs, inv_n, g, gb, scratch);                            \
  }

#if defined(__x86_64__) && defined(__GNUC__)
LOGREG_OBJECTIVE_ROWS(avx512, LOGREG_OBJECTIVE_AVX512, 8, 2, 10, 10)
LOGREG_OBJECTIVE_ROWS(avx2, LOGREG_OBJECTIVE_AVX2, 4, 2, 5, 10)
#endif
LOGREG_OBJECTIVE_ROWS(sse2, __attribute__((flatten)), 2, 2, 5, 10)

}  // namespace

double objective_rows(CpuSimd simd, const std::uint8_t* const* rows, const std::uint8_t* labels, int r0, int r1,
                      LossHead head, const ObjectiveShape& shape, const double* w, const double* b, double inv_n,
                      double* g, double* gb, double* probs, const ObjectiveScratch& scratch) {
  switch (simd) {
#if defined(__x86_64__) && defined(__GNUC__)
    case CpuSimd::kAvx512:
      return objective_rows_avx512(rows, labels, r0, r1, head, shape, w, b, inv_n, g, gb, probs, scratch);
    case CpuSimd::kAvx2:
      return objective_rows_avx2(rows, labels, r0, r1, head, shape, w, b, inv_n, g, gb, probs, scratch);
#endif
    default:
      return objective_rows_sse2(rows, labels, r0, r1, head, shape, w, b, inv_n, g, gb, probs, scratch);
  }
}

void hessian_vector_rows(CpuSimd simd, const std::uint8_t* const* rows, int r0, int r1, const ObjectiveShape& shape,
                         const double* v, const double* vb, const double* probs, double inv_n, double* g, double* gb,
                         const ObjectiveScratch& scratch) {
  switch (simd) {
#if defined(__x86_64__) && defined(__GNUC__)
    case CpuSimd::kAvx512:
      return hessian_vector_rows_avx512(rows, r0, r1, shape, v, vb, probs, inv_n, g, gb, scratch);
    case CpuSimd::kAvx2:
      return hessian_vector_rows_avx2(rows, r0, r1, shape, v, vb, probs, inv_n, g, gb, scratch);
#endif
    default:
      return hessian_vector_rows_sse2(rows, r0, r1, shape, v, vb, probs, inv_n, g, gb, scratch);
  }
}

}  // namespace logreg::cpu
