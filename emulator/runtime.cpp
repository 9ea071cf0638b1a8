// The emulated CUDA runtime: one "emulated device" (compute capability 9.0) whose memory is host memory
// (every allocation exact-sized, so AddressSanitizer sees out-of-bounds device accesses), streams whose
// work runs lazily, in order, only when something waits for it (a synchronisation, a blocking copy, an
// event), events, stream capture into graphs and graph replay, last-error handling (sticky and not),
// launch-configuration checks and the pointer check of every kernel argument. What it cannot show: real
// concurrency between streams, timing, races between blocks (they run one after another), tensor cores.
#include <cuda_profiler_api.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "emulator_internal.hpp"

namespace cuda_emu::detail {
namespace {

constexpr std::size_t kDefaultSharedBytes = 48 << 10;     // without cudaFuncSetAttribute
constexpr std::size_t kMaxSharedBytesOptIn = 227 << 10;   // sharedMemPerBlockOptin of an H100
constexpr std::size_t kDefaultTotalBytes = std::size_t{16} << 30;

struct Op {
  const char* what;
  std::function<void()> run;
};

struct Graph {
  std::vector<Op> nodes;
};

struct Stream {
  bool legacy = false;
  unsigned flags = 0;
  std::deque<Op> pending;
  std::uint64_t enqueued = 0;  // ops ever enqueued
  std::uint64_t executed = 0;  // ops run (or dropped after a fault)
  // Capture
  Graph* capture = nullptr;
  bool capture_invalidated = false;
  cudaStreamCaptureMode capture_mode = cudaStreamCaptureModeGlobal;
  std::thread::id capture_thread;
};

struct Event {
  unsigned flags = 0;
  Stream* stream = nullptr;  // where it was last recorded; nullptr = never
  std::uint64_t seq = 0;     // complete once stream->executed >= seq
  double time_ms = 0.0;
  bool captured = false;     // last recorded into a capture
};

struct Allocation {
  std::size_t bytes;
  MemoryKind kind;
};

struct FunctionAttributes {
  int max_dynamic_shared = static_cast<int>(kDefaultSharedBytes);
};

// All state; one lock for every runtime call (ops run under it too).
struct Device {
  std::recursive_mutex lock;
  std::map<std::uintptr_t, Allocation> allocations;
  std::size_t device_bytes = 0;
  Stream legacy;
  std::set<Stream*> streams;
  std::set<Event*> events;
  std::map<const void*, FunctionAttributes> functions;
  cudaError_t sticky = cudaSuccess;
  std::string last_fault;
  int current_device = 0;
  Device() { legacy.legacy = true; }
};

Device& device() {
  static Device* d = new Device;  // never destroyed: CUDA calls may come from static destructors
  return *d;
}

thread_local cudaError_t tls_last_error = cudaSuccess;

cudaError_t result(cudaError_t err) {
  if (err != cudaSuccess) tls_last_error = err;
  return err;
}

// Every call starts here: after a fault the device is unusable, as on a GPU.
#define EMU_ENTER()                                     \
  std::lock_guard<std::recursive_mutex> guard_(device().lock); \
  if (device().sticky != cudaSuccess) return result(device().sticky)

std::size_t env_bytes(const char* name, std::size_t fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  char* end = nullptr;
  const unsigned long long n = std::strtoull(v, &end, 10);
  return end != nullptr && *end == '\0' ? static_cast<std::size_t>(n) : fallback;
}

std::size_t total_bytes() { return env_bytes("LOGREG_EMU_TOTAL_BYTES", kDefaultTotalBytes); }

Stream* as_stream(cudaStream_t s) {
  if (s == nullptr || s == cudaStreamLegacy || s == cudaStreamPerThread) return &device().legacy;
  Stream* stream = reinterpret_cast<Stream*>(s);
  return device().streams.count(stream) != 0 ? stream : nullptr;
}

Event* as_event(cudaEvent_t e) {
  Event* event = reinterpret_cast<Event*>(e);
  return device().events.count(event) != 0 ? event : nullptr;
}

double now_ms() {
  using namespace std::chrono;
  return duration<double, std::milli>(steady_clock::now().time_since_epoch()).count();
}

// Runs `s`'s ops until `target` of them have run. After a fault, ops are dropped, not run.
void run_until(Stream* s, std::uint64_t target) {
  while (s->executed < target && !s->pending.empty()) {
    Op op = std::move(s->pending.front());
    s->pending.pop_front();
    if (device().sticky == cudaSuccess) op.run();
    ++s->executed;
  }
}

void drain(Stream* s) { run_until(s, s->enqueued); }

void drain_all() {
  drain(&device().legacy);
  for (Stream* s : device().streams) drain(s);
}

// The legacy default stream waits for every blocking stream and they for it: run what is before.
void order_with_legacy(Stream* s) {
  if (s->legacy) {
    for (Stream* other : device().streams) {
      if ((other->flags & cudaStreamNonBlocking) == 0) drain(other);
    }
  } else if ((s->flags & cudaStreamNonBlocking) == 0) {
    drain(&device().legacy);
  }
}

bool any_capture_blocks(const char* call, cudaStreamCaptureMode* mode_out) {
  for (Stream* s : device().streams) {
    if (s->capture == nullptr || s->capture_mode == cudaStreamCaptureModeRelaxed) continue;
    if (s->capture_mode == cudaStreamCaptureModeThreadLocal && s->capture_thread != std::this_thread::get_id()) continue;
    s->capture_invalidated = true;
    *mode_out = s->capture_mode;
    (void)call;
    return true;
  }
  return false;
}

// Calls that are not allowed while this thread (thread-local mode) or any thread (global mode) captures:
// they fail and invalidate the capture, as the real runtime does.
#define EMU_UNSAFE_DURING_CAPTURE(call)                                   \
  do {                                                                    \
    cudaStreamCaptureMode mode_;                                          \
    if (any_capture_blocks(call, &mode_)) return result(cudaErrorStreamCaptureUnsupported); \
  } while (0)

cudaError_t enqueue_on(Stream* s, const char* what, std::function<void()> run) {
  if (s->capture != nullptr) {
    s->capture->nodes.push_back(Op{what, std::move(run)});
    return cudaSuccess;
  }
  for (Stream* other : device().streams) {
    // Work on a stream that is not being captured while another is in global mode is fine; only the
    // legacy stream would create an implicit dependency on a capturing blocking stream.
    if (s->legacy && other->capture != nullptr && (other->flags & cudaStreamNonBlocking) == 0) {
      other->capture_invalidated = true;
      return cudaErrorStreamCaptureImplicit;
    }
  }
  order_with_legacy(s);
  s->pending.push_back(Op{what, std::move(run)});
  ++s->enqueued;
  return cudaSuccess;
}

std::string hex_pointer(const void* p) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%p", p);
  return buf;
}

void run_kernel(const KernelLaunch& launch) {
  for (std::size_t i = 0; i < launch.pointer_args.size(); ++i) {
    const void* p = launch.pointer_args[i];
    if (p == nullptr || memory_kind(p, 0) != MemoryKind::kNone) continue;
    report_fault(cudaErrorIllegalAddress, std::string("kernel ") + launch.name + ": pointer argument " +
                                              std::to_string(i + 1) + " (" + hex_pointer(p) +
                                              ") is host memory that is neither device nor pinned memory");
    return;
  }
  std::vector<unsigned char> shared;
  if (launch.shared_bytes > 0) shared.assign(launch.shared_bytes, 0xff);  // uninitialised: reads give NaNs
  const std::string fault = run_blocks(launch, shared.empty() ? nullptr : shared.data());
  if (!fault.empty()) report_fault(cudaErrorLaunchFailure, std::string("kernel ") + launch.name + ", " + fault);
}

}  // namespace

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

