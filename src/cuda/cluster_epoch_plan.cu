// plan_cluster_epoch (cluster_epoch_plan.hpp): the device queries behind the cluster kernel's refusals.
#include "cluster_epoch_plan.hpp"

#include <cuda_runtime.h>

#include <string>

#include "cluster_epoch.hpp"
#include "cuda_check.hpp"

namespace logreg::cuda {

ClusterEpochPlan plan_cluster_epoch(int batch, int dim, int classes, bool momentum) {
  ClusterEpochPlan plan;
  plan.ranks = kernels::cluster_epoch_ranks(dim);
  plan.shared_bytes = kernels::cluster_epoch_shared_bytes(batch, dim, classes, momentum);
  if (plan.shared_bytes == 0) {
    plan.refusal = "it needs at most " + std::to_string(kernels::kClusterMaxBatch) + " rows, at most " +
                   std::to_string(kernels::kClusterMaxClasses) + " classes and D a multiple of 16 x 2, 4, 7 or 8";
    return plan;
  }
  int device = 0;
  CUDA_CHECK(cudaGetDevice(&device));
  int major = 0;
  int cluster_launch = 0;
  int optin = 0;
  CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device));
  CUDA_CHECK(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
  if (major >= 9) CUDA_CHECK(cudaDeviceGetAttribute(&cluster_launch, cudaDevAttrClusterLaunch, device));
  if (major < 9 || cluster_launch == 0) {
    plan.refusal =
        "the GPU has no thread block clusters (compute capability 9.0 or later; not every MIG slice has them)";
  } else if (plan.shared_bytes > static_cast<std::size_t>(optin)) {
    plan.refusal = "it needs " + std::to_string(plan.shared_bytes) + " bytes of shared memory per block, the GPU has " +
                   std::to_string(optin);
  } else if (kernels::cluster_epoch_max_active_clusters(dim, classes, plan.shared_bytes) < 1) {
    plan.refusal = "the GPU cannot hold a cluster of " + std::to_string(plan.ranks) + " blocks of " +
                   std::to_string(plan.shared_bytes) + " bytes of shared memory";
  }
  return plan;
}

}  // namespace logreg::cuda
