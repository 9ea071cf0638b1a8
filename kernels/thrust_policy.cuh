// on_stream(): the one place Thrust algorithms get their execution policy. On the GPU, thrust::cuda::
// par_nosync on the caller's stream (no host synchronisation, so the work is ordered like any kernel and
// can be graph-captured); on the emulated device (LOGREG_CUDA=emulated, Thrust's CPP system), the same
// call with thrust::cpp::par, enqueued on the emulated stream so it runs in stream order. Thrust's
// exceptions become ResourceError naming `what`.
#pragma once

#include <cuda_runtime.h>

#include <exception>
#include <string>
#include <utility>

#include "cuda_check.hpp"
#include "logreg/errors.hpp"

#if defined(LOGREG_CUDA_EMULATED)
#include <thrust/system/cpp/execution_policy.h>
#else
#include <thrust/system/cuda/execution_policy.h>
#endif

namespace logreg::kernels {

// Runs algorithm(policy) on `stream`.
template <class Algorithm>
void on_stream(cudaStream_t stream, const char* what, Algorithm&& algorithm) {
#if defined(LOGREG_CUDA_EMULATED)
  const cudaError_t err =
      ::cuda_emu::enqueue_host_work(stream, what, [algorithm] { algorithm(thrust::cpp::par); });
  if (err != cudaSuccess) cuda::throw_cuda_error(err, what, __FILE__, __LINE__);
#else
  try {
    algorithm(thrust::cuda::par_nosync.on(stream));
  } catch (const std::exception& e) {
    (void)cudaGetLastError();
    throw ResourceError(std::string(what) + ": " + e.what());
  }
  CUDA_CHECK_LAUNCH(what);
#endif
}

}  // namespace logreg::kernels
