// The CUDA emulator's force-included header (LOGREG_CUDA=emulated: g++ -include cuda_emulator.hpp): the
// real CUDA 13 headers for the types, enums and runtime/cuBLAS declarations, then what nvcc would provide
// for device code: the execution-space keywords, threadIdx/blockIdx/blockDim/gridDim/warpSize, the
// intrinsics (barriers, warp shuffles and votes, atomics, fast maths, cp.async), cuda_emu::launch(), which
// kernels/kernel_launch.cuh calls instead of <<< >>>, the typed cudaLaunchKernelEx and
// cudaLaunchCooperativeKernel, and __cluster_dims__ (cluster_dims.h). The runtime itself is in runtime.cpp,
// the block scheduler (threads of a block as cooperative fibers; each co-running block's static __shared__
// variables) in block_scheduler.cpp and block_group.cpp, asynchronous copies and mbarriers in async_copy.cpp,
// cuBLAS in cublas.cpp; cooperative groups and cuda::ptx in the headers of those names.
#pragma once

#include <cuda_profiler_api.h>
#include <cuda_runtime.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#define LOGREG_CUDA_EMULATED 1

// ---- Execution spaces and qualifiers ----------------------------------------------------------------
// Block-shared variables are statics in one section of the program, `logreg_emu_shared`: every thread of the
// running block sees the same object. Blocks of an ordinary launch run one after another and use the section
// in turn; when blocks run together (a cluster or a cooperative launch), each has its own copy of the section,
// swapped in while its fibers run, so each block sees its own variables (block_group.cpp), and
// cluster.map_shared_rank() reaches a peer's copy. `static __shared__` is not accepted (write `__shared__`).
#undef __host__
#undef __device__
#undef __global__
#undef __shared__
#undef __constant__
#undef __managed__
#define __host__
#define __device__
#define __global__
#define __shared__ __attribute__((section("logreg_emu_shared"))) static
#define __constant__ static
#define __managed__
#define __launch_bounds__(...)
#include "cluster_dims.h"  // __cluster_dims__(x, y, z): the kernel runs in clusters of that shape
#ifndef __noinline__
#define __noinline__ __attribute__((noinline))
#endif

// ---- Built-in variables ---------------------------------------------------------------------------------
// Set by the block scheduler before it switches to a thread's fiber. Plain globals, not thread_local: kernels
// run one at a time under the runtime's lock, and UBSan reports extern thread_local members as null.
extern uint3 threadIdx;
extern uint3 blockIdx;
extern dim3 blockDim;
extern dim3 gridDim;
constexpr int warpSize = 32;

