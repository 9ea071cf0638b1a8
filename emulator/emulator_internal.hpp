// What the emulator's parts share and nothing outside emulator/ may use: the memory registry, the stream
// queue that cuBLAS enqueues on, fault reporting (and the pointers in its messages) and the block scheduler's
// entry point.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <functional>
#include <string>

#include "cuda_emulator.hpp"

namespace cuda_emu::detail {

enum class MemoryKind { kNone, kDevice, kPinned };

// Where [p, p + bytes) lies: entirely inside one cudaMalloc allocation (kDevice), one cudaMallocHost
// allocation (kPinned), or not (kNone). A null p with bytes == 0 is kDevice (an empty range anywhere).
MemoryKind memory_kind(const void* p, std::size_t bytes);

// Enqueues `op` on `stream` (or records it into the graph being captured on it). `what` names it in faults.
cudaError_t enqueue(cudaStream_t stream, const char* what, std::function<void()> op);

// Reports a fault found while an operation ran (a kernel touching host memory, a barrier deadlock, ...):
// prints it to stderr with the kernel's or call's name and makes `err` the device's sticky error, so every
// later runtime call returns it, as after a fault on a GPU.
void report_fault(cudaError_t err, const std::string& what);

// Runs every block of `launch`, the threads of each as fibers: one after another, or, for a cluster or
// cooperative launch, the blocks that must wait for each other together (block_group.cpp). Returns "" or
// what went wrong inside (a barrier that not every thread reached, a warp op a lane never joined, ...).
std::string run_blocks(const KernelLaunch& launch);

// p as printf's %p writes it, for the messages of faults.
std::string pointer_text(const void* p);

// The cluster shape a kernel is compiled with (__cluster_dims__, cluster_dims.h); false when it has none.
bool compiled_cluster_dims(const void* function, dim3* out);

}  // namespace cuda_emu::detail
