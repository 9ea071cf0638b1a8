// CUDA_CHECK / CUBLAS_CHECK / CUDA_CHECK_LAUNCH: checked CUDA runtime and cuBLAS calls that throw
// logreg::ResourceError naming file:line, the call and the error. Out-of-memory says so, with the
// requested bytes where the caller knows them. Nothing here allocates or launches anything.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <sstream>
#include <string>

#include "logreg/errors.hpp"

namespace logreg::cuda {

// "cudaErrorMemoryAllocation (out of memory)"
inline std::string describe_cuda_error(cudaError_t err) {
  return std::string(cudaGetErrorName(err)) + " (" + cudaGetErrorString(err) + ")";
}

// Throws ResourceError for a failed runtime call. `bytes` > 0 names the size of a failed allocation.
// The (non-sticky) error is cleared first so a later launch check does not report it again.
[[noreturn]] inline void throw_cuda_error(cudaError_t err, const char* call, const char* file, int line,
                                          std::size_t bytes = 0) {
  (void)cudaGetLastError();
  std::ostringstream os;
  os << file << ":" << line << ": ";
  if (err == cudaErrorMemoryAllocation) {
    os << "out of GPU memory";
    if (bytes > 0) os << " (requested " << bytes << " bytes)";
    os << " in ";
  } else {
    os << "CUDA error in ";
  }
  os << call << ": " << describe_cuda_error(err);
  throw ResourceError(os.str());
}

[[noreturn]] inline void throw_cublas_error(cublasStatus_t status, const char* call, const char* file, int line) {
  std::ostringstream os;
  os << file << ":" << line << ": ";
  if (status == CUBLAS_STATUS_ALLOC_FAILED) os << "out of GPU memory in ";
  else os << "cuBLAS error in ";
  os << call << ": " << cublasGetStatusName(status) << " (" << cublasGetStatusString(status) << ")";
  throw ResourceError(os.str());
}

}  // namespace logreg::cuda

#define CUDA_CHECK(call)                                                        \
  do {                                                                          \
    const cudaError_t logreg_err_ = (call);                                     \
    if (logreg_err_ != cudaSuccess) {                                           \
      ::logreg::cuda::throw_cuda_error(logreg_err_, #call, __FILE__, __LINE__); \
    }                                                                           \
  } while (0)

// For allocations: the message carries the requested size.
#define CUDA_CHECK_ALLOC(call, bytes)                                                    \
  do {                                                                                   \
    const cudaError_t logreg_err_ = (call);                                              \
    if (logreg_err_ != cudaSuccess) {                                                    \
      ::logreg::cuda::throw_cuda_error(logreg_err_, #call, __FILE__, __LINE__, (bytes)); \
    }                                                                                    \
  } while (0)

#define CUBLAS_CHECK(call)                                                             \
  do {                                                                                 \
    const cublasStatus_t logreg_status_ = (call);                                      \
    if (logreg_status_ != CUBLAS_STATUS_SUCCESS) {                                     \
      ::logreg::cuda::throw_cublas_error(logreg_status_, #call, __FILE__, __LINE__);   \
    }                                                                                  \
  } while (0)

// After every kernel launch: launch-configuration errors surface here, not at the next sync.
// `kernel_name` (const char*) names the kernel in the message.
#define CUDA_CHECK_LAUNCH(kernel_name)                                                        \
  do {                                                                                        \
    const cudaError_t logreg_err_ = cudaGetLastError();                                       \
    if (logreg_err_ != cudaSuccess) {                                                         \
      ::logreg::cuda::throw_cuda_error(logreg_err_, (std::string("launch of ") + (kernel_name)).c_str(), \
                                       __FILE__, __LINE__);                                   \
    }                                                                                         \
  } while (0)