namespace cuda_emu {

// ---- What the intrinsics call (block_scheduler.cpp) ---------------------------------------------------
enum class WarpOp { kSync, kShflIdx, kShflUp, kShflDown, kShflXor, kBallot, kAny, kAll };

void block_barrier();  // __syncthreads
// One warp-synchronous exchange: every lane of `mask` deposits `value` and `param` (source lane, delta or
// lane mask) and waits until all of them have; returns what the op gives this lane.
std::uint64_t warp_exchange(WarpOp op, unsigned mask, std::uint64_t value, int param, int width);
unsigned active_mask();                // __activemask: the lanes of this warp that have not exited
void* dynamic_shared_memory();         // base of the launch's dynamic shared memory (extern __shared__)

// ---- Launches (runtime.cpp) -----------------------------------------------------------------------------
struct KernelLaunch {
  const char* name = "";
  const void* function = nullptr;  // the kernel, for its attributes (cudaFuncSetAttribute)
  dim3 grid;
  dim3 block;
  std::size_t shared_bytes = 0;
  int max_threads = 0;             // the kernel's __launch_bounds__ as the launcher states it; 0 = none
  bool clustered = false;          // launched with cudaLaunchAttributeClusterDimension
  dim3 cluster = dim3(1, 1, 1);    // blocks per cluster, when clustered
  bool cooperative = false;        // cudaLaunchCooperativeKernel or cudaLaunchAttributeCooperative
  std::vector<const void*> pointer_args;  // every pointer argument: must be device or pinned memory
  std::function<void()> thread_body;      // runs the kernel for the current thread
};

// Checks the configuration (the error is returned, as cudaGetLastError would report it) and enqueues
// the launch on `stream`: it runs when the stream is synchronised, like a GPU that is always behind.
cudaError_t enqueue_launch(KernelLaunch launch, cudaStream_t stream);

template <class T>
void collect_pointer(std::vector<const void*>& out, const T& v) {
  if constexpr (std::is_pointer_v<T>) out.push_back(static_cast<const void*>(v));
}

// The launch of kernel(args...), with the kernel's parameters copied once, as the GPU does; every thread of
// every block runs kernel(params...).
template <class... Params, class... Args>
KernelLaunch make_launch(const char* name, void (*kernel)(Params...), dim3 grid, dim3 block, std::size_t shared_bytes,
                         int max_threads, Args&&... args) {
  static_assert(sizeof...(Params) == sizeof...(Args), "kernel launched with the wrong number of arguments");
  auto params = std::make_shared<std::tuple<std::decay_t<Params>...>>(std::forward<Args>(args)...);
  KernelLaunch l;
  l.name = name;
  l.function = reinterpret_cast<const void*>(kernel);
  l.grid = grid;
  l.block = block;
  l.shared_bytes = shared_bytes;
  l.max_threads = max_threads;
  std::apply([&](const auto&... p) { (collect_pointer(l.pointer_args, p), ...); }, *params);
  l.thread_body = [kernel, params] { std::apply(kernel, *params); };
  return l;
}

// kernel<<<grid, block, shared_bytes, stream>>>(args...).
template <class... Params, class... Args>
cudaError_t launch(const char* name, void (*kernel)(Params...), dim3 grid, dim3 block, std::size_t shared_bytes,
                   cudaStream_t stream, int max_threads, Args&&... args) {
  return enqueue_launch(make_launch(name, kernel, grid, block, shared_bytes, max_threads, std::forward<Args>(args)...),
                        stream);
}

// Takes the launch attributes the emulator runs (cluster dimension, cooperative) from `config`; the others
// (priorities, scheduling hints) change nothing on one emulated device.
void apply_launch_attributes(KernelLaunch& launch, const cudaLaunchConfig_t& config);

// cudaLaunchKernelEx(&config, kernel, args...), the spelling of cuda_runtime.h (the macro below routes it
// here, since the runtime's own template passes untyped void** arguments).
template <class... Params, class... Args>
cudaError_t launch_ex(const cudaLaunchConfig_t* config, void (*kernel)(Params...), Args&&... args) {
  if (config == nullptr) return cudaErrorInvalidValue;
  KernelLaunch l = make_launch("cudaLaunchKernelEx", kernel, config->gridDim, config->blockDim,
                               config->dynamicSmemBytes, 0, std::forward<Args>(args)...);
  apply_launch_attributes(l, *config);
  return enqueue_launch(std::move(l), config->stream);
}

// cudaLaunchCooperativeKernel(kernel, grid, block, args, shared, stream): args[i] points at parameter i.
template <class... Params, std::size_t... I>
cudaError_t launch_cooperative_unpacked(void (*kernel)(Params...), dim3 grid, dim3 block, void** args,
                                        std::size_t shared_bytes, cudaStream_t stream, std::index_sequence<I...>) {
  KernelLaunch l = make_launch("cudaLaunchCooperativeKernel", kernel, grid, block, shared_bytes, 0,
                               *static_cast<std::decay_t<Params>*>(args[I])...);
  l.cooperative = true;
  return enqueue_launch(std::move(l), stream);
}
template <class... Params>
cudaError_t launch_cooperative(void (*kernel)(Params...), dim3 grid, dim3 block, void** args,
                               std::size_t shared_bytes = 0, cudaStream_t stream = nullptr) {
  if (sizeof...(Params) > 0 && args == nullptr) return cudaErrorInvalidValue;
  return launch_cooperative_unpacked(kernel, grid, block, args, shared_bytes, stream,
                                     std::index_sequence_for<Params...>{});
}

// ---- Asynchronous copies and mbarriers (async_copy.cpp): <cuda_pipeline.h> and emulator/cuda/ptx call these --
void async_copy(void* dst, const void* src, std::size_t bytes);
void async_commit();
void async_wait_prior(std::size_t newer);
void mbarrier_init(std::uint64_t* bar, unsigned count);
std::uint64_t mbarrier_arrive(std::uint64_t* bar, unsigned count, unsigned tx);  // returns the phase arrived on
// An arrive on an mbarrier of any block of the cluster (.shared::cluster: a map_shared_rank address).
void mbarrier_arrive_cluster(std::uint64_t* bar, unsigned count, unsigned tx);
void mbarrier_expect_tx(std::uint64_t* bar, unsigned tx);
bool mbarrier_wait_parity(std::uint64_t* bar, unsigned parity);  // blocks until that phase has completed
void bulk_copy(void* dst, const void* src, unsigned bytes, std::uint64_t* bar);

// ---- What emulator/cooperative_groups.h calls (block_group.cpp) --------------------------------------------
void cluster_sync();
void cluster_barrier_arrive();  // barrier.cluster.arrive: counts towards the phase, does not wait
void cluster_barrier_wait();    // barrier.cluster.wait: until the phase this thread arrived in completes
unsigned cluster_block_rank();
unsigned cluster_num_blocks();
dim3 cluster_dims();
void* cluster_map_shared_rank(const void* p, unsigned rank);
void grid_sync();
bool grid_is_cooperative();

// Enqueues host code that stands for device work (a Thrust algorithm on the CPP system) on `stream`: it runs
// in stream order, when the stream is synchronised.
cudaError_t enqueue_host_work(cudaStream_t stream, const char* what, std::function<void()> work);

// For tests: the last fault the emulator reported (kernel name and what went wrong), "" if none.
const char* last_fault();
// Ends the current "device": frees nothing, but clears a sticky error (like cudaDeviceReset) so that a test
// that provoked a fault leaves a usable device behind.
void reset_device();

template <class T>
std::uint64_t to_bits(T v) {
  static_assert(sizeof(T) <= sizeof(std::uint64_t), "warp exchange of a type wider than 8 bytes");
  std::uint64_t bits = 0;
  std::memcpy(&bits, &v, sizeof(T));
  return bits;
}
template <class T>
T from_bits(std::uint64_t bits) {
  T v;
  std::memcpy(&v, &bits, sizeof(T));
  return v;
}

}  // namespace cuda_emu

