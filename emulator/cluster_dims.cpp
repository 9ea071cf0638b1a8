// The cluster shape a kernel is compiled with (__cluster_dims__, cluster_dims.h): the kernel lies in the section
// of its shape, whose bounds the linker defines. Read at launch (runtime.cpp) and by cudaFuncGetAttributes and
// cudaOccupancyMaxActiveClusters (runtime_device.cpp).
#include "emulator_internal.hpp"

// The bounds of each __cluster_dims__ section (cluster_dims.h), defined by the linker for the shapes the
// program's kernels use; weak, so the other shapes are null.
#define LOGREG_EMU_DECLARE_CLUSTER_SECTION(x, y, z)                                              \
  extern "C" char __start_logreg_emu_cluster_##x##_##y##_##z[] __attribute__((weak)); \
  extern "C" char __stop_logreg_emu_cluster_##x##_##y##_##z[] __attribute__((weak));
LOGREG_EMU_CLUSTER_SHAPES(LOGREG_EMU_DECLARE_CLUSTER_SECTION)
#undef LOGREG_EMU_DECLARE_CLUSTER_SECTION

namespace cuda_emu::detail {
namespace {

struct ClusterSection {
  const char* begin;
  const char* end;
  unsigned x, y, z;
};

#define LOGREG_EMU_CLUSTER_SECTION_ROW(x, y, z) \
  {__start_logreg_emu_cluster_##x##_##y##_##z, __stop_logreg_emu_cluster_##x##_##y##_##z, x, y, z},
const ClusterSection kClusterSections[] = {LOGREG_EMU_CLUSTER_SHAPES(LOGREG_EMU_CLUSTER_SECTION_ROW)};
#undef LOGREG_EMU_CLUSTER_SECTION_ROW

}  // namespace

bool compiled_cluster_dims(const void* function, dim3* out) {
  const auto* f = static_cast<const char*>(function);
  for (const ClusterSection& s : kClusterSections) {
    if (s.begin == nullptr || f < s.begin || f >= s.end) continue;
    *out = dim3(s.x, s.y, s.z);
    return true;
  }
  return false;
}

}  // namespace cuda_emu::detail