cudaError_t enqueue(cudaStream_t stream, const char* what, std::function<void()> op) {
  Stream* s = as_stream(stream);
  if (s == nullptr) return cudaErrorInvalidResourceHandle;
  return enqueue_on(s, what, std::move(op));
}

void report_fault(cudaError_t err, const std::string& what) {
  Device& d = device();
  if (d.sticky == cudaSuccess) d.sticky = err;
  d.last_fault = what;
  std::fprintf(stderr, "cuda emulator: %s (%s)\n", what.c_str(), cudaGetErrorName(err));
}

}  // namespace cuda_emu::detail

// ---- The emulator's own entry points ------------------------------------------------------------------------
namespace cuda_emu {

using namespace detail;

cudaError_t enqueue_launch(KernelLaunch launch, cudaStream_t stream) {
  EMU_ENTER();
  const dim3 g = launch.grid;
  const dim3 b = launch.block;
  const unsigned long long threads = static_cast<unsigned long long>(b.x) * b.y * b.z;
  if (g.x == 0 || g.y == 0 || g.z == 0 || b.x == 0 || b.y == 0 || b.z == 0 || g.y > 65535 || g.z > 65535 ||
      b.x > 1024 || b.y > 1024 || b.z > 64 || threads > 1024) {
    device().last_fault = std::string("kernel ") + launch.name + ": invalid launch configuration (grid " +
                          std::to_string(g.x) + "x" + std::to_string(g.y) + "x" + std::to_string(g.z) + ", block " +
                          std::to_string(b.x) + "x" + std::to_string(b.y) + "x" + std::to_string(b.z) +
                          "; at most 1024 threads per block)";
    return result(cudaErrorInvalidConfiguration);
  }
  if (launch.max_threads > 0 && threads > static_cast<unsigned long long>(launch.max_threads)) {
    device().last_fault = std::string("kernel ") + launch.name + ": block of " + std::to_string(threads) +
                          " threads exceeds its __launch_bounds__ of " + std::to_string(launch.max_threads);
    return result(cudaErrorLaunchOutOfResources);
  }
  const auto attributes = device().functions.find(launch.function);
  const std::size_t shared_limit = attributes == device().functions.end()
                                       ? kDefaultSharedBytes
                                       : static_cast<std::size_t>(attributes->second.max_dynamic_shared);
  if (launch.shared_bytes > shared_limit) {
    device().last_fault = std::string("kernel ") + launch.name + ": " + std::to_string(launch.shared_bytes) +
                          " bytes of dynamic shared memory, more than the " + std::to_string(shared_limit) +
                          " allowed (over 48 KiB needs cudaFuncSetAttribute(MaxDynamicSharedMemorySize))";
    return result(cudaErrorInvalidValue);
  }
  Stream* s = as_stream(stream);
  if (s == nullptr) return result(cudaErrorInvalidResourceHandle);
  const char* name = launch.name;
  auto shared = std::make_shared<KernelLaunch>(std::move(launch));
  return result(enqueue_on(s, name, [shared] { run_kernel(*shared); }));
}

const char* last_fault() { return device().last_fault.c_str(); }

void reset_device() {
  std::lock_guard<std::recursive_mutex> guard(device().lock);
  Device& d = device();
  d.legacy.pending.clear();
  d.legacy.executed = d.legacy.enqueued;
  for (Stream* s : d.streams) {
    s->pending.clear();
    s->executed = s->enqueued;
  }
  d.sticky = cudaSuccess;
  d.last_fault.clear();
  tls_last_error = cudaSuccess;
}

}  // namespace cuda_emu