// ---- Intrinsics -------------------------------------------------------------------------------------------
inline void __syncthreads() { cuda_emu::block_barrier(); }
inline void __syncwarp(unsigned mask = 0xffffffffu) { (void)cuda_emu::warp_exchange(cuda_emu::WarpOp::kSync, mask, 0, 0, 32); }
inline void __threadfence() {}
inline void __threadfence_block() {}

// The asynchronous global -> shared copies of <cuda_pipeline.h> (cp.async): the destination reads as poison
// (NaN floats, 0xAB bytes) until the issuing thread's __pipeline_wait_prior covers the copy's commit group,
// where the data lands (async_copy.cpp). A kernel that reads it before that wait reads poison.
inline void __pipeline_memcpy_async(void* dst, const void* src, std::size_t size, std::size_t = 0) {
  cuda_emu::async_copy(dst, src, size);
}
inline void __pipeline_commit() { cuda_emu::async_commit(); }
inline void __pipeline_wait_prior(std::size_t prior) { cuda_emu::async_wait_prior(prior); }

template <class T>
T __shfl_sync(unsigned mask, T var, int src_lane, int width = warpSize) {
  return cuda_emu::from_bits<T>(cuda_emu::warp_exchange(cuda_emu::WarpOp::kShflIdx, mask, cuda_emu::to_bits(var), src_lane, width));
}
template <class T>
T __shfl_up_sync(unsigned mask, T var, unsigned delta, int width = warpSize) {
  return cuda_emu::from_bits<T>(cuda_emu::warp_exchange(cuda_emu::WarpOp::kShflUp, mask, cuda_emu::to_bits(var),
                                                        static_cast<int>(delta), width));
}
template <class T>
T __shfl_down_sync(unsigned mask, T var, unsigned delta, int width = warpSize) {
  return cuda_emu::from_bits<T>(cuda_emu::warp_exchange(cuda_emu::WarpOp::kShflDown, mask, cuda_emu::to_bits(var),
                                                        static_cast<int>(delta), width));
}
template <class T>
T __shfl_xor_sync(unsigned mask, T var, int lane_mask, int width = warpSize) {
  return cuda_emu::from_bits<T>(cuda_emu::warp_exchange(cuda_emu::WarpOp::kShflXor, mask, cuda_emu::to_bits(var), lane_mask, width));
}
inline unsigned __ballot_sync(unsigned mask, int predicate) {
  return static_cast<unsigned>(cuda_emu::warp_exchange(cuda_emu::WarpOp::kBallot, mask, predicate != 0, 0, 32));
}
inline int __any_sync(unsigned mask, int predicate) {
  return static_cast<int>(cuda_emu::warp_exchange(cuda_emu::WarpOp::kAny, mask, predicate != 0, 0, 32));
}
inline int __all_sync(unsigned mask, int predicate) {
  return static_cast<int>(cuda_emu::warp_exchange(cuda_emu::WarpOp::kAll, mask, predicate != 0, 0, 32));
}
inline unsigned __activemask() { return cuda_emu::active_mask(); }

