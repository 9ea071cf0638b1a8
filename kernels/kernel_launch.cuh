// The one place kernels are launched from: a launch shape (grid computed from the element count, or a
// single block) and launch_kernel(), which enqueues on a stream and checks the launch. No kernels here.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <utility>

#include "cuda_check.hpp"

namespace logreg::kernels {

struct LaunchShape {
  unsigned grid = 0;   // blocks; 0 = nothing to do
  unsigned block = 0;  // threads per block
};

// One thread per element, `threads` per block.
inline LaunchShape elementwise_shape(std::size_t n, unsigned threads = 256) {
  return LaunchShape{static_cast<unsigned>((n + threads - 1) / threads), threads};
}

// One block whose threads loop over the rows (deterministic reductions).
inline LaunchShape single_block_shape(unsigned threads) { return LaunchShape{1, threads}; }

template <class... Params, class... Args>
void launch_kernel(const char* name, void (*kernel)(Params...), LaunchShape shape, cudaStream_t stream,
                   Args&&... args) {
  if (shape.grid == 0) return;
  kernel<<<shape.grid, shape.block, 0, stream>>>(std::forward<Args>(args)...);
  CUDA_CHECK_LAUNCH(name);
}

}  // namespace logreg::kernels
