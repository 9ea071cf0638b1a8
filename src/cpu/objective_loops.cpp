// objective_rows (objective_loops.hpp): per row, the logits over the nonzero pixels (a class vector per pixel,
// the weights transposed), the shared per-row loss and dz, then the gradient rows of the same pixels.
#include "objective_loops.hpp"

#include <array>
#include <cstring>

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

// G groups of 8 classes (Cp = 8 G) held in registers over a row's pixels.
template <int G>
__attribute__((always_inline)) inline double rows_body(const std::uint8_t* const* rows, const std::uint8_t* labels,
                                                       int r0, int r1, LossHead head, int C, int D, const double* wt,
                                                       const double* b, double inv_n, double* gwt, double* gb) {
  constexpr int Cp = 8 * G;
  double z[Cp];
  double dz[Cp];
  double loss = 0.0;
  for (int i = r0; i < r1; ++i) {
    const std::uint8_t* px = rows[i];
    // Even and odd pixels in two accumulators (two add chains in flight), added at the end.
    Lane8 acc[2][G];
    for (int g = 0; g < G; ++g) {
      load8(b + 8 * g, acc[0][g]);
      acc[1][g] = Lane8{};
    }
    for (int d = 0; d < D; ++d) {
      if (px[d] == 0) continue;
      const double x = kUnit.v[px[d]];
      const double* w = wt + static_cast<std::size_t>(d) * Cp;
      for (int g = 0; g < G; ++g) {
        Lane8 wv;
        load8(w + 8 * g, wv);
        acc[d & 1][g] += x * wv;
      }
    }
    for (int g = 0; g < G; ++g) store8(z + 8 * g, acc[0][g] + acc[1][g]);
    loss += objective_row<double>(head, z, C, labels[i], inv_n, dz);
    for (int c = C; c < Cp; ++c) dz[c] = 0.0;
    Lane8 dzv[G];
    for (int g = 0; g < G; ++g) {
      Lane8 bv;
      load8(dz + 8 * g, dzv[g]);
      load8(gb + 8 * g, bv);
      store8(gb + 8 * g, bv + dzv[g]);
    }
    for (int d = 0; d < D; ++d) {
      if (px[d] == 0) continue;
      const double x = kUnit.v[px[d]];
      double* gw = gwt + static_cast<std::size_t>(d) * Cp;
      for (int g = 0; g < G; ++g) {
        Lane8 gv;
        load8(gw + 8 * g, gv);
        store8(gw + 8 * g, gv + x * dzv[g]);
      }
    }
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
double objective_rows(const std::uint8_t* const* rows, const std::uint8_t* labels, int r0, int r1, LossHead head,
                      int C, int Cp, int D, const double* wt, const double* b, double inv_n, double* gwt, double* gb) {
  if (Cp == 8) return rows_body<1>(rows, labels, r0, r1, head, C, D, wt, b, inv_n, gwt, gb);
  if (Cp == 16) return rows_body<2>(rows, labels, r0, r1, head, C, D, wt, b, inv_n, gwt, gb);
  return rows_body_any(rows, labels, r0, r1, head, C, Cp, D, wt, b, inv_n, gwt, gb);
}

}  // namespace logreg::cpu