inline int __popc(unsigned x) { return __builtin_popcount(x); }
inline int __popcll(unsigned long long x) { return __builtin_popcountll(x); }
inline int __clz(int x) { return x == 0 ? 32 : __builtin_clz(static_cast<unsigned>(x)); }
inline int __ffs(int x) { return __builtin_ffs(x); }

// Atomics: the threads of a block are fibers on one host thread and never interrupted inside a call.
template <class T>
T atomicAdd(T* address, T val) {
  const T old = *address;
  *address = old + val;
  return old;
}
template <class T>
T atomicSub(T* address, T val) {
  const T old = *address;
  *address = old - val;
  return old;
}
template <class T>
T atomicMax(T* address, T val) {
  const T old = *address;
  *address = old < val ? val : old;
  return old;
}
template <class T>
T atomicMin(T* address, T val) {
  const T old = *address;
  *address = val < old ? val : old;
  return old;
}
template <class T>
T atomicExch(T* address, T val) {
  const T old = *address;
  *address = val;
  return old;
}
template <class T>
T atomicCAS(T* address, T compare, T val) {
  const T old = *address;
  if (old == compare) *address = val;
  return old;
}

// Fast-maths intrinsics, emulated with the exact functions (the GPU's approximations differ in the last
// bits; tests compare with tolerances).
inline float __expf(float x) { return std::exp(x); }
inline float __logf(float x) { return std::log(x); }
inline float __fdividef(float a, float b) { return a / b; }
inline float __saturatef(float x) { return x < 0.0f ? 0.0f : (x > 1.0f ? 1.0f : x); }
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
template <class T>
T __ldg(const T* p) { return *p; }

// cuda_runtime.h's launch templates pass the arguments as void**, which the emulator cannot call a kernel
// with: its typed versions take their place. Only kernels whose type is known (not a const void*) launch.
#define cudaLaunchKernelEx(...) ::cuda_emu::launch_ex(__VA_ARGS__)
#define cudaLaunchCooperativeKernel(...) ::cuda_emu::launch_cooperative(__VA_ARGS__)

// The runtime's C++ overloads that cuda_runtime.h declares only for nvcc.
template <class T>
cudaError_t cudaFuncGetAttributes(cudaFuncAttributes* attributes, T* entry) {
  return ::cudaFuncGetAttributes(attributes, reinterpret_cast<const void*>(entry));
}
template <class T>
cudaError_t cudaFuncSetAttribute(T* entry, cudaFuncAttribute attribute, int value) {
  return ::cudaFuncSetAttribute(reinterpret_cast<const void*>(entry), attribute, value);
}
