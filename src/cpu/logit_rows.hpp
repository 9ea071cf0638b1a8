// Logits of rows for inference (evaluation.hpp's compute_logits and evaluate_model): the reference definition
// of each logit, bit for bit, computed with SIMD across rows. Not here: loss, argmax, the confusion matrix and
// how the rows are shared out (evaluation.cpp).
#pragma once

#include <cstddef>
#include <cstdint>

#include "logreg/cpu_fast.hpp"
#include "logreg/dataset.hpp"
#include "logreg/model.hpp"

namespace logreg::cpu {

// The reference definition of a logit, which every path below gives bit for bit:
//   z[i, c] = float( double(b_c) + sum_d double(w[c, d]) * double(x_d) ),   x_d = pixel_to_unit<float>(p_d),
// summed in double over d = 0, 1, ..., D-1 in order, each product rounded then added (no FMA).
// One class's sum, for rows of pixels here and for the reference SGD backend's float rows (cpu_reference.cpp):
// x(d) is the row's input d as a double; w (D) the class's weights. Whether the compiler may contract a product
// and its add is the calling file's option (logit_rows.cpp forbids it, CMakeLists.txt).
template <class X>
inline double reference_logit(const float* w, float b, std::size_t D, const X& x) {
  double acc = static_cast<double>(b);
  for (std::size_t d = 0; d < D; ++d) acc += static_cast<double>(w[d]) * x(d);
  return acc;
}

// Rows [r0, r1) of `images`, one row at a time: the scalar yardstick.
//   logits (images.count, C) row-major; rows outside [r0, r1) untouched.
void reference_logit_rows(const Model& model, const ImageSet& images, std::size_t r0, std::size_t r1, float* logits);

// The same for one row of D pixels px: z (C).
void reference_logit_row(const Model& model, const std::uint8_t* px, float* z);

// Images of up to this many pixels take the fast path (the pixel columns are listed in 16 bits).
constexpr int kMaxLogitPixels = 65535;

// The same logits, rows [r0, r1), with one row per vector lane (8, 4 or 2 rows at a time for AVX-512, AVX2,
// the baseline: `simd`, resolved) and a block of classes in registers: every lane does the reference's adds
// in the reference's order, so the results are identical to reference_logit_rows. Needs D <= kMaxLogitPixels
// and finite weights (the caller checks: compute_logits).
//   wt (D, C) the weights transposed and widened to double; scratch: xt (D, 8) doubles and cols (D).
void fast_logit_rows(CpuSimd simd, const Model& model, const double* wt, const ImageSet& images, std::size_t r0,
                     std::size_t r1, double* xt, std::uint16_t* cols, float* logits);

}  // namespace logreg::cpu
