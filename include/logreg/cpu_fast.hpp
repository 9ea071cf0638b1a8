// The fast CPU backend (`--device cpu`): float32, SIMD loops compiled for AVX-512, AVX2+FMA and SSE2 and
// picked at run time, spread over a small persistent thread team. It shares the per-row loss and the
// update formula with the CUDA kernels (kernels/step_bodies.hpp); the double reference stays the yardstick.
#pragma once

#include <memory>
#include <vector>

#include "logreg/backend.hpp"
#include "logreg/engine.hpp"
#include "logreg/name_table.hpp"
#include "logreg/maths/row_parts.hpp"
#include "logreg/maths/sgd_math.hpp"

namespace logreg {

// Which instruction set the fast CPU backend's loops use; kAuto = the widest the CPU supports.
enum class CpuSimd { kAuto, kSse2, kAvx2, kAvx512 };

inline constexpr NameTable<CpuSimd, 4> kCpuSimdNames = {{
    {CpuSimd::kAuto, "auto", "the widest level this CPU supports"},
    {CpuSimd::kSse2, "sse2", "4 floats per vector"},
    {CpuSimd::kAvx2, "avx2", "8 floats per vector, with FMA"},
    {CpuSimd::kAvx512, "avx512", "16 floats per vector, with FMA"},
}};

// kFullBatchParts (maths/row_parts.hpp): the fixed row parts of every full-batch objective, the fast CPU one's
// included (n rows cut at cpu::split_point): its sums are added in part order, whatever the threads; MPI ranks
// share these parts out (ranks::rows_of).

bool cpu_simd_supported(CpuSimd simd);  // kAuto and kSse2 always are

// The optional levels a CPU has, so that the choice below can be tested for any CPU, not only this one.
struct CpuSimdSupport {
  bool avx2 = false;    // AVX2 and FMA
  bool avx512 = false;  // AVX-512 F, VL, BW, DQ and FMA
};
CpuSimdSupport cpu_simd_support();  // this CPU's

// kAuto -> the widest level `support` has (SSE2 at least); another level is returned when `support` has it,
// else UsageError naming it. make_cpu_fast_backend uses choose_cpu_simd(simd, cpu_simd_support()).
CpuSimd choose_cpu_simd(CpuSimd requested, const CpuSimdSupport& support);
inline const char* cpu_simd_name(CpuSimd simd) { return name_of(kCpuSimdNames, simd); }

// `train_images`/`train_labels` must outlive the backend. `velocity` (C*D + C, or empty for zeros)
// continues a saved momentum state. threads = 0: the process's shared_thread_team() (thread_team.hpp: the
// hardware's threads, at most 2, since a training step is split into two column slices), which inference
// (evaluation.hpp) uses too; threads > 0: a team of its own of that size (evaluate() uses every thread). Results do not depend on the
// thread count: every output element is summed by one thread in a fixed order, so reruns are
// bit-identical. They may differ in the last bits between SIMD levels (lane count and FMA change the
// rounding). Throws UsageError for an unsupported `simd`.
std::unique_ptr<TrainerBackend> make_cpu_fast_backend(const ImageSet& train_images,
                                                      const LabelSet& train_labels,
                                                      const Model& initial,
                                                      const OptimizerConfig& optimizer = {},
                                                      const std::vector<float>& velocity = {},
                                                      int threads = 0,
                                                      CpuSimd simd = CpuSimd::kAuto);

// The fast CPU full-batch engine (no SGD state): the objective in double, fused passes over fixed row parts on
// the team (full_batch_objective.hpp), and its Hessian-vector product; for a model of `shape`'s head, classes and
// pixels (its parameters are not used). threads and simd as make_cpu_fast_backend's, whose name() it shares.
// The sets must outlive it.
std::unique_ptr<FullBatchEngine> make_cpu_fast_full_batch_engine(const ImageSet& train_images,
                                                                 const LabelSet& train_labels, const Model& shape,
                                                                 int threads = 0, CpuSimd simd = CpuSimd::kAuto);

}  // namespace logreg
