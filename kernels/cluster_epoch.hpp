// The cluster epoch kernel's launcher (cluster_epoch.cu): every SGD step of an epoch in one launch of ONE
// thread block cluster, each block (rank) owning a slice of W's pixels. The shapes it runs, its shared
// memory and the occupancy question; which kernel an epoch runs is decided elsewhere (src/cuda/).
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>

#include "kernels.hpp"

namespace logreg::kernels {

constexpr int kClusterThreads = 256;      // threads per block (rank)
constexpr int kClusterMaxClasses = 16;    // the slots and dz in shared memory grow with C
constexpr int kClusterMaxBatch = 256;     // the two parity slots of partial logits grow with B
constexpr int kClusterClassGroup = 5;     // classes per thread in the dW update (one pixel read serves 5)

// Blocks of the cluster for D pixels: the first of 8, 7, 4, 2 whose slice D / ranks is a whole number of
// 16-byte copies (784 = 7 x 112), or 0 when none is. At most 8, the portable cluster size.
int cluster_epoch_ranks(int dim);

// Dynamic shared memory per block for this shape; 0 when the kernel cannot run it (no rank count for D,
// C > kClusterMaxClasses, B > kClusterMaxBatch). The caller compares it with sharedMemPerBlockOptin.
std::size_t cluster_epoch_shared_bytes(int batch, int dim, int classes, bool momentum);

// Clusters of cluster_epoch_ranks(dim) blocks with `shared_bytes` each that the current device can hold at
// once (cudaOccupancyMaxActiveClusters, after raising the kernel's dynamic shared memory limit): the epoch
// needs one. 0 when the device cannot launch it (no clusters: compute capability below 9.0, MIG slices
// without cluster support, or too little shared memory), with the runtime's error cleared.
int cluster_epoch_max_active_clusters(int dim, int classes, std::size_t shared_bytes);

// How the blocks hand each other a step's partial logits (cluster_epoch.cu): a cluster.sync() per step, or an
// mbarrier per parity slot in every block with remote arrivals (no cluster-wide barrier per step).
enum class ClusterExchange { kClusterSync, kMbarrier };

// The phases of a step that cluster_epoch can time (clock64() cycles of rank 0's thread 0, summed over the
// epoch): 0 forward and the stores into the peers, 1 the exchange's wait (cluster.sync() or mbarrier), 2 the
// logits, loss and dz, 3 bias, dW and the update, 4 the next batch's copy wait and the step's last barrier.
constexpr int kClusterPhases = 5;

// Enqueues the whole epoch (one cluster launch). The arguments mean what they mean for persistent_epoch;
// shared_bytes = cluster_epoch_shared_bytes(...) > 0 and cluster_epoch_max_active_clusters(...) >= 1. Both
// exchanges give the same bits (on the emulated device too, which runs remote mbarrier arrives). phase_cycles:
// null, or a device buffer of kClusterPhases that receives the epoch's cycles per phase (0 on the emulated
// device, which has no cycle counter).
void cluster_epoch(const PersistentEpochArgs& a, std::size_t shared_bytes, cudaStream_t stream,
                   ClusterExchange exchange = ClusterExchange::kClusterSync, long long* phase_cycles = nullptr);

}  // namespace logreg::kernels
