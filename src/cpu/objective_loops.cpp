// objective_rows (objective_loops.hpp): per row, the logits over the nonzero pixels (a class vector per pixel,
// the weights transposed), the shared per-row loss and dz, then the gradient rows of the same pixels.
#include "objective_loops.hpp"

#include <array>
#include <cstring>
#include <vector>

#include "logreg/maths/objective_math.hpp"
#include "logreg/maths/step_bodies.hpp"

namespace logreg::cpu {
namespace {

// x = pixel_to_unit<double>(p) for every p, looked up rather than divided.
struct UnitTable {
  std::array<double, 256> v{};
  UnitTable() {
    for (int p = 0; p < 256; ++p) v[static_cast<std::size_t>(p)] = pixel_to_unit<double>(static_cast<std::uint8_t>(p));
  }
};
const UnitTable kUnit;

// 8 doubles (one AVX-512 register; two AVX2 or four SSE2 ones on the other targets).
typedef double Lane8 __attribute__((vector_size(8 * sizeof(double))));

// Vectors by reference only: none crosses a call boundary by value (-Wpsabi: the clones' ABIs differ).
inline void load8(const double* p, Lane8& v) { std::memcpy(&v, p, sizeof v); }
inline void store8(double* p, const Lane8& v) { std::memcpy(p, &v, sizeof v); }

// N floats in one vector (8: AVX2, 16: AVX-512; split on narrower targets).
template <int N>
struct FloatLanes {
  typedef float F __attribute__((vector_size(N * sizeof(float))));
};

// Rows whose weight gradient is summed in float before it is added into the double sums: float's relative
// error over a block (~1e-5 of the block's sum of |terms|) stays far below the solver's tolerances.
constexpr int kObjectiveFloatRows = 256;

// gwt += gwf, gwf = 0 (n values).
inline void flush_block(float* gwf, double* gwt, std::size_t n) {
  for (std::size_t j = 0; j < n; ++j) {
    gwt[j] += static_cast<double>(gwf[j]);
    gwf[j] = 0.0f;
  }
}

// G groups of 8 classes (Cp = 8 G) held in registers over a row's nonzero pixels.
template <int G>
__attribute__((always_inline)) inline double rows_body(const std::uint8_t* labels,
                                                       int r0, int r1, LossHead head, int C, int D, const double* wt,
                                                       const double* b, double inv_n, double* gwt, double* gb,
                                                       const SparseRows& sparse, float* gwf) {
  constexpr int Cp = 8 * G;
  using LaneF = typename FloatLanes<Cp>::F;
  double z[Cp];
  double dz[Cp];
  double loss = 0.0;
  for (int i = r0; i < r1; ++i) {
    // The row's nonzero pixels, as the caller listed them (SparseRows).
    const std::uint32_t* cols = sparse.cols + sparse.offsets[i];
    const std::uint8_t* pix = sparse.pixels + sparse.offsets[i];
    const int m = static_cast<int>(sparse.offsets[i + 1] - sparse.offsets[i]);
    // Alternate nonzero pixels in two accumulators (two add chains in flight), added at the end.
    Lane8 acc0[G], acc1[G];
    for (int g = 0; g < G; ++g) {
      load8(b + 8 * g, acc0[g]);
      acc1[g] = Lane8{};
    }
    int k = 0;
    for (; k + 1 < m; k += 2) {
      const double* w0 = wt + static_cast<std::size_t>(cols[k]) * Cp;
      const double* w1 = wt + static_cast<std::size_t>(cols[k + 1]) * Cp;
      for (int g = 0; g < G; ++g) {
        Lane8 v0, v1;
        load8(w0 + 8 * g, v0);
        load8(w1 + 8 * g, v1);
        acc0[g] += kUnit.v[pix[k]] * v0;
        acc1[g] += kUnit.v[pix[k + 1]] * v1;
      }
    }
    if (k < m) {
      const double* w0 = wt + static_cast<std::size_t>(cols[k]) * Cp;
      for (int g = 0; g < G; ++g) {
        Lane8 v0;
        load8(w0 + 8 * g, v0);
        acc0[g] += kUnit.v[pix[k]] * v0;
      }
    }
    for (int g = 0; g < G; ++g) store8(z + 8 * g, acc0[g] + acc1[g]);
    loss += objective_row<double>(head, z, C, labels[i], inv_n, dz);
    for (int c = C; c < Cp; ++c) dz[c] = 0.0;
    Lane8 dzv[G];
    for (int g = 0; g < G; ++g) {
      Lane8 bv;
      load8(dz + 8 * g, dzv[g]);
      load8(gb + 8 * g, bv);
      store8(gb + 8 * g, bv + dzv[g]);
    }
    // dW of the row into the block's float sums: one cache line per pixel for 16 classes, half the traffic
    // of doubles (the block is added into the double sums every kObjectiveFloatRows rows).
    LaneF dzf;
    for (int c = 0; c < Cp; ++c) dzf[c] = static_cast<float>(dz[c]);
    for (k = 0; k < m; ++k) {
      float* gw = gwf + static_cast<std::size_t>(cols[k]) * Cp;
      LaneF gv;
      std::memcpy(&gv, gw, sizeof gv);
      gv += static_cast<float>(kUnit.v[pix[k]]) * dzf;
      std::memcpy(gw, &gv, sizeof gv);
    }
    if ((i - r0 + 1) % kObjectiveFloatRows == 0 || i + 1 == r1) flush_block(gwf, gwt, static_cast<std::size_t>(D) * Cp);
  }
  return loss;
}

// Any Cp (a multiple of 8, up to 256 classes + padding): the class loop in memory.
__attribute__((always_inline)) inline double rows_body_any(const std::uint8_t* const* rows, const std::uint8_t* labels,
                                                           int r0, int r1, LossHead head, int C, int Cp, int D,
                                                           const double* wt, const double* b, double inv_n,
                                                           double* gwt, double* gb) {
  double z[kernels::kMaxClasses + kObjectiveClassLanes];
  double dz[kernels::kMaxClasses + kObjectiveClassLanes];
  double loss = 0.0;
  for (int i = r0; i < r1; ++i) {
    const std::uint8_t* px = rows[i];
    std::memcpy(z, b, static_cast<std::size_t>(Cp) * sizeof(double));
    for (int d = 0; d < D; ++d) {
      if (px[d] == 0) continue;
      const double x = kUnit.v[px[d]];
      const double* w = wt + static_cast<std::size_t>(d) * static_cast<std::size_t>(Cp);
      for (int c = 0; c < Cp; ++c) z[c] += x * w[c];
    }
    loss += objective_row<double>(head, z, C, labels[i], inv_n, dz);
    for (int c = C; c < Cp; ++c) dz[c] = 0.0;
    for (int c = 0; c < Cp; ++c) gb[c] += dz[c];
    for (int d = 0; d < D; ++d) {
      if (px[d] == 0) continue;
      const double x = kUnit.v[px[d]];
      double* gw = gwt + static_cast<std::size_t>(d) * static_cast<std::size_t>(Cp);
      for (int c = 0; c < Cp; ++c) gw[c] += x * dz[c];
    }
  }
  return loss;
}

}  // namespace

// Built with -ffp-contract=off (CMakeLists.txt): every target gives the same doubles (the baseline has no FMA).
__attribute__((target_clones("avx512f", "avx2", "default")))
double objective_rows(const std::uint8_t* const* rows, const SparseRows* sparse, const std::uint8_t* labels, int r0,
                      int r1, LossHead head, int C, int Cp, int D, const double* wt, const double* b, double inv_n,
                      double* gwt, double* gb) {
  std::vector<float> gwf(static_cast<std::size_t>(D) * static_cast<std::size_t>(Cp), 0.0f);
  if (Cp == 8) {
    return rows_body<1>(labels, r0, r1, head, C, D, wt, b, inv_n, gwt, gb, *sparse, gwf.data());
  }
  if (Cp == 16) {
    return rows_body<2>(labels, r0, r1, head, C, D, wt, b, inv_n, gwt, gb, *sparse, gwf.data());
  }
  return rows_body_any(rows, labels, r0, r1, head, C, Cp, D, wt, b, inv_n, gwt, gb);
}

}  // namespace logreg::cpu