// ---- The CUDA runtime API ---------------------------------------------------------------------------------
using namespace cuda_emu::detail;

namespace {

struct ErrorText {
  cudaError_t code;
  const char* name;
  const char* text;
};

const ErrorText kErrors[] = {
    {cudaSuccess, "cudaSuccess", "no error"},
    {cudaErrorInvalidValue, "cudaErrorInvalidValue", "invalid argument"},
    {cudaErrorMemoryAllocation, "cudaErrorMemoryAllocation", "out of memory"},
    {cudaErrorInitializationError, "cudaErrorInitializationError", "initialization error"},
    {cudaErrorCudartUnloading, "cudaErrorCudartUnloading", "driver shutting down"},
    {cudaErrorInvalidConfiguration, "cudaErrorInvalidConfiguration", "invalid configuration argument"},
    {cudaErrorInvalidMemcpyDirection, "cudaErrorInvalidMemcpyDirection", "invalid copy direction for memcpy"},
    {cudaErrorInsufficientDriver, "cudaErrorInsufficientDriver",
     "CUDA driver version is insufficient for CUDA runtime version"},
    {cudaErrorNoDevice, "cudaErrorNoDevice", "no CUDA-capable device is detected"},
    {cudaErrorInvalidDevice, "cudaErrorInvalidDevice", "invalid device ordinal"},
    {cudaErrorNoKernelImageForDevice, "cudaErrorNoKernelImageForDevice",
     "no kernel image is available for execution on the device"},
    {cudaErrorInvalidDeviceFunction, "cudaErrorInvalidDeviceFunction", "invalid device function"},
    {cudaErrorDevicesUnavailable, "cudaErrorDevicesUnavailable", "CUDA-capable device(s) is/are busy or unavailable"},
    {cudaErrorInvalidResourceHandle, "cudaErrorInvalidResourceHandle", "invalid resource handle"},
    {cudaErrorIllegalState, "cudaErrorIllegalState", "the operation cannot be performed in the present state"},
    {cudaErrorNotReady, "cudaErrorNotReady", "device not ready"},
    {cudaErrorIllegalAddress, "cudaErrorIllegalAddress", "an illegal memory access was encountered"},
    {cudaErrorLaunchOutOfResources, "cudaErrorLaunchOutOfResources", "too many resources requested for launch"},
    {cudaErrorLaunchTimeout, "cudaErrorLaunchTimeout", "the launch timed out and was terminated"},
    {cudaErrorLaunchFailure, "cudaErrorLaunchFailure", "unspecified launch failure"},
    {cudaErrorStreamCaptureUnsupported, "cudaErrorStreamCaptureUnsupported",
     "operation not permitted when stream is capturing"},
    {cudaErrorStreamCaptureInvalidated, "cudaErrorStreamCaptureInvalidated",
     "operation failed due to a previous error during capture"},
    {cudaErrorStreamCaptureIsolation, "cudaErrorStreamCaptureIsolation",
     "dependency created on uncaptured work in another stream"},
    {cudaErrorStreamCaptureImplicit, "cudaErrorStreamCaptureImplicit",
     "operation would make the legacy stream depend on a capturing blocking stream"},
    {cudaErrorStreamCaptureWrongThread, "cudaErrorStreamCaptureWrongThread",
     "attempt to terminate a thread-local capture sequence from another thread"},
    {cudaErrorNotSupported, "cudaErrorNotSupported", "operation not supported"},
    {cudaErrorUnknown, "cudaErrorUnknown", "unknown error"},
};

const ErrorText* find_error(cudaError_t err) {
  for (const ErrorText& e : kErrors) {
    if (e.code == err) return &e;
  }
  return nullptr;
}

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

const char* cudaGetErrorName(cudaError_t err) {
  const ErrorText* e = find_error(err);
  return e != nullptr ? e->name : "cudaErrorUnknown";
}

const char* cudaGetErrorString(cudaError_t err) {
  const ErrorText* e = find_error(err);
  return e != nullptr ? e->text : "unrecognized error code";
}

cudaError_t cudaGetLastError(void) {
  std::lock_guard<std::recursive_mutex> guard(device().lock);
  if (device().sticky != cudaSuccess) return device().sticky;
  const cudaError_t err = tls_last_error;
  tls_last_error = cudaSuccess;
  return err;
}

cudaError_t cudaPeekAtLastError(void) {
  std::lock_guard<std::recursive_mutex> guard(device().lock);
  return device().sticky != cudaSuccess ? device().sticky : tls_last_error;
}

cudaError_t cudaGetDeviceCount(int* count) {
  if (count == nullptr) return result(cudaErrorInvalidValue);
  const std::size_t n = env_bytes("LOGREG_EMU_DEVICES", 1);
  *count = n > 0 ? 1 : 0;
  return result(n > 0 ? cudaSuccess : cudaErrorNoDevice);
}

cudaError_t cudaSetDevice(int dev) {
  EMU_ENTER();
  if (dev != 0) return result(cudaErrorInvalidDevice);
  device().current_device = dev;
  return cudaSuccess;
}

cudaError_t cudaGetDevice(int* dev) {
  EMU_ENTER();
  if (dev == nullptr) return result(cudaErrorInvalidValue);
  *dev = device().current_device;
  return cudaSuccess;
}

cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int dev) {
  EMU_ENTER();
  if (prop == nullptr) return result(cudaErrorInvalidValue);
  if (dev != 0) return result(cudaErrorInvalidDevice);
  std::memset(prop, 0, sizeof *prop);
  std::snprintf(prop->name, sizeof prop->name, "%s", "logreg_cuda emulated device (CPU)");
  prop->major = 9;
  prop->minor = 0;
  prop->totalGlobalMem = total_bytes();
  prop->sharedMemPerBlock = kDefaultSharedBytes;
  prop->sharedMemPerBlockOptin = kMaxSharedBytesOptIn;
  prop->sharedMemPerMultiprocessor = 228 << 10;
  prop->regsPerBlock = 65536;
  prop->warpSize = 32;
  prop->maxThreadsPerBlock = 1024;
  prop->maxThreadsDim[0] = 1024;
  prop->maxThreadsDim[1] = 1024;
  prop->maxThreadsDim[2] = 64;
  prop->maxGridSize[0] = 0x7fffffff;
  prop->maxGridSize[1] = 65535;
  prop->maxGridSize[2] = 65535;
  prop->multiProcessorCount = 1;
  prop->maxThreadsPerMultiProcessor = 2048;
  prop->l2CacheSize = 50 << 20;
  prop->memoryBusWidth = 5120;
  prop->unifiedAddressing = 1;
  prop->concurrentKernels = 0;
  prop->asyncEngineCount = 1;
  return cudaSuccess;
}

cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total) {
  EMU_ENTER();
  if (free_bytes == nullptr || total == nullptr) return result(cudaErrorInvalidValue);
  *total = total_bytes();
  const std::size_t unused = *total - std::min(*total, device().device_bytes);
  *free_bytes = std::min(unused, env_bytes("LOGREG_EMU_FREE_BYTES", unused));
  return cudaSuccess;
}

cudaError_t cudaDeviceSynchronize(void) {
  EMU_ENTER();
  EMU_UNSAFE_DURING_CAPTURE("cudaDeviceSynchronize");
  drain_all();
  return result(device().sticky);
}

cudaError_t cudaDeviceReset(void) {
  cuda_emu::reset_device();
  return cudaSuccess;
}

cudaError_t cudaRuntimeGetVersion(int* version) {
  if (version == nullptr) return result(cudaErrorInvalidValue);
  *version = CUDART_VERSION;
  return cudaSuccess;
}

cudaError_t cudaDriverGetVersion(int* version) {
  if (version == nullptr) return result(cudaErrorInvalidValue);
  *version = CUDART_VERSION;
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

cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned int flags) {
  EMU_ENTER();
  if (stream == nullptr || (flags & ~static_cast<unsigned>(cudaStreamNonBlocking)) != 0) {
    return result(cudaErrorInvalidValue);
  }
  Stream* s = new Stream;
  s->flags = flags;
  device().streams.insert(s);
  *stream = reinterpret_cast<cudaStream_t>(s);
  return cudaSuccess;
}

