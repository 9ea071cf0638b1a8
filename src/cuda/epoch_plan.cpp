// The epoch plan (epoch_plan.hpp): the table of kernel choices and the rule that picks one.
#include "epoch_plan.hpp"

#include <climits>
#include <stdexcept>
#include <string>

#include "cluster_epoch.hpp"
#include "cluster_epoch_plan.hpp"
#include "grid_epoch.hpp"
#include "logreg/errors.hpp"

namespace logreg::cuda {
namespace {

// The persistent epoch (kernels/persistent_epoch.cu): its own shape limits, then the device's shared memory.
std::size_t persistent_shared_bytes(const EpochShape& s) {
  const std::size_t bytes = kernels::persistent_epoch_shared_bytes(s.batch, s.dim, s.classes, s.momentum);
  return bytes <= s.shared_optin ? bytes : 0;
}

std::string persistent_limits(const EpochShape& /*shape*/) {
  return "it needs B x D <= " + std::to_string(kernels::kPersistentMaxBatchBytes) + ", D a multiple of 16, at most " +
         std::to_string(kernels::kPersistentMaxClasses) + " classes, and the shared memory to fit";
}

// The cluster epoch (kernels/cluster_epoch.cu): its shape limits, then the device's clusters, shared memory
// and room for one cluster (plan_cluster_epoch asks the device).
std::size_t cluster_shared_bytes(const EpochShape& s) {
  const ClusterEpochPlan plan = plan_cluster_epoch(s.batch, s.dim, s.classes, s.momentum);
  return plan.runs() && plan.shared_bytes <= s.shared_optin ? plan.shared_bytes : 0;
}

std::string cluster_limits(const EpochShape& s) {
  return plan_cluster_epoch(s.batch, s.dim, s.classes, s.momentum).refusal;
}

// The grid epoch (kernels/grid_epoch.cu): its shape limits, the device's shared memory, then a cooperative
// launch of at least one block (grid_epoch_blocks asks the device).
std::size_t grid_shared_bytes(const EpochShape& s) {
  const std::size_t bytes = kernels::grid_epoch_shared_bytes(s.batch, s.dim, s.classes);
  if (bytes == 0 || bytes > s.shared_optin) return 0;
  return kernels::grid_epoch_blocks(s.batch, bytes) > 0 ? bytes : 0;
}

std::string grid_limits(const EpochShape& s) {
  const std::size_t bytes = kernels::grid_epoch_shared_bytes(s.batch, s.dim, s.classes);
  if (bytes == 0) {
    return "it needs D a multiple of 16 and at most " + std::to_string(kernels::kGridMaxClasses) + " classes";
  }
  if (bytes > s.shared_optin) {
    return "it needs " + std::to_string(bytes) + " bytes of shared memory per block, the GPU has " +
           std::to_string(s.shared_optin);
  }
  return "the GPU cannot launch it cooperatively (no cooperative launch, or no room for a block)";
}

std::size_t grid_scratch_floats(const EpochShape& s) {
  return kernels::grid_epoch_scratch_floats(s.batch, s.dim, s.classes);
}

// The production exchange is the cluster.sync() one; the mbarrier exchange gives the same bits and stays in
// the kernel lab until a GPU run shows it faster (docs/profiling.md).
void cluster_epoch_sync(const kernels::PersistentEpochArgs& args, std::size_t shared_bytes, cudaStream_t stream) {
  kernels::cluster_epoch(args, shared_bytes, stream, kernels::ClusterExchange::kClusterSync);
}

// In the order --kernel auto tries them. The persistent kernel up to batch 32: the largest batch at which it
// beat the cuBLAS steps in the GPU runs (docs/cuda.md has the figures). auto gives the cluster kernel no
// batch (0) until a GPU run has measured it against the other two; nor the grid kernel, until a GPU run shows
// it at most half the cuBLAS steps' epoch time at batch 8192 (docs/profiling.md).
const EpochKernel kEpochKernels[] = {
    {CudaKernel::kPersistent, true, 32, persistent_shared_bytes, kernels::persistent_epoch, persistent_limits,
     nullptr},
    {CudaKernel::kCluster, true, 0, cluster_shared_bytes, cluster_epoch_sync, cluster_limits, nullptr},
    {CudaKernel::kGrid, true, 0, grid_shared_bytes, kernels::grid_epoch, grid_limits, grid_scratch_floats},
    {CudaKernel::kCublas, false, INT_MAX, nullptr, nullptr, nullptr, nullptr},
};

std::size_t shared_bytes_of(const EpochKernel& k, const EpochShape& shape) {
  return k.shared_bytes == nullptr ? 0 : k.shared_bytes(shape);
}

bool can_run(const EpochKernel& k, const EpochShape& shape) {
  if (k.needs_resident && !shape.resident) return false;
  return k.shared_bytes == nullptr || k.shared_bytes(shape) > 0;
}

}  // namespace

const EpochKernel& epoch_kernel(CudaKernel kernel) {
  for (const EpochKernel& k : kEpochKernels) {
    if (k.kernel == kernel) return k;
  }
  throw std::logic_error(std::string("no epoch kernel row for --kernel ") + cuda_kernel_name(kernel));
}

void check_residency(CudaKernel requested, bool resident) {
  if (requested == CudaKernel::kAuto || resident || !epoch_kernel(requested).needs_resident) return;
  throw UsageError(std::string("--kernel ") + cuda_kernel_name(requested) +
                   " needs the training set on the device (--residency device or auto), not streamed");
}

EpochPlan plan_epoch(CudaKernel requested, const EpochShape& shape) {
  if (requested == CudaKernel::kAuto) {
    for (const EpochKernel& k : kEpochKernels) {
      if (shape.batch <= k.auto_max_batch && can_run(k, shape)) return EpochPlan{&k, shared_bytes_of(k, shape)};
    }
    throw std::logic_error("no epoch kernel runs this shape (the table's last row must run any)");
  }
  const EpochKernel& k = epoch_kernel(requested);
  check_residency(requested, shape.resident);
  if (!can_run(k, shape)) {
    throw UsageError(std::string("--kernel ") + cuda_kernel_name(requested) + " cannot run batches of " +
                     std::to_string(shape.batch) + " rows of " + std::to_string(shape.dim) + " pixels and " +
                     std::to_string(shape.classes) + " classes on this GPU (" + k.limits(shape) +
                     "); use --kernel cublas or auto");
  }
  return EpochPlan{&k, shared_bytes_of(k, shape)};
}

}  // namespace logreg::cuda
