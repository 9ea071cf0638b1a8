// The emulated device's memory: every allocation an exact-sized host allocation (so ASan sees
// out-of-bounds device accesses), the registry that tells device, pinned and pageable memory apart, and
// copies and sets that check their direction and bounds and run on the streams like a GPU's DMA.
#include <cuda_runtime.h>

#include <cstring>
#include <memory>
#include <vector>

#include "runtime_state.hpp"

namespace cuda_emu::detail {

MemoryKind memory_kind(const void* p, std::size_t bytes) {
  const auto& allocations = device().allocations;
  const std::uintptr_t a = reinterpret_cast<std::uintptr_t>(p);
  auto it = allocations.upper_bound(a);
  if (it == allocations.begin()) return MemoryKind::kNone;
  --it;
  const std::uintptr_t base = it->first;
  const std::size_t size = it->second.bytes;
  if (a < base || a - base > size || bytes > size - (a - base)) return MemoryKind::kNone;
  return it->second.kind;
}

}  // namespace cuda_emu::detail

using namespace cuda_emu::detail;

namespace {

cudaError_t allocate(void** ptr, std::size_t size, MemoryKind kind) {
  if (ptr == nullptr) return cudaErrorInvalidValue;
  *ptr = nullptr;
  if (size == 0) return cudaSuccess;
  Device& d = device();
  if (kind == MemoryKind::kDevice && (size > total_bytes() || d.device_bytes > total_bytes() - size)) {
    return cudaErrorMemoryAllocation;
  }
  void* p = nullptr;
  if (posix_memalign(&p, 256, size) != 0 || p == nullptr) return cudaErrorMemoryAllocation;
  d.allocations[reinterpret_cast<std::uintptr_t>(p)] = Allocation{size, kind};
  if (kind == MemoryKind::kDevice) d.device_bytes += size;
  *ptr = p;
  return cudaSuccess;
}

cudaError_t release(void* ptr, MemoryKind kind) {
  if (ptr == nullptr) return cudaSuccess;
  Device& d = device();
  auto it = d.allocations.find(reinterpret_cast<std::uintptr_t>(ptr));
  if (it == d.allocations.end() || it->second.kind != kind) return cudaErrorInvalidValue;
  drain_all();  // cudaFree synchronises: pending work may still use the memory
  if (kind == MemoryKind::kDevice) d.device_bytes -= it->second.bytes;
  d.allocations.erase(it);
  std::free(ptr);
  return cudaSuccess;
}

bool is_host(const void* p, std::size_t bytes) { return memory_kind(p, bytes) != MemoryKind::kDevice; }

// Checks a copy's pointers against its direction: device memory where the device is named, host memory
// (pinned or pageable) where the host is.
cudaError_t check_copy(void* dst, const void* src, std::size_t count, cudaMemcpyKind* kind) {
  const MemoryKind dk = memory_kind(dst, count);
  const MemoryKind sk = memory_kind(src, count);
  if (*kind == cudaMemcpyDefault) {
    const bool dd = dk == MemoryKind::kDevice;
    const bool sd = sk == MemoryKind::kDevice;
    *kind = dd ? (sd ? cudaMemcpyDeviceToDevice : cudaMemcpyHostToDevice)
               : (sd ? cudaMemcpyDeviceToHost : cudaMemcpyHostToHost);
  }
  switch (*kind) {
    case cudaMemcpyHostToDevice:
      return dk == MemoryKind::kDevice && is_host(src, count) ? cudaSuccess : cudaErrorInvalidValue;
    case cudaMemcpyDeviceToHost:
      return sk == MemoryKind::kDevice && is_host(dst, count) ? cudaSuccess : cudaErrorInvalidValue;
    case cudaMemcpyDeviceToDevice:
      return dk == MemoryKind::kDevice && sk == MemoryKind::kDevice ? cudaSuccess : cudaErrorInvalidValue;
    case cudaMemcpyHostToHost:
      return is_host(dst, count) && is_host(src, count) ? cudaSuccess : cudaErrorInvalidValue;
    default:
      return cudaErrorInvalidMemcpyDirection;
  }
}

// An asynchronous copy as the GPU does it: from pageable host memory the source is staged when the call
// is made; into pageable host memory the call waits for the copy; pinned and device memory are read and
// written when the copy runs on the stream.
cudaError_t copy_async(void* dst, const void* src, std::size_t count, cudaMemcpyKind kind, Stream* s) {
  if (count == 0) return cudaSuccess;
  const cudaError_t checked = check_copy(dst, src, count, &kind);
  if (checked != cudaSuccess) return checked;
  const bool pageable_src = memory_kind(src, count) == MemoryKind::kNone;
  const bool pageable_dst = memory_kind(dst, count) == MemoryKind::kNone;
  cudaError_t err;
  if (pageable_src && s->capture == nullptr) {
    auto staged = std::make_shared<std::vector<unsigned char>>(static_cast<const unsigned char*>(src),
                                                               static_cast<const unsigned char*>(src) + count);
    err = enqueue_on(s, "cudaMemcpyAsync", [dst, staged] { std::memcpy(dst, staged->data(), staged->size()); });
  } else {
    err = enqueue_on(s, "cudaMemcpyAsync", [dst, src, count] { std::memmove(dst, src, count); });
  }
  if (err == cudaSuccess && pageable_dst && s->capture == nullptr) drain(s);
  return err;
}

cudaError_t set_async(void* ptr, int value, std::size_t count, Stream* s) {
  if (count == 0) return cudaSuccess;
  if (memory_kind(ptr, count) != MemoryKind::kDevice) return cudaErrorInvalidValue;
  return enqueue_on(s, "cudaMemsetAsync", [ptr, value, count] { std::memset(ptr, value, count); });
}


}  // namespace