cudaError_t cudaStreamCreate(cudaStream_t* stream) { return cudaStreamCreateWithFlags(stream, cudaStreamDefault); }

cudaError_t cudaStreamDestroy(cudaStream_t stream) {
  std::lock_guard<std::recursive_mutex> guard(device().lock);
  Stream* s = as_stream(stream);
  if (s == nullptr || s->legacy) return result(cudaErrorInvalidResourceHandle);
  drain(s);  // work already enqueued still runs
  device().streams.erase(s);
  delete s->capture;
  delete s;
  return cudaSuccess;
}

cudaError_t cudaStreamSynchronize(cudaStream_t stream) {
  EMU_ENTER();
  Stream* s = as_stream(stream);
  if (s == nullptr) return result(cudaErrorInvalidResourceHandle);
  if (s->capture != nullptr) {
    s->capture_invalidated = true;
    return result(cudaErrorStreamCaptureUnsupported);
  }
  EMU_UNSAFE_DURING_CAPTURE("cudaStreamSynchronize");
  order_with_legacy(s);
  drain(s);
  return result(device().sticky);
}

// The device makes progress when polled: a query answers for the state before the call, then runs the stream.
cudaError_t cudaStreamQuery(cudaStream_t stream) {
  EMU_ENTER();
  Stream* s = as_stream(stream);
  if (s == nullptr) return result(cudaErrorInvalidResourceHandle);
  if (s->capture != nullptr) {
    s->capture_invalidated = true;
    return result(cudaErrorStreamCaptureUnsupported);
  }
  const bool done = s->executed == s->enqueued;
  drain(s);
  return done ? device().sticky : result(cudaErrorNotReady);
}

