// The epoch plan: which kernels run an SGD epoch of the CUDA backend, decided in one place from one table of
// kernel choices, each row holding that choice's limits. Adding a kernel choice is a value of CudaKernel with
// its name (kCudaKernelNames, logreg/cuda_backend.hpp) and a row of kEpochKernels (epoch_plan.cpp). The input
// paths only supply batches (resident_input.hpp, streamed_input.hpp); the epoch runner (epoch_runner.hpp)
// runs what the plan says.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <string>

#include "kernels.hpp"
#include "logreg/cuda_backend.hpp"

namespace logreg::cuda {

// What the plan decides from.
struct EpochShape {
  int batch = 0;
  int dim = 0;
  int classes = 0;
  bool momentum = false;
  bool resident = false;         // the training set is on the device
  std::size_t shared_optin = 0;  // the device's sharedMemPerBlockOptin
};

// One way to run the SGD steps of an epoch: a row of the plan's table.
struct EpochKernel {
  CudaKernel kernel;     // the --kernel value that asks for it
  bool needs_resident;   // runs on the training set on the device only
  int auto_max_batch;    // --kernel auto takes it for batches up to this size (rows tried in table order)
  // Dynamic shared memory it needs for this shape on this device; 0 when it cannot run it. Null: any shape.
  std::size_t (*shared_bytes)(const EpochShape& shape);
  // The kernel's launcher: enqueues the whole epoch in one launch over the set on the device
  // (DeviceStep::epoch_args), with the shared memory shared_bytes gave. Null: step by step over the input
  // path's batches (GEMMs and element-wise kernels, replayed as a step graph where the input path allows).
  void (*run_epoch)(const kernels::PersistentEpochArgs& args, std::size_t shared_bytes, cudaStream_t stream);
  // What it can run, for the refusal of a shape it cannot (null where it runs any shape); given the shape, so
  // a kernel whose limits are the device's (clusters, their occupancy) can name the one that failed.
  std::string (*limits)(const EpochShape& shape);
  // Floats of device scratch its launch needs (PersistentEpochArgs::scratch); null where it needs none.
  std::size_t (*scratch_floats)(const EpochShape& shape);
};

// The plan of one epoch: the row that runs it and the shared memory it asked for.
struct EpochPlan {
  const EpochKernel* kernel;
  std::size_t shared_bytes;
  bool one_launch() const { return kernel->run_epoch != nullptr; }
};

// The row of `kernel` (kAuto has none: throws std::logic_error).
const EpochKernel& epoch_kernel(CudaKernel kernel);

// Refuses, before anything is uploaded, a kernel that needs the set on the device when it is streamed.
void check_residency(CudaKernel requested, bool resident);

// The plan for `requested` at this shape: kAuto takes the first row that can run the shape and whose
// auto_max_batch admits the batch; another choice runs as asked or is refused (UsageError naming the
// option and the limits).
EpochPlan plan_epoch(CudaKernel requested, const EpochShape& shape);

}  // namespace logreg::cuda
