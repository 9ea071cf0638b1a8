// Move-only RAII owners of CUDA resources: DeviceBuffer<T>, PinnedBuffer<T>, and over one CudaHandle
// template CudaStream, CudaEvent, CudaGraphExec and CublasHandle. Constructors throw ResourceError (via
// CUDA_CHECK); destructors never throw, they log a failed release to stderr. No kernels, no copies between host and device here.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdio>
#include <utility>

#include "cuda_check.hpp"

namespace logreg::cuda {

// Destructors call this instead of throwing. cudaErrorCudartUnloading (release after the runtime shut
// down at process exit) is not worth a message.
inline void log_release_failure(cudaError_t err, const char* what) noexcept {
  if (err == cudaSuccess) return;
  (void)cudaGetLastError();  // so the next launch check does not blame its kernel for this failure
  if (err == cudaErrorCudartUnloading) return;
  std::fprintf(stderr, "logreg_cuda: warning: %s failed: %s: %s\n", what, cudaGetErrorName(err),
               cudaGetErrorString(err));
}

// Where a CudaBuffer's memory comes from: the allocation and release calls and their names for messages.
struct DeviceMemory {
  static constexpr const char* kAllocate = "cudaMalloc";
  static constexpr const char* kRelease = "cudaFree";
  static cudaError_t allocate(void** p, std::size_t bytes) { return cudaMalloc(p, bytes); }
  static cudaError_t release(void* p) { return cudaFree(p); }
};

struct PinnedHostMemory {
  static constexpr const char* kAllocate = "cudaMallocHost";
  static constexpr const char* kRelease = "cudaFreeHost";
  static cudaError_t allocate(void** p, std::size_t bytes) { return cudaMallocHost(p, bytes); }
  static cudaError_t release(void* p) { return cudaFreeHost(p); }
};

// `count` elements of T (uninitialised) in the memory `Memory` gives. Copying is deleted to prevent
// performance accidents (a hidden copy); move it instead.
template <class T, class Memory>
class CudaBuffer {
 public:
  CudaBuffer() = default;
  explicit CudaBuffer(std::size_t count) : count_(count) {
    if (count_ == 0) return;
    const cudaError_t err = Memory::allocate(reinterpret_cast<void**>(&ptr_), bytes());
    if (err != cudaSuccess) {
      ptr_ = nullptr;
      throw_cuda_error(err, Memory::kAllocate, __FILE__, __LINE__, bytes());
    }
  }
  ~CudaBuffer() { release(); }
  CudaBuffer(const CudaBuffer&) = delete;
  CudaBuffer& operator=(const CudaBuffer&) = delete;
  CudaBuffer(CudaBuffer&& o) noexcept : ptr_(std::exchange(o.ptr_, nullptr)), count_(std::exchange(o.count_, 0)) {}
  CudaBuffer& operator=(CudaBuffer&& o) noexcept {
    if (this != &o) {
      release();
      ptr_ = std::exchange(o.ptr_, nullptr);
      count_ = std::exchange(o.count_, 0);
    }
    return *this;
  }

  T* data() { return ptr_; }
  const T* data() const { return ptr_; }
  std::size_t size() const { return count_; }
  std::size_t bytes() const { return count_ * sizeof(T); }

 private:
  void release() noexcept {
    if (ptr_ != nullptr) log_release_failure(Memory::release(ptr_), Memory::kRelease);
    ptr_ = nullptr;
    count_ = 0;
  }
  T* ptr_ = nullptr;
  std::size_t count_ = 0;
};

// Device memory, the home of weights, batches and the resident training set.
template <class T>
using DeviceBuffer = CudaBuffer<T, DeviceMemory>;

// Page-locked host memory, the source of asynchronous host-to-device copies.
template <class T>
using PinnedBuffer = CudaBuffer<T, PinnedHostMemory>;

// A move-only owner of one CUDA handle (stream, event, cuBLAS handle, graph exec); Traits names the handle
// type and releases it without throwing. One implementation of the moves for every handle kind.
template <class Traits>
class CudaHandle {
 public:
  using Handle = typename Traits::Handle;
  CudaHandle() = default;
  explicit CudaHandle(Handle h) : handle_(h) {}
  ~CudaHandle() { reset(); }
  CudaHandle(const CudaHandle&) = delete;
  CudaHandle& operator=(const CudaHandle&) = delete;
  CudaHandle(CudaHandle&& o) noexcept : handle_(std::exchange(o.handle_, nullptr)) {}
  CudaHandle& operator=(CudaHandle&& o) noexcept {
    if (this != &o) {
      reset();
      handle_ = std::exchange(o.handle_, nullptr);
    }
    return *this;
  }