cudaError_t cudaStreamWaitEvent(cudaStream_t stream, cudaEvent_t event, unsigned int) {
  EMU_ENTER();
  Stream* s = as_stream(stream);
  Event* e = as_event(event);
  if (s == nullptr || e == nullptr) return result(cudaErrorInvalidResourceHandle);
  if (e->stream == nullptr) return cudaSuccess;  // never recorded: nothing to wait for
  if (s->capture != nullptr && !e->captured) {
    s->capture_invalidated = true;
    return result(cudaErrorStreamCaptureIsolation);
  }
  if (e->captured) return result(enqueue_on(s, "cudaStreamWaitEvent", [] {}));
  Stream* target = e->stream;
  const std::uint64_t seq = e->seq;
  return result(enqueue_on(s, "cudaStreamWaitEvent", [target, seq] { run_until(target, seq); }));
}

cudaError_t cudaEventCreateWithFlags(cudaEvent_t* event, unsigned int flags) {
  EMU_ENTER();
  if (event == nullptr) return result(cudaErrorInvalidValue);
  Event* e = new Event;
  e->flags = flags;
  device().events.insert(e);
  *event = reinterpret_cast<cudaEvent_t>(e);
  return cudaSuccess;
}

cudaError_t cudaEventCreate(cudaEvent_t* event) { return cudaEventCreateWithFlags(event, cudaEventDefault); }

cudaError_t cudaEventDestroy(cudaEvent_t event) {
  std::lock_guard<std::recursive_mutex> guard(device().lock);
  Event* e = as_event(event);
  if (e == nullptr) return result(cudaErrorInvalidResourceHandle);
  device().events.erase(e);
  delete e;
  return cudaSuccess;
}

cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream) {
  EMU_ENTER();
  Stream* s = as_stream(stream);
  Event* e = as_event(event);
  if (s == nullptr || e == nullptr) return result(cudaErrorInvalidResourceHandle);
  if (s->capture != nullptr) {
    e->captured = true;
    e->stream = s;
    return result(enqueue_on(s, "cudaEventRecord", [] {}));
  }
  const cudaError_t err = enqueue_on(s, "cudaEventRecord", [e] { e->time_ms = now_ms(); });
  if (err != cudaSuccess) return result(err);
  e->captured = false;
  e->stream = s;
  e->seq = s->enqueued;
  return cudaSuccess;
}

cudaError_t cudaEventQuery(cudaEvent_t event) {
  EMU_ENTER();
  Event* e = as_event(event);
  if (e == nullptr) return result(cudaErrorInvalidResourceHandle);
  if (e->stream == nullptr) return cudaSuccess;
  const bool done = e->stream->executed >= e->seq;
  run_until(e->stream, e->seq);
  return done ? device().sticky : result(cudaErrorNotReady);
}

cudaError_t cudaEventSynchronize(cudaEvent_t event) {
  EMU_ENTER();
  Event* e = as_event(event);
  if (e == nullptr) return result(cudaErrorInvalidResourceHandle);
  if (e->stream == nullptr) return cudaSuccess;
  if (e->captured) return result(cudaErrorStreamCaptureUnsupported);
  run_until(e->stream, e->seq);
  return result(device().sticky);
}

cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end) {
  EMU_ENTER();
  Event* a = as_event(start);
  Event* b = as_event(end);
  if (ms == nullptr) return result(cudaErrorInvalidValue);
  if (a == nullptr || b == nullptr) return result(cudaErrorInvalidResourceHandle);
  if ((a->flags & cudaEventDisableTiming) != 0 || (b->flags & cudaEventDisableTiming) != 0) {
    return result(cudaErrorInvalidResourceHandle);
  }
  if (a->stream == nullptr || b->stream == nullptr) return result(cudaErrorInvalidResourceHandle);
  if (a->stream->executed < a->seq || b->stream->executed < b->seq) return result(cudaErrorNotReady);
  *ms = static_cast<float>(b->time_ms - a->time_ms);
  return cudaSuccess;
}

cudaError_t cudaStreamBeginCapture(cudaStream_t stream, cudaStreamCaptureMode mode) {
  EMU_ENTER();
  Stream* s = as_stream(stream);
  if (s == nullptr) return result(cudaErrorInvalidResourceHandle);
  if (s->legacy) return result(cudaErrorStreamCaptureUnsupported);
  if (s->capture != nullptr) return result(cudaErrorIllegalState);
  s->capture = new Graph;
  s->capture_invalidated = false;
  s->capture_mode = mode;
  s->capture_thread = std::this_thread::get_id();
  return cudaSuccess;
}

