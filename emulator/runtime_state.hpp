// The emulated runtime's state and the stream machinery every part of it uses (internal to emulator/):
// the device (allocations, streams, events, kernel attributes, the sticky error), the lazily run stream
// queues, capture bookkeeping and the per-call entry check.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "emulator_internal.hpp"

namespace cuda_emu::detail {


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

inline Device& device() {
  static Device* d = new Device;  // never destroyed: CUDA calls may come from static destructors
  return *d;
}

inline thread_local cudaError_t tls_last_error = cudaSuccess;

inline cudaError_t result(cudaError_t err) {
  if (err != cudaSuccess) tls_last_error = err;
  return err;
}

// Every call starts here: after a fault the device is unusable, as on a GPU.
#define EMU_ENTER()                                     \
  std::lock_guard<std::recursive_mutex> guard_(device().lock); \
  if (device().sticky != cudaSuccess) return result(device().sticky)

inline std::size_t env_bytes(const char* name, std::size_t fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  char* end = nullptr;
  const unsigned long long n = std::strtoull(v, &end, 10);
  return end != nullptr && *end == '\0' ? static_cast<std::size_t>(n) : fallback;
}

inline std::size_t total_bytes() { return env_bytes("LOGREG_EMU_TOTAL_BYTES", kDefaultTotalBytes); }

// The emulated device's shape, settable so that the fallbacks for smaller GPUs run here too:
//   LOGREG_EMU_SMEM_PER_BLOCK  sharedMemPerBlockOptin in bytes (default 227 KiB, an H100; 101376 is an
//                              RTX 30/40's 99 KiB, 65536 a T4's 64 KiB), the most cudaFuncSetAttribute allows
//   LOGREG_EMU_CC              compute capability as digits (default 90; e.g. 86, 75)
//   LOGREG_EMU_SMS             multiProcessorCount (default 1)
//   LOGREG_EMU_CLUSTERS        thread block clusters: 1 (default) where the compute capability has them (9.0
//                              and later), 0 for a GPU without them (sm_80 and older), where cluster launches fail
inline std::size_t shared_optin_bytes() { return env_bytes("LOGREG_EMU_SMEM_PER_BLOCK", kMaxSharedBytesOptIn); }
inline int compute_capability() { return static_cast<int>(env_bytes("LOGREG_EMU_CC", 90)); }
inline int multiprocessors() { return static_cast<int>(env_bytes("LOGREG_EMU_SMS", 1)); }
inline bool clusters_supported() { return compute_capability() >= 90 && env_bytes("LOGREG_EMU_CLUSTERS", 1) != 0; }

// Blocks of `threads` threads and `shared_bytes` of dynamic shared memory that one multiprocessor holds at
// once: at most 32, 2048 threads and its shared memory (1 KiB of which each block reserves).
inline int resident_blocks_per_sm(unsigned threads, std::size_t shared_bytes) {
  if (threads == 0) return 0;
  const unsigned warps = (threads + 31) / 32;
  int n = std::min(32, static_cast<int>(64 / warps));
  const std::size_t per_sm = shared_optin_bytes() + (1 << 10);
  n = std::min(n, static_cast<int>(per_sm / (shared_bytes + (1 << 10))));
  return n;
}

inline Stream* as_stream(cudaStream_t s) {
  if (s == nullptr || s == cudaStreamLegacy || s == cudaStreamPerThread) return &device().legacy;
  Stream* stream = reinterpret_cast<Stream*>(s);
  return device().streams.count(stream) != 0 ? stream : nullptr;
}

inline Event* as_event(cudaEvent_t e) {
  Event* event = reinterpret_cast<Event*>(e);
  return device().events.count(event) != 0 ? event : nullptr;
}

inline double now_ms() {
  using namespace std::chrono;
  return duration<double, std::milli>(steady_clock::now().time_since_epoch()).count();
}

// Runs `s`'s ops until `target` of them have run. After a fault, ops are dropped, not run.
inline void run_until(Stream* s, std::uint64_t target) {
  while (s->executed < target && !s->pending.empty()) {
    Op op = std::move(s->pending.front());
    s->pending.pop_front();
    if (device().sticky == cudaSuccess) op.run();
    ++s->executed;
  }
}

inline void drain(Stream* s) { run_until(s, s->enqueued); }

inline void drain_all() {
  drain(&device().legacy);
  for (Stream* s : device().streams) drain(s);
}

// The legacy default stream waits for every blocking stream and they for it: run what is before.
inline void order_with_legacy(Stream* s) {
  if (s->legacy) {
    for (Stream* other : device().streams) {
      if ((other->flags & cudaStreamNonBlocking) == 0) drain(other);
    }
  } else if ((s->flags & cudaStreamNonBlocking) == 0) {
    drain(&device().legacy);
  }
}

inline bool any_capture_blocks(const char* call, cudaStreamCaptureMode* mode_out) {
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

inline cudaError_t enqueue_on(Stream* s, const char* what, std::function<void()> run) {
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


}  // namespace cuda_emu::detail