  Handle get() const { return handle_; }
  bool valid() const { return handle_ != nullptr; }
  void reset() noexcept {
    if (handle_ != nullptr) Traits::release(handle_);
    handle_ = nullptr;
  }

 protected:
  Handle handle_ = nullptr;
};

struct StreamTraits {
  using Handle = cudaStream_t;
  static void release(Handle h) noexcept { log_release_failure(cudaStreamDestroy(h), "cudaStreamDestroy"); }
};
struct EventTraits {
  using Handle = cudaEvent_t;
  static void release(Handle h) noexcept { log_release_failure(cudaEventDestroy(h), "cudaEventDestroy"); }
};
struct GraphExecTraits {
  using Handle = cudaGraphExec_t;
  static void release(Handle h) noexcept { log_release_failure(cudaGraphExecDestroy(h), "cudaGraphExecDestroy"); }
};
struct CublasTraits {
  using Handle = cublasHandle_t;
  static void release(Handle h) noexcept {
    const cublasStatus_t s = cublasDestroy(h);
    if (s != CUBLAS_STATUS_SUCCESS) {
      std::fprintf(stderr, "logreg_cuda: warning: cublasDestroy failed: %s\n", cublasGetStatusName(s));
    }
  }
};

// A stream that does not synchronise with the legacy default stream.
class CudaStream : public CudaHandle<StreamTraits> {
 public:
  CudaStream() { CUDA_CHECK(cudaStreamCreateWithFlags(&handle_, cudaStreamNonBlocking)); }
  void synchronize() const { CUDA_CHECK(cudaStreamSynchronize(handle_)); }
};

// An event for ordering (cudaEventDisableTiming) unless `timing` is asked for.
class CudaEvent : public CudaHandle<EventTraits> {
 public:
  explicit CudaEvent(bool timing = false) {
    CUDA_CHECK(cudaEventCreateWithFlags(&handle_, timing ? cudaEventDefault : cudaEventDisableTiming));
  }
  void record(cudaStream_t stream) const { CUDA_CHECK(cudaEventRecord(handle_, stream)); }
  void synchronize() const { CUDA_CHECK(cudaEventSynchronize(handle_)); }
};

// An instantiated CUDA graph; empty (invalid) until one is captured.
class CudaGraphExec : public CudaHandle<GraphExecTraits> {
 public:
  using CudaHandle::CudaHandle;
  void launch(cudaStream_t stream) const { CUDA_CHECK(cudaGraphLaunch(handle_, stream)); }
};

// A cuBLAS handle bound to one stream, FP32 maths without TF32 (CUBLAS_DEFAULT_MATH), scalars
// (alpha, beta) passed from the host.
class CublasHandle : public CudaHandle<CublasTraits> {
 public:
  explicit CublasHandle(cudaStream_t stream) {
    CUBLAS_CHECK(cublasCreate(&handle_));
    try {
      CUBLAS_CHECK(cublasSetStream(handle_, stream));
      CUBLAS_CHECK(cublasSetMathMode(handle_, CUBLAS_DEFAULT_MATH));
      CUBLAS_CHECK(cublasSetPointerMode(handle_, CUBLAS_POINTER_MODE_HOST));
    } catch (...) {
      reset();
      throw;
    }
  }
};

}  // namespace logreg::cuda