cudaError_t cudaStreamEndCapture(cudaStream_t stream, cudaGraph_t* graph) {
  std::lock_guard<std::recursive_mutex> guard(device().lock);
  Stream* s = as_stream(stream);
  if (s == nullptr || graph == nullptr) return result(cudaErrorInvalidValue);
  if (s->capture == nullptr) return result(cudaErrorIllegalState);
  if (s->capture_mode != cudaStreamCaptureModeRelaxed && s->capture_thread != std::this_thread::get_id()) {
    return result(cudaErrorStreamCaptureWrongThread);
  }
  Graph* g = s->capture;
  s->capture = nullptr;
  if (s->capture_invalidated) {
    delete g;
    *graph = nullptr;
    return result(cudaErrorStreamCaptureInvalidated);
  }
  *graph = reinterpret_cast<cudaGraph_t>(g);
  return device().sticky != cudaSuccess ? result(device().sticky) : cudaSuccess;
}

cudaError_t cudaStreamIsCapturing(cudaStream_t stream, cudaStreamCaptureStatus* status) {
  EMU_ENTER();
  Stream* s = as_stream(stream);
  if (s == nullptr || status == nullptr) return result(cudaErrorInvalidValue);
  *status = s->capture == nullptr ? cudaStreamCaptureStatusNone
                                  : (s->capture_invalidated ? cudaStreamCaptureStatusInvalidated
                                                            : cudaStreamCaptureStatusActive);
  return cudaSuccess;
}

cudaError_t cudaGraphInstantiate(cudaGraphExec_t* exec, cudaGraph_t graph, unsigned long long) {
  EMU_ENTER();
  if (exec == nullptr || graph == nullptr) return result(cudaErrorInvalidValue);
  *exec = reinterpret_cast<cudaGraphExec_t>(new Graph(*reinterpret_cast<Graph*>(graph)));
  return cudaSuccess;
}

cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t stream) {
  EMU_ENTER();
  Stream* s = as_stream(stream);
  if (exec == nullptr) return result(cudaErrorInvalidValue);
  if (s == nullptr) return result(cudaErrorInvalidResourceHandle);
  const Graph* g = reinterpret_cast<const Graph*>(exec);
  auto nodes = std::make_shared<std::vector<Op>>(g->nodes);  // the executable graph may be destroyed before it runs
  return result(enqueue_on(s, "cudaGraphLaunch", [nodes] {
    for (const Op& op : *nodes) {
      if (device().sticky != cudaSuccess) return;
      op.run();
    }
  }));
}

cudaError_t cudaGraphDestroy(cudaGraph_t graph) {
  delete reinterpret_cast<Graph*>(graph);
  return cudaSuccess;
}

cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec) {
  delete reinterpret_cast<Graph*>(exec);
  return cudaSuccess;
}

cudaError_t cudaFuncGetAttributes(cudaFuncAttributes* attributes, const void* func) {
  EMU_ENTER();
  if (attributes == nullptr || func == nullptr) return result(cudaErrorInvalidDeviceFunction);
  std::memset(attributes, 0, sizeof *attributes);
  attributes->maxThreadsPerBlock = 1024;
  attributes->numRegs = 32;
  attributes->ptxVersion = 90;
  attributes->binaryVersion = 90;
  const auto it = device().functions.find(func);
  attributes->maxDynamicSharedSizeBytes =
      it == device().functions.end() ? static_cast<int>(kDefaultSharedBytes) : it->second.max_dynamic_shared;
  return cudaSuccess;
}

cudaError_t cudaFuncSetAttribute(const void* func, cudaFuncAttribute attribute, int value) {
  EMU_ENTER();
  if (func == nullptr) return result(cudaErrorInvalidDeviceFunction);
  if (attribute == cudaFuncAttributeMaxDynamicSharedMemorySize) {
    if (value < 0 || static_cast<std::size_t>(value) > kMaxSharedBytesOptIn) return result(cudaErrorInvalidValue);
    device().functions[func].max_dynamic_shared = value;
  }
  return cudaSuccess;
}

cudaError_t cudaProfilerStart(void) { return cudaSuccess; }
cudaError_t cudaProfilerStop(void) { return cudaSuccess; }

}  // extern "C"
