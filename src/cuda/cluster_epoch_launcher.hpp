// Whether the cluster epoch kernel (kernels/cluster_epoch.cu) can run an epoch on the current device, and why
// not when it cannot; and its launch. Which kernel an epoch runs is the input path's choice (resident_input.cu).
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <string>

#include "kernels.hpp"

namespace logreg::cuda {

struct ClusterEpochPlan {
  int ranks = 0;                 // blocks of the cluster (kernels::cluster_epoch_ranks)
  std::size_t shared_bytes = 0;  // dynamic shared memory per block
  std::string refusal;           // empty when it can run; else what is missing, for a usage error
  bool runs() const { return refusal.empty(); }
};

// Asks the current device: compute capability 9.0 or later with cluster launches (not every MIG slice has
// them), a shape the kernel runs (cluster_epoch_shared_bytes > 0), that much shared memory per block, and
// room for one cluster of that size (cudaOccupancyMaxActiveClusters >= 1).
ClusterEpochPlan plan_cluster_epoch(int batch, int dim, int classes, bool momentum);

// Enqueues the epoch; plan.runs().
void run_cluster_epoch(const kernels::PersistentEpochArgs& a, const ClusterEpochPlan& plan, cudaStream_t stream);

}  // namespace logreg::cuda
