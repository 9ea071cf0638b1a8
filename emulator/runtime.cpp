// The emulated CUDA runtime: one "emulated device" (compute capability 9.0) whose memory is host memory
// (every allocation exact-sized, so AddressSanitizer sees out-of-bounds device accesses), streams whose
// work runs lazily, in order, only when something waits for it (a synchronisation, a blocking copy, an
// event), events, stream capture into graphs and graph replay, last-error handling (sticky and not),
// launch-configuration checks (clusters, a kernel's __cluster_dims__ and cooperative launches included) and
// the pointer check of every kernel argument. What it cannot show: real concurrency between streams, timing, races between blocks
// (they run one after another, or as fibers of one host thread), tensor cores.
#include <cuda_runtime.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "runtime_state.hpp"

namespace cuda_emu::detail {

std::string pointer_text(const void* p) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%p", p);
  return buf;
}

namespace {

void run_kernel(const KernelLaunch& launch) {
  for (std::size_t i = 0; i < launch.pointer_args.size(); ++i) {
    const void* p = launch.pointer_args[i];
    if (p == nullptr || memory_kind(p, 0) != MemoryKind::kNone) continue;
    report_fault(cudaErrorIllegalAddress, std::string("kernel ") + launch.name + ": pointer argument " +
                                              std::to_string(i + 1) + " (" + pointer_text(p) +
                                              ") is host memory that is neither device nor pinned memory");
    return;
  }
  const std::string fault = run_blocks(launch);
  if (!fault.empty()) report_fault(cudaErrorLaunchFailure, std::string("kernel ") + launch.name + ", " + fault);
}

std::string dims(dim3 d) { return std::to_string(d.x) + "x" + std::to_string(d.y) + "x" + std::to_string(d.z); }

// A cluster launch needs a device with clusters, a grid of whole clusters and at most 8 blocks per cluster
// (the portable size); a cooperative launch a grid whose blocks are all resident at once.
cudaError_t check_blocks_together(const KernelLaunch& launch) {
  if (launch.clustered) {
    const dim3 c = launch.cluster;
    if (!clusters_supported()) {
      device().last_fault = std::string("kernel ") + launch.name + ": a cluster launch on a device without thread " +
                            "block clusters (compute capability " + std::to_string(compute_capability()) +
                            ", LOGREG_EMU_CLUSTERS)";
      return cudaErrorNotSupported;
    }
    const unsigned long long size = static_cast<unsigned long long>(c.x) * c.y * c.z;
    if (size == 0 || size > 8 || launch.grid.x % c.x != 0 || launch.grid.y % c.y != 0 || launch.grid.z % c.z != 0) {
      device().last_fault = std::string("kernel ") + launch.name + ": cluster " + dims(c) + " for grid " +
                            dims(launch.grid) + " (the grid must be whole clusters of at most 8 blocks)";
      return cudaErrorInvalidClusterSize;
    }
  }
  if (launch.cooperative) {
    const unsigned threads = launch.block.x * launch.block.y * launch.block.z;
    const unsigned long long blocks = static_cast<unsigned long long>(launch.grid.x) * launch.grid.y * launch.grid.z;
    const unsigned long long resident =
        static_cast<unsigned long long>(resident_blocks_per_sm(threads, launch.shared_bytes)) * multiprocessors();
    if (blocks > resident) {
      device().last_fault = std::string("kernel ") + launch.name + ": cooperative launch of " + std::to_string(blocks) +
                            " blocks, more than the " + std::to_string(resident) +
                            " that can be resident at once (LOGREG_EMU_SMS multiprocessors)";
      return cudaErrorCooperativeLaunchTooLarge;
    }
  }
  return cudaSuccess;
}

}  // namespace

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
  // A kernel compiled with __cluster_dims__ runs in clusters of that shape; a launch attribute may only
  // repeat it (CUDA: the compile-time cluster size cannot be changed at launch).
  dim3 compiled;
  if (compiled_cluster_dims(launch.function, &compiled)) {
    if (launch.clustered && (launch.cluster.x != compiled.x || launch.cluster.y != compiled.y ||
                             launch.cluster.z != compiled.z)) {
      device().last_fault = std::string("kernel ") + launch.name + ": launched with cluster dimension " +
                            dims(launch.cluster) + ", but the kernel is compiled with __cluster_dims__(" +
                            std::to_string(compiled.x) + ", " + std::to_string(compiled.y) + ", " +
                            std::to_string(compiled.z) + ")";
      return result(cudaErrorInvalidClusterSize);
    }
    launch.clustered = true;
    launch.cluster = compiled;
  }
  const cudaError_t together = check_blocks_together(launch);
  if (together != cudaSuccess) return result(together);
  Stream* s = as_stream(stream);
  if (s == nullptr) return result(cudaErrorInvalidResourceHandle);
  const char* name = launch.name;
  auto shared = std::make_shared<KernelLaunch>(std::move(launch));
  return result(enqueue_on(s, name, [shared] { run_kernel(*shared); }));
}

cudaError_t enqueue_host_work(cudaStream_t stream, const char* what, std::function<void()> work) {
  EMU_ENTER();
  return result(enqueue(stream, what, std::move(work)));
}

void apply_launch_attributes(KernelLaunch& launch, const cudaLaunchConfig_t& config) {
  for (unsigned i = 0; i < config.numAttrs && config.attrs != nullptr; ++i) {
    const cudaLaunchAttribute& a = config.attrs[i];
    if (a.id == cudaLaunchAttributeClusterDimension) {
      launch.clustered = true;
      launch.cluster = dim3(a.val.clusterDim.x, a.val.clusterDim.y, a.val.clusterDim.z);
    } else if (a.id == cudaLaunchAttributeCooperative) {
      launch.cooperative = a.val.cooperative != 0;
    }
  }
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

namespace cuda_emu::detail {
namespace {

// A call on a capturing stream that a capture cannot record (a synchronisation, a query, a wait on an event
// recorded outside the capture): true, and the capture is invalidated, as CUDA does.
bool invalidates_capture(Stream* s) {
  if (s->capture == nullptr) return false;
  s->capture_invalidated = true;
  return true;
}

}  // namespace
}  // namespace cuda_emu::detail

// ---- The CUDA runtime API ---------------------------------------------------------------------------------
using namespace cuda_emu::detail;

extern "C" {

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
  if (invalidates_capture(s)) return result(cudaErrorStreamCaptureUnsupported);
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
  if (invalidates_capture(s)) return result(cudaErrorStreamCaptureUnsupported);
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
  if (!e->captured && invalidates_capture(s)) return result(cudaErrorStreamCaptureIsolation);
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

}  // extern "C"
