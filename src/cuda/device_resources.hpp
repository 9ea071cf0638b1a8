// Move-only RAII owners of CUDA resources: DeviceBuffer<T>, PinnedBuffer<T>, CudaStream, CudaEvent and
// CublasHandle. Constructors throw ResourceError (via CUDA_CHECK); destructors never throw, they log a
// failed release to stderr. No kernels, no copies between host and device here.
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

// A stream that does not synchronise with the legacy default stream.
class CudaStream {
 public:
  CudaStream() { CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking)); }
  ~CudaStream() { release(); }
  CudaStream(const CudaStream&) = delete;
  CudaStream& operator=(const CudaStream&) = delete;
  CudaStream(CudaStream&& o) noexcept : stream_(std::exchange(o.stream_, nullptr)) {}
  CudaStream& operator=(CudaStream&& o) noexcept {
    if (this != &o) {
      release();
      stream_ = std::exchange(o.stream_, nullptr);
    }
    return *this;
  }

  cudaStream_t get() const { return stream_; }
  void synchronize() const { CUDA_CHECK(cudaStreamSynchronize(stream_)); }

 private:
  void release() noexcept {
    if (stream_ != nullptr) log_release_failure(cudaStreamDestroy(stream_), "cudaStreamDestroy");
    stream_ = nullptr;
  }
  cudaStream_t stream_ = nullptr;
};

// An event for ordering (cudaEventDisableTiming) unless `timing` is asked for.
class CudaEvent {
 public:
  explicit CudaEvent(bool timing = false) {
    CUDA_CHECK(cudaEventCreateWithFlags(&event_, timing ? cudaEventDefault : cudaEventDisableTiming));
  }
  ~CudaEvent() { release(); }
  CudaEvent(const CudaEvent&) = delete;
  CudaEvent& operator=(const CudaEvent&) = delete;
  CudaEvent(CudaEvent&& o) noexcept : event_(std::exchange(o.event_, nullptr)) {}
  CudaEvent& operator=(CudaEvent&& o) noexcept {
    if (this != &o) {
      release();
      event_ = std::exchange(o.event_, nullptr);
    }
    return *this;
  }

  cudaEvent_t get() const { return event_; }
  void record(cudaStream_t stream) const { CUDA_CHECK(cudaEventRecord(event_, stream)); }
  void synchronize() const { CUDA_CHECK(cudaEventSynchronize(event_)); }

 private:
  void release() noexcept {
    if (event_ != nullptr) log_release_failure(cudaEventDestroy(event_), "cudaEventDestroy");
    event_ = nullptr;
  }
  cudaEvent_t event_ = nullptr;
};

// A cuBLAS handle bound to one stream, FP32 maths without TF32 (CUBLAS_DEFAULT_MATH), scalars
// (alpha, beta) passed from the host.
class CublasHandle {
 public:
  explicit CublasHandle(cudaStream_t stream) {
    CUBLAS_CHECK(cublasCreate(&handle_));
    try {
      CUBLAS_CHECK(cublasSetStream(handle_, stream));
      CUBLAS_CHECK(cublasSetMathMode(handle_, CUBLAS_DEFAULT_MATH));
      CUBLAS_CHECK(cublasSetPointerMode(handle_, CUBLAS_POINTER_MODE_HOST));
    } catch (...) {
      release();
      throw;
    }
  }
  ~CublasHandle() { release(); }
  CublasHandle(const CublasHandle&) = delete;
  CublasHandle& operator=(const CublasHandle&) = delete;
  CublasHandle(CublasHandle&& o) noexcept : handle_(std::exchange(o.handle_, nullptr)) {}
  CublasHandle& operator=(CublasHandle&& o) noexcept {
    if (this != &o) {
      release();
      handle_ = std::exchange(o.handle_, nullptr);
    }
    return *this;
  }

  cublasHandle_t get() const { return handle_; }

 private:
  void release() noexcept {
    if (handle_ == nullptr) return;
    const cublasStatus_t s = cublasDestroy(handle_);
    if (s != CUBLAS_STATUS_SUCCESS) {
      std::fprintf(stderr, "logreg_cuda: warning: cublasDestroy failed: %s\n", cublasGetStatusName(s));
    }
    handle_ = nullptr;
  }
  cublasHandle_t handle_ = nullptr;
};

}  // namespace logreg::cuda
