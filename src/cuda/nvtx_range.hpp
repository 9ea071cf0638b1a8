// NvtxRange: an NVTX range over the enclosing scope, the unit of the profiling timeline (a no-op unless a
// profiler is attached).
#pragma once

#include <nvtx3/nvToolsExt.h>

namespace logreg::cuda {

class NvtxRange {
 public:
  explicit NvtxRange(const char* name) { nvtxRangePushA(name); }
  ~NvtxRange() { nvtxRangePop(); }
  NvtxRange(const NvtxRange&) = delete;
  NvtxRange& operator=(const NvtxRange&) = delete;
};

}  // namespace logreg::cuda
