// objective_rows (objective_loops.hpp): one tile loop (rows_body) for every row layout. Dense layouts: dense
// double SIMD logits over the tile's values (a block of rows times a block of classes in registers), then the
// tile's weight gradient (a block of classes' gradient vectors in registers, the tile's rows added in order);
// CSR: each row's nonzeros gathered from and scattered into W transposed, C classes at a time. Between them the
// shared per-row loss. hessian_vector_rows: the same tiles over a direction instead of W. Compiled for three
// instruction sets; the block sizes at the end of the file are each one's register budget.
#include "objective_loops.hpp"

#include <algorithm>
#include <cstring>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#include "logreg/maths/objective_math.hpp"
#include "logreg/maths/step_bodies.hpp"
#include "csr_columns.hpp"

namespace logreg::cpu {
namespace {

constexpr int kTile = kObjectiveTileRows;
// W's columns per pass over the tile: at most kChunkBytes of W (10 classes x 392 doubles for 784 pixels), to stay
// in L1 while the tile's rows pass over it two at a time; the pixels cut into equal chunks of whole vectors, so
// that no short last chunk pays the accumulators' spill and reload for a few vectors.
constexpr int kChunkBytes = 32 * 1024;
inline int chunk_pixels(int Dp, int Ck, int V) {
  const int most = std::max(V, kChunkBytes / (Ck * static_cast<int>(sizeof(double))) / V * V);
  const int chunks = (Dp + most - 1) / most;
  return ((Dp + chunks - 1) / chunks + V - 1) / V * V;
}
constexpr int kMaxCk = (kernels::kMaxClasses + kObjectiveClassBlock - 1) / kObjectiveClassBlock * kObjectiveClassBlock;

// V doubles in one vector, V int32 to widen pixels through, V floats to widen float32 values from.
template <int V>
struct Lanes {
  typedef double D __attribute__((vector_size(V * sizeof(double))));
  typedef std::int32_t I __attribute__((vector_size(V * sizeof(std::int32_t))));
  typedef float F __attribute__((vector_size(V * sizeof(float))));
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

// x = V dense values of a tile as doubles: pixels through load_pixels, float32 widened, float64 as they are.
template <int V>
inline void load_values(const std::uint8_t* p, typename Lanes<V>::D& x) {
  load_pixels<V>(p, x);
}
template <int V>
inline void load_values(const float* p, typename Lanes<V>::D& x) {
  typename Lanes<V>::F f;
  std::memcpy(&f, p, sizeof f);
  x = __builtin_convertvector(f, typename Lanes<V>::D);
}
template <int V>
inline void load_values(const double* p, typename Lanes<V>::D& x) {
  std::memcpy(&x, p, sizeof x);
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

// e (C) = exp(z - m) for one softmax row: softmax_row_exps (the maths' exp), or with AVX-512 eight at a time.
template <int V>
inline void row_exps(const double* z, double m, int C, double* e) {
  softmax_row_exps(z, m, C, e);
}

#if defined(__x86_64__) && defined(__GNUC__)
// exp(x) of eight x <= 0, within about 1 ulp of the correctly rounded value: x = k ln 2 + r with |r| <= ln 2 / 2
// (ln 2 in two parts, so that k ln 2 is exact), exp(r) by its Taylor series to r^13 (the next term is below
// 1e-17 of it), times 2^k by vscalefpd, which goes down through the subnormals to 0 exactly.
LOGREG_OBJECTIVE_AVX512 inline __m512d exp_nonpositive(__m512d x) {
  // The maskz forms with all lanes set: the plain ones draw GCC 12's -Wmaybe-uninitialized (as in load_pixels).
  x = _mm512_maskz_max_pd(0xff, x, _mm512_set1_pd(-1000.0));  // exp(-1000) is 0 in double: keeps k ln 2 exact
  const __m512d k = _mm512_maskz_roundscale_pd(0xff, _mm512_mul_pd(x, _mm512_set1_pd(1.4426950408889634074)),
                                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512d r = _mm512_fnmadd_pd(k, _mm512_set1_pd(6.93147180369123816490e-01), x);
  r = _mm512_fnmadd_pd(k, _mm512_set1_pd(1.90821492927058770002e-10), r);
  static constexpr double kInverseFactorials[14] = {
      1.0, 1.0, 1.0 / 2, 1.0 / 6, 1.0 / 24, 1.0 / 120, 1.0 / 720, 1.0 / 5040, 1.0 / 40320, 1.0 / 362880,
      1.0 / 3628800, 1.0 / 39916800, 1.0 / 479001600, 1.0 / 6227020800};
  __m512d p = _mm512_set1_pd(kInverseFactorials[13]);
  for (int j = 12; j >= 0; --j) p = _mm512_fmadd_pd(p, r, _mm512_set1_pd(kInverseFactorials[j]));
  return _mm512_maskz_scalef_pd(0xff, p, k);
}

template <>
LOGREG_OBJECTIVE_AVX512 inline void row_exps<8>(const double* z, double m, int C, double* e) {
  const __m512d mv = _mm512_set1_pd(m);
  for (int c = 0; c < C; c += 8) {
    const __mmask8 lanes = static_cast<__mmask8>(C - c >= 8 ? 0xff : (1u << (C - c)) - 1u);
    const __m512d x = _mm512_sub_pd(_mm512_maskz_loadu_pd(lanes, z + c), mv);
    _mm512_mask_storeu_pd(e + c, lanes, exp_nonpositive(x));
  }
}
#endif

template <int V>
inline double lane_sum(const typename Lanes<V>::D& v) {
  double s = v[0];
  for (int l = 1; l < V; ++l) s += v[l];
  return s;
}

// s (kTile, Ck) = tile (kTile, Dp) . wᵀ over rows [0, nt) rounded up to RB, in chunks of chunk_pixels so
// that a chunk of W stays in L1 while every row of the tile passes over it: RB rows x KC classes of
// accumulators in registers, each pixel vector widened once per block of classes, each weight vector read
// once per block of rows; between chunks the accumulators wait in acc (kTile, Ck) vectors of V lanes.
template <int V, int RB, int KC, class E>
inline void tile_logits(const E* tile, int nt, int Dp, const double* w, int Ck, double* acc_spill,
                        double* s) {
  using D = typename Lanes<V>::D;
  const int chunk = chunk_pixels(Dp, Ck, V);
  for (int d0 = 0; d0 < Dp; d0 += chunk) {
    const int d1 = std::min(Dp, d0 + chunk);
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
          for (int rb = 0; rb < RB; ++rb) load_values<V>(tile + static_cast<std::size_t>(r0 + rb) * Dp + d, x[rb]);
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
template <int V, int KC, class E>
inline void tile_gradient(const E* tile, int nt, int Dp, const double* dz, int Ck, double* g) {
  using D = typename Lanes<V>::D;
  for (int d = 0; d < Dp; d += V) {
    for (int c0 = 0; c0 < Ck; c0 += KC) {
      D acc[KC];
      for (int k = 0; k < KC; ++k) std::memcpy(&acc[k], g + static_cast<std::size_t>(c0 + k) * Dp + d, sizeof(D));
      for (int r = 0; r < nt; ++r) {
        D x;
        load_values<V>(tile + static_cast<std::size_t>(r) * Dp + d, x);
        const double* dzr = dz + r * Ck + c0;
        for (int k = 0; k < KC; ++k) acc[k] += dzr[k] * x;
      }
      for (int k = 0; k < KC; ++k) std::memcpy(g + static_cast<std::size_t>(c0 + k) * Dp + d, &acc[k], sizeof(D));
    }
  }
}

// Dense rows of E (uint8 pixels, float, double): each tile read where it is when its rows lie one after another
// unpadded (a whole tile of rows of Dp values), else copied into a zero-padded (kTile, Dp) tile of E; summed
// densely against W (Ck, Dp). Pixel sums are of values 0..255 and scaled by 1 / 255 once per logit.
template <class E>
struct DenseRows {
  const E* const* rows;  // (n) rows of D values
  static constexpr bool kPixels = sizeof(E) == 1;

  static double logit(double b, double s) { return kPixels ? b + s / 255.0 : b + s; }
  // The tile (kTile, Dp) of rows [t, t + nt), zero past D and past row nt: the rows themselves or the scratch
  // tile; the next tile's rows prefetched.
  const void* load_tile(int t, int nt, int r1, const ObjectiveShape& shape, const ObjectiveScratch& scratch) const {
    prefetch_next(t, r1, shape);
    const std::size_t D = static_cast<std::size_t>(shape.D), Dp = static_cast<std::size_t>(shape.Dp);
    if (nt == kTile && D == Dp) {
      bool in_place = true;
      for (int i = 1; i < kTile; ++i) in_place = in_place && rows[t + i] == rows[t] + static_cast<std::size_t>(i) * D;
      if (in_place) return rows[t];
    }
    E* tile = reinterpret_cast<E*>(scratch.tile);
    for (int i = 0; i < kTile; ++i) {
      E* out = tile + static_cast<std::size_t>(i) * Dp;
      if (i < nt) {
        std::memcpy(out, rows[t + i], D * sizeof(E));
        std::memset(out + D, 0, (Dp - D) * sizeof(E));
      } else {
        std::memset(out, 0, Dp * sizeof(E));
      }
    }
    return tile;
  }
  // The next tile's rows are read from L3 while this one is computed.
  void prefetch_next(int t, int r1, const ObjectiveShape& shape) const {
    const std::size_t D = static_cast<std::size_t>(shape.D);
    for (int i = t + kTile; i < std::min(r1, t + 2 * kTile); ++i) {
      for (std::size_t d = 0; d < D; d += 64 / sizeof(E)) __builtin_prefetch(rows[i] + d);
    }
  }
  template <int V, int RB, int KC>
  void logits(int /*t*/, int nt, const ObjectiveShape& shape, const double* w, const void* tile,
              const ObjectiveScratch& scratch, double* s) const {
    tile_logits<V, RB, KC>(static_cast<const E*>(tile), nt, shape.Dp, w, shape.Ck, scratch.acc, s);
  }
  template <int V, int KB>
  void gradient(int /*t*/, int nt, const ObjectiveShape& shape, const double* dz, const void* tile, double* g) const {
    tile_gradient<V, KB>(static_cast<const E*>(tile), nt, shape.Dp, dz, shape.Ck, g);
  }
};

// Entries ahead whose Ck doubles (a row of W, or a row's dz) CSR loops fetch while they add the current one:
// the rows are read at random, each a likely cache miss.
constexpr std::uint64_t kCsrAhead = 24;
inline void prefetch_classes(const double* row, std::size_t Ck) {
  __builtin_prefetch(row);
  __builtin_prefetch(row + Ck - 1);
}

// CSR rows: each row's nonzeros in column order, each a gather of W's row (D, Ck) for the logits; the Ck classes
// of a column are contiguous, so each is one short vector loop. Their dz rows are kept for csr_columns_body.
struct CsrRows {
  const std::uint64_t* start;  // (n + 1)
  const std::uint32_t* index;  // (nnz)
  const double* values;        // (nnz)

  static double logit(double b, double s) { return b + s; }
  const void* load_tile(int, int, int, const ObjectiveShape&, const ObjectiveScratch&) const { return nullptr; }
  template <int V, int RB, int KC>
  void logits(int t, int nt, const ObjectiveShape& shape, const double* w, const void*, const ObjectiveScratch&,
              double* s) const {
    const std::size_t Ck = static_cast<std::size_t>(shape.Ck);
    const std::uint64_t tile_end = start[t + nt];
    for (int i = 0; i < nt; ++i) {
      double* si = s + static_cast<std::size_t>(i) * Ck;
      for (std::size_t c = 0; c < Ck; ++c) si[c] = 0.0;
      for (std::uint64_t k = start[t + i]; k < start[t + i + 1]; ++k) {
        if (k + kCsrAhead < tile_end) prefetch_classes(w + static_cast<std::size_t>(index[k + kCsrAhead]) * Ck, Ck);
        const double* wk = w + static_cast<std::size_t>(index[k]) * Ck;
        const double x = values[k];
        for (std::size_t c = 0; c < Ck; ++c) si[c] += x * wk[c];
      }
    }
  }
  // The tile's dz rows kept at g + row * Ck; csr_columns_body sums them into the gradient column by column.
  template <int V, int KB>
  void gradient(int t, int nt, const ObjectiveShape& shape, const double* dz, const void*, double* g) const {
    const std::size_t Ck = static_cast<std::size_t>(shape.Ck);
    std::memcpy(g + static_cast<std::size_t>(t) * Ck, dz, static_cast<std::size_t>(nt) * Ck * sizeof(double));
  }
};

// g[c, d] for columns [d0, d1) from the rows' dz (cols.slot): per column, each part's entries summed in row
// order from 0, then the parts' sums added in part order (a part without entries adds +0, which changes no sum:
// a part's sum, from +0 up, is never -0).
inline void csr_columns_body(const CsrColumns& cols, int d0, int d1, const ObjectiveShape& shape, const double* dz,
                             double* g) {
  const std::size_t Ck = static_cast<std::size_t>(shape.Ck), C = static_cast<std::size_t>(shape.C);
  const std::size_t D = static_cast<std::size_t>(shape.D);
  const std::uint64_t part_rows = static_cast<std::uint64_t>(cols.part_rows);
  double total[kMaxCk], sum[kMaxCk];
  for (int d = d0; d < d1; ++d) {
    std::uint64_t k = cols.col_start[static_cast<std::size_t>(d)];
    const std::uint64_t end = cols.col_start[static_cast<std::size_t>(d) + 1];
    for (std::size_t c = 0; c < Ck; ++c) total[c] = 0.0;
    for (bool first = true; k < end; first = false) {
      const std::uint64_t part_end = (cols.slot[k] / part_rows + 1) * part_rows;
      for (std::size_t c = 0; c < Ck; ++c) sum[c] = 0.0;
      for (; k < end && cols.slot[k] < part_end; ++k) {
        if (k + kCsrAhead < cols.slot.size()) {
          prefetch_classes(dz + static_cast<std::size_t>(cols.slot[k + kCsrAhead]) * Ck, Ck);
        }
        const double* dzk = dz + static_cast<std::size_t>(cols.slot[k]) * Ck;
        const double x = cols.value[k];
        for (std::size_t c = 0; c < Ck; ++c) sum[c] += dzk[c] * x;
      }
      for (std::size_t c = 0; c < Ck; ++c) total[c] = first ? sum[c] : total[c] + sum[c];
    }
    for (std::size_t c = 0; c < C; ++c) g[c * D + static_cast<std::size_t>(d)] = total[c];
  }
}

// The tiles of rows [r0, r1) of any layout (Rows: DenseRows<E> or CsrRows) against the (Ck, Dp) matrix m and
// the C offsets m_b: per tile, each row's z = m_b + x . mᵀ, row_out(row, z, out) writing the row's C outputs
// (out, of Ck), summed into gb; then the tile's outputs times its rows into g (the classes past C and the rows
// past the tile at 0).
template <int V, int RB, int KC, int KB, class Rows, class RowOut>
inline void tile_pass(const Rows& layout, int r0, int r1, const ObjectiveShape& shape, const double* m,
                      const double* m_b, double* g, double* gb, const ObjectiveScratch& scratch, RowOut&& row_out) {
  static_assert(kTile % RB == 0, "blocks of rows tile the tile");
  static_assert(kObjectiveClassBlock % KC == 0 && kObjectiveClassBlock % KB == 0, "blocks of classes tile Ck");
  static_assert(kObjectivePixelLanes % V == 0, "dense rows are padded to whole vectors");
  const int C = shape.C, Ck = shape.Ck;
  double* s = scratch.sums;
  double* out = scratch.dz;
  double z[kMaxCk];
  for (int t = r0; t < r1; t += kTile) {
    const int nt = std::min(kTile, r1 - t);
    const void* tile = layout.load_tile(t, nt, r1, shape, scratch);
    layout.template logits<V, RB, KC>(t, nt, shape, m, tile, scratch, s);
    for (int i = 0; i < nt; ++i) {
      for (int c = 0; c < C; ++c) z[c] = Rows::logit(m_b[c], s[i * Ck + c]);
      double* oi = out + i * Ck;
      row_out(t + i, z, oi);
      for (int c = 0; c < C; ++c) gb[c] += oi[c];
    }
    for (int i = 0; i < kTile; ++i) {  // zero past the rows and past the classes
      for (int c = i < nt ? C : 0; c < Ck; ++c) out[i * Ck + c] = 0.0;
    }
    layout.template gradient<V, KB>(t, nt, shape, out, tile, g);
  }
}

// A row's share of the objective: its weight a_i / S (1 / S unweighted).
inline double row_scale(const ObjectiveRows& rows, int row) {
  return rows.weights != nullptr ? rows.weights[row] * rows.inv_total : rows.inv_total;
}

// The fused pass over rows [r0, r1), objective_loops.hpp: the rows' dz = objective_row's gradient into g and gb,
// their loss returned.
template <int V, int RB, int KC, int KB, class Rows>
inline double rows_body(const Rows& layout, const ObjectiveRows& rows, int r0, int r1, LossHead head,
                        const ObjectiveShape& shape, const double* w, const double* b, double* g, double* gb,
                        double* probs, const ObjectiveScratch& scratch) {
  const int C = shape.C;
  double loss = 0.0;
  const double* weights = rows.weights;
  tile_pass<V, RB, KC, KB>(layout, r0, r1, shape, w, b, g, gb, scratch, [&](int row, const double* z, double* dz) {
    const double scale = row_scale(rows, row);
    double row_loss;
    if (head == LossHead::kSoftmax) {  // its exponentials V at a time (row_exps)
      const double zmax = row_max(z, C);
      row_exps<V>(z, zmax, C, dz);
      double* p = probs != nullptr ? probs + static_cast<std::size_t>(row - r0) * static_cast<std::size_t>(C)
                                   : nullptr;  // row r0's first
      row_loss = softmax_row_from_exps<double>(z, zmax, C, rows.labels[row], scale, dz, p);
    } else {
      row_loss = objective_row<double>(head, z, C, rows.labels[row], scale, dz);
    }
    loss += weights != nullptr ? weights[row] * row_loss : row_loss;
  });
  return loss;
}

// The same tiles as rows_body, with the direction v in place of W and the kept probabilities in place of the
// loss: u = v_b + (x . vᵀ) per row, r = hessian_row(p, u, a_i / S), then the tile's r into g and gb.
template <int V, int RB, int KC, int KB, class Rows>
inline void hessian_body(const Rows& layout, const ObjectiveRows& rows, int r0, int r1, const ObjectiveShape& shape,
                         const double* v, const double* vb, const double* probs, double* g, double* gb,
                         const ObjectiveScratch& scratch) {
  const int C = shape.C;
  tile_pass<V, RB, KC, KB>(layout, r0, r1, shape, v, vb, g, gb, scratch, [&](int row, const double* u, double* r) {
    hessian_row<double>(probs + static_cast<std::size_t>(row - r0) * static_cast<std::size_t>(C), u, C,
                        row_scale(rows, row), r);
  });
}

// Calls body(layout) with the layout type of `rows`.
template <class Body>
inline auto with_layout(const ObjectiveRows& rows, Body&& body) {
  switch (rows.layout) {
    case RowLayout::kFloat32:
      return body(DenseRows<float>{rows.f32});
    case RowLayout::kFloat64:
      return body(DenseRows<double>{rows.f64});
    case RowLayout::kCsr:
      return body(CsrRows{rows.csr_start, rows.csr_index, rows.csr_values});
    case RowLayout::kPixels:
    default:
      return body(DenseRows<std::uint8_t>{rows.pixels});
  }
}

// Per instruction set: V doubles per vector; RB x KC logit accumulators and RB pixel vectors, then KB gradient
// vectors, in registers (32 vector registers with AVX-512, 16 below it).
#define LOGREG_OBJECTIVE_ROWS(SUFFIX, TARGET, V, RB, KC, KB)                                                           \
  TARGET double objective_rows_##SUFFIX(const ObjectiveRows& rows, int r0, int r1, LossHead head,                    \
                                        const ObjectiveShape& shape, const double* w, const double* b, double* g,    \
                                        double* gb, double* probs, const ObjectiveScratch& scratch) {                \
    return with_layout(rows, [&](const auto& layout) {                                                               \
      return rows_body<V, RB, KC, KB>(layout, rows, r0, r1, head, shape, w, b, g, gb, probs, scratch);              \
    });                                                                                                              \
  }                                                                                                                  \
  TARGET void hessian_vector_rows_##SUFFIX(const ObjectiveRows& rows, int r0, int r1, const ObjectiveShape& shape,   \
                                           const double* v, const double* vb, const double* probs, double* g,        \
                                           double* gb, const ObjectiveScratch& scratch) {                            \
    with_layout(rows, [&](const auto& layout) {                                                                      \
      hessian_body<V, RB, KC, KB>(layout, rows, r0, r1, shape, v, vb, probs, g, gb, scratch);                       \
    });                                                                                                              \
  }                                                                                                                  \
  TARGET void csr_gradient_columns_##SUFFIX(const CsrColumns& cols, int d0, int d1, const ObjectiveShape& shape,     \
                                            const double* dz, double* g) {                                           \
    csr_columns_body(cols, d0, d1, shape, dz, g);                                                                    \
  }

#if defined(__x86_64__) && defined(__GNUC__)
LOGREG_OBJECTIVE_ROWS(avx512, LOGREG_OBJECTIVE_AVX512, 8, 2, 10, 10)
LOGREG_OBJECTIVE_ROWS(avx2, LOGREG_OBJECTIVE_AVX2, 4, 2, 5, 10)
#endif
LOGREG_OBJECTIVE_ROWS(sse2, __attribute__((flatten)), 2, 2, 5, 10)

}  // namespace

double objective_rows(CpuSimd simd, const ObjectiveRows& rows, int r0, int r1, LossHead head,
                      const ObjectiveShape& shape, const double* w, const double* b, double* g, double* gb,
                      double* probs, const ObjectiveScratch& scratch) {
  switch (simd) {
#if defined(__x86_64__) && defined(__GNUC__)
    case CpuSimd::kAvx512:
      return objective_rows_avx512(rows, r0, r1, head, shape, w, b, g, gb, probs, scratch);
    case CpuSimd::kAvx2:
      return objective_rows_avx2(rows, r0, r1, head, shape, w, b, g, gb, probs, scratch);
#endif
    default:
      return objective_rows_sse2(rows, r0, r1, head, shape, w, b, g, gb, probs, scratch);
  }
}

void hessian_vector_rows(CpuSimd simd, const ObjectiveRows& rows, int r0, int r1, const ObjectiveShape& shape,
                         const double* v, const double* vb, const double* probs, double* g, double* gb,
                         const ObjectiveScratch& scratch) {
  switch (simd) {
#if defined(__x86_64__) && defined(__GNUC__)
    case CpuSimd::kAvx512:
      return hessian_vector_rows_avx512(rows, r0, r1, shape, v, vb, probs, g, gb, scratch);
    case CpuSimd::kAvx2:
      return hessian_vector_rows_avx2(rows, r0, r1, shape, v, vb, probs, g, gb, scratch);
#endif
    default:
      return hessian_vector_rows_sse2(rows, r0, r1, shape, v, vb, probs, g, gb, scratch);
  }
}

void csr_gradient_columns(CpuSimd simd, const CsrColumns& cols, int d0, int d1, const ObjectiveShape& shape,
                          const double* dz, double* g) {
  switch (simd) {
#if defined(__x86_64__) && defined(__GNUC__)
    case CpuSimd::kAvx512:
      return csr_gradient_columns_avx512(cols, d0, d1, shape, dz, g);
    case CpuSimd::kAvx2:
      return csr_gradient_columns_avx2(cols, d0, d1, shape, dz, g);
#endif
    default:
      return csr_gradient_columns_sse2(cols, d0, d1, shape, dz, g);
  }
}

}  // namespace logreg::cpu
