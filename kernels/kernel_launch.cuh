// The one place kernels are launched from: a launch shape (grid computed from the element count, or a
// single block; clustered or cooperative) and launch_kernel(), which enqueues on a stream and checks the
// launch. No kernels here.
// With LOGREG_CUDA=emulated the same call goes to the CPU emulator (emulator/cuda_emulator.hpp) instead of
// <<< >>>; it checks what the GPU would (block size, the kernel's launch bounds, shared memory).
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <utility>

#include "cuda_check.hpp"

namespace logreg::kernels {

struct LaunchShape {
  unsigned grid = 0;          // blocks; 0 = nothing to do
  unsigned block = 0;         // threads per block
  std::size_t shared_bytes = 0;  // dynamic shared memory per block (extern __shared__)
  int max_threads = 0;        // the kernel's __launch_bounds__, when it has them (checked on the emulator)
  unsigned cluster = 0;       // blocks per thread block cluster (x only); 0 = an ordinary launch
  bool cooperative = false;   // every block resident at once, for this_grid().sync() (cudaLaunchAttributeCooperative)
};

// One thread per element, `threads` per block.
inline LaunchShape elementwise_shape(std::size_t n, unsigned threads = 256) {
  return LaunchShape{static_cast<unsigned>((n + threads - 1) / threads), threads};
}

// One block whose threads loop over the rows (deterministic reductions).
inline LaunchShape single_block_shape(unsigned threads) { return LaunchShape{1, threads}; }

// The same shape launched as clusters of `blocks` blocks (cudaLaunchAttributeClusterDimension; grid a multiple).
inline LaunchShape clustered(LaunchShape shape, unsigned blocks) {
  shape.cluster = blocks;
  return shape;
}

// The same shape as a cooperative launch (the grid must fit on the device at once: cudaOccupancy*).
inline LaunchShape cooperative(LaunchShape shape) {
  shape.cooperative = true;
  return shape;
}

// The same shape for a kernel declared with __launch_bounds__(max_threads).
inline LaunchShape bounded(LaunchShape shape, int max_threads) {
  shape.max_threads = max_threads;
  return shape;
}

template <class... Params, class... Args>
void launch_kernel(const char* name, void (*kernel)(Params...), LaunchShape shape, cudaStream_t stream,
                   Args&&... args) {
  if (shape.grid == 0) return;
  if (shape.cluster > 0 || shape.cooperative) {
    // A cluster or cooperative launch: cudaLaunchKernelEx with the cluster dimension or the cooperative flag as
    // attributes (not __cluster_dims__, so the size can follow the shape, and the emulator reads them).
#if defined(LOGREG_CUDA_EMULATED)
    ::cuda_emu::KernelLaunch l = ::cuda_emu::make_launch(name, kernel, dim3(shape.grid), dim3(shape.block),
                                                         shape.shared_bytes, shape.max_threads,
                                                         std::forward<Args>(args)...);
    l.clustered = shape.cluster > 0;
    if (l.clustered) l.cluster = dim3(shape.cluster, 1, 1);
    l.cooperative = shape.cooperative;
    (void)::cuda_emu::enqueue_launch(std::move(l), stream);
#else
    cudaLaunchAttribute attributes[2]{};
    unsigned count = 0;
    if (shape.cluster > 0) {
      attributes[count].id = cudaLaunchAttributeClusterDimension;
      attributes[count].val.clusterDim.x = shape.cluster;
      attributes[count].val.clusterDim.y = 1;
      attributes[count].val.clusterDim.z = 1;
      ++count;
    }
    if (shape.cooperative) {
      attributes[count].id = cudaLaunchAttributeCooperative;
      attributes[count].val.cooperative = 1;
      ++count;
    }
    cudaLaunchConfig_t config{};
    config.gridDim = dim3(shape.grid);
    config.blockDim = dim3(shape.block);
    config.dynamicSmemBytes = shape.shared_bytes;
    config.stream = stream;
    config.attrs = attributes;
    config.numAttrs = count;
    CUDA_CHECK(cudaLaunchKernelEx(&config, kernel, std::forward<Args>(args)...));
#endif
    CUDA_CHECK_LAUNCH(name);
    return;
  }
#if defined(LOGREG_CUDA_EMULATED)
  (void)::cuda_emu::launch(name, kernel, dim3(shape.grid), dim3(shape.block), shape.shared_bytes, stream,
                           shape.max_threads, std::forward<Args>(args)...);
#else
  kernel<<<shape.grid, shape.block, shape.shared_bytes, stream>>>(std::forward<Args>(args)...);
#endif
  CUDA_CHECK_LAUNCH(name);
}

}  // namespace logreg::kernels

// A kernel's dynamic shared memory (the launch's shared_bytes): `extern __shared__ T name[]` on the GPU, the
// emulator's per-launch buffer on the CPU.
#if defined(LOGREG_CUDA_EMULATED)
#define LOGREG_DYNAMIC_SHARED(T, name) T* name = static_cast<T*>(::cuda_emu::dynamic_shared_memory())
#else
#define LOGREG_DYNAMIC_SHARED(T, name) extern __shared__ __align__(16) T name[]
#endif