extern "C" {

cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total) {
  EMU_ENTER();
  if (free_bytes == nullptr || total == nullptr) return result(cudaErrorInvalidValue);
  *total = total_bytes();
  const std::size_t unused = *total - std::min(*total, device().device_bytes);
  *free_bytes = std::min(unused, env_bytes("LOGREG_EMU_FREE_BYTES", unused));
  return cudaSuccess;
}


cudaError_t cudaMalloc(void** ptr, size_t size) {
  EMU_ENTER();
  EMU_UNSAFE_DURING_CAPTURE("cudaMalloc");
  return result(allocate(ptr, size, MemoryKind::kDevice));
}

cudaError_t cudaMallocHost(void** ptr, size_t size) {
  EMU_ENTER();
  EMU_UNSAFE_DURING_CAPTURE("cudaMallocHost");
  return result(allocate(ptr, size, MemoryKind::kPinned));
}

cudaError_t cudaHostAlloc(void** ptr, size_t size, unsigned int) { return cudaMallocHost(ptr, size); }

// After a fault the call fails as on a GPU, but the host memory behind the allocation is still returned,
// so a test that provokes a fault leaks nothing.
cudaError_t cudaFree(void* ptr) {
  std::lock_guard<std::recursive_mutex> guard(device().lock);
  EMU_UNSAFE_DURING_CAPTURE("cudaFree");
  const cudaError_t err = release(ptr, MemoryKind::kDevice);
  return result(device().sticky != cudaSuccess ? device().sticky : err);
}

cudaError_t cudaFreeHost(void* ptr) {
  std::lock_guard<std::recursive_mutex> guard(device().lock);
  EMU_UNSAFE_DURING_CAPTURE("cudaFreeHost");
  const cudaError_t err = release(ptr, MemoryKind::kPinned);
  return result(device().sticky != cudaSuccess ? device().sticky : err);
}

cudaError_t cudaMemcpy(void* dst, const void* src, size_t count, cudaMemcpyKind kind) {
  EMU_ENTER();
  EMU_UNSAFE_DURING_CAPTURE("cudaMemcpy");
  Stream* s = &device().legacy;
  const cudaError_t err = copy_async(dst, src, count, kind, s);
  if (err != cudaSuccess) return result(err);
  drain(s);
  return result(device().sticky);
}

cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t count, cudaMemcpyKind kind, cudaStream_t stream) {
  EMU_ENTER();
  Stream* s = as_stream(stream);
  if (s == nullptr) return result(cudaErrorInvalidResourceHandle);
  const cudaError_t err = copy_async(dst, src, count, kind, s);
  return result(err != cudaSuccess ? err : device().sticky);
}

cudaError_t cudaMemset(void* ptr, int value, size_t count) {
  EMU_ENTER();
  EMU_UNSAFE_DURING_CAPTURE("cudaMemset");
  Stream* s = &device().legacy;
  const cudaError_t err = set_async(ptr, value, count, s);
  if (err != cudaSuccess) return result(err);
  drain(s);
  return result(device().sticky);
}

cudaError_t cudaMemsetAsync(void* ptr, int value, size_t count, cudaStream_t stream) {
  EMU_ENTER();
  Stream* s = as_stream(stream);
  if (s == nullptr) return result(cudaErrorInvalidResourceHandle);
  return result(set_async(ptr, value, count, s));
}

}  // extern "C"
