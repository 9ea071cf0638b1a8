// The fast CPU backend's SIMD loops (simd_loops.hpp) compiled three times, for AVX-512, AVX2+FMA and SSE2,
// and the run-time dispatch between them (cpu_simd_supported, resolve_simd, simd_kernels_for). Not here:
// the loops' bodies and the backend that calls them.
#include "simd_kernels.hpp"

#include <string>

#include "logreg/errors.hpp"
#include "simd_loops.hpp"

namespace logreg {
namespace cpu {
namespace {

#define LOGREG_SIMD_WRAPPERS(SUFFIX, TARGET, V)                                                                     \
  TARGET void forward_##SUFFIX(const std::uint8_t* const* rows, int n, int avail, const float* w, int D, int Dpad, \
                               int C, int k0, int k1, float* out) {                                              \
    forward_rows_body<V>(rows, n, avail, w, D, Dpad, C, k0, k1, out);                                             \
  }                                                                                                               \
  TARGET void backward_##SUFFIX(const std::uint8_t* const* rows, int n, const float* dzs, int Cpad, int D,        \
                                int Dpad, int k0, int k1, float* dw, const FusedUpdate* update) {                 \
    backward_cols_body<V>(rows, n, dzs, Cpad, D, Dpad, k0, k1, dw, update);                                        \
  }                                                                                                               \
  TARGET void update_##SUFFIX(std::size_t j0, std::size_t j1, float* w, const float* dw, float* velocity,         \
                              const kernels::SgdStepParams& p) {                                                  \
    update_body(j0, j1, w, dw, velocity, p);                                                                      \
  }

#if defined(__x86_64__) && defined(__GNUC__)
LOGREG_SIMD_WRAPPERS(avx512, __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma"), flatten)), 16)
LOGREG_SIMD_WRAPPERS(avx2, __attribute__((target("avx2,fma"), flatten)), 8)
#endif
LOGREG_SIMD_WRAPPERS(sse2, __attribute__((flatten)), 4)

bool simd_supported(CpuSimd simd) {
#if defined(__x86_64__) && defined(__GNUC__)
  __builtin_cpu_init();
  switch (simd) {
    case CpuSimd::kAvx512:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
             __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("fma");
    case CpuSimd::kAvx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    default:
      return true;
  }
#else
  return simd == CpuSimd::kAuto || simd == CpuSimd::kSse2;
#endif
}

}  // namespace

CpuSimd resolve_simd(CpuSimd simd) { return choose_cpu_simd(simd, cpu_simd_support()); }

SimdKernels simd_kernels_for(CpuSimd simd) {
  switch (simd) {
#if defined(__x86_64__) && defined(__GNUC__)
    case CpuSimd::kAvx512:
      return {16, forward_avx512, backward_avx512, update_avx512};
    case CpuSimd::kAvx2:
      return {8, forward_avx2, backward_avx2, update_avx2};
#endif
    default:
      return {4, forward_sse2, backward_sse2, update_sse2};
  }
}

}  // namespace cpu

bool cpu_simd_supported(CpuSimd simd) { return cpu::simd_supported(simd); }

CpuSimdSupport cpu_simd_support() {
  CpuSimdSupport s;
  s.avx2 = cpu::simd_supported(CpuSimd::kAvx2);
  s.avx512 = cpu::simd_supported(CpuSimd::kAvx512);
  return s;
}

CpuSimd choose_cpu_simd(CpuSimd requested, const CpuSimdSupport& support) {
  const bool has = requested == CpuSimd::kAuto || requested == CpuSimd::kSse2 ||
                   (requested == CpuSimd::kAvx2 && support.avx2) || (requested == CpuSimd::kAvx512 && support.avx512);
  if (!has) throw UsageError(std::string("this CPU does not support the ") + cpu_simd_name(requested) + " instructions");
  if (requested != CpuSimd::kAuto) return requested;
  return support.avx512 ? CpuSimd::kAvx512 : support.avx2 ? CpuSimd::kAvx2 : CpuSimd::kSse2;
}

}  // namespace logreg
