// The run-time dispatch of the fast CPU backend's SIMD loops: which instruction sets this CPU has, and
// the forward / backward / update entry points compiled for one of them. The loops themselves are in
// simd_loops.hpp; the order in which the backend calls them is in cpu_fast_backend.cpp.
#pragma once

#include <cstddef>
#include <cstdint>

#include "logreg/cpu_fast.hpp"
#include "logreg/maths/step_bodies.hpp"

namespace logreg::cpu {

constexpr int kClassBlock = 10;  // classes whose accumulators stay in registers together (NC)
constexpr int kPadLanes = 16;    // weight rows are padded to a multiple of the widest vector (AVX-512)

// The SGD update fused into the backward pass: applied to each block of weights as soon as its gradient is
// complete (classes c < C, columns d < D).
struct FusedUpdate {
  float* w;                              // (Cpad, Dpad) weights
  float* velocity;                       // (Cpad, Dpad) momentum buffers, or nullptr
  const kernels::SgdStepParams* params;
  int C;
};

// The loops for one instruction set; `lanes` floats per vector (16, 8 or 4). Shapes: C classes, D pixels,
// Cpad = C rounded up to kClassBlock, Dpad = D rounded up to kPadLanes; a "chunk" is `lanes` columns.
struct SimdKernels {
  int lanes;
  // out (n, C) row-major = partial logits of rows [0, n) over chunks [k0, k1) of (Cpad, Dpad) weights w,
  // pixels 0..255, no bias; rows [n, avail) are only prefetched.
  //   (rows, n, avail, w, D, Dpad, C, k0, k1, out)
  void (*forward)(const std::uint8_t* const*, int, int, const float*, int, int, int, int, int, float*);
  // dw (Cpad, Dpad), chunks [k0, k1) = sum over rows i in order of dzs[i, c] * rows[i][d]; dzs (n, Cpad);
  // then, with `update` (else nullptr), sgd_update_element on those weights.
  //   (rows, n, dzs, Cpad, D, Dpad, k0, k1, dw, update)
  void (*backward)(const std::uint8_t* const*, int, const float*, int, int, int, int, int, float*, const FusedUpdate*);
  // sgd_update_element for parameters [j0, j1) (velocity nullptr without momentum).
  //   (j0, j1, w, dw, velocity, params)
  void (*update)(std::size_t, std::size_t, float*, const float*, float*, const kernels::SgdStepParams&);
};

// choose_cpu_simd (cpu_fast.hpp) for this CPU.
CpuSimd resolve_simd(CpuSimd simd);

// The loops compiled for `simd` (resolved: not kAuto).
SimdKernels simd_kernels_for(CpuSimd simd);

}  // namespace logreg::cpu
