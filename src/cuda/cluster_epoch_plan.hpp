// Whether the cluster epoch kernel (kernels/cluster_epoch.cu) can run an epoch on the current device, and why
// not when it cannot. Its row of the epoch plan (epoch_plan.cpp) asks this; which kernel runs is the plan's.
#pragma once

#include <cstddef>
#include <string>

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

}  // namespace logreg::cuda
