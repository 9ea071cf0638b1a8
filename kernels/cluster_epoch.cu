// The cluster epoch: ONE launch of ONE thread block cluster runs every SGD step of an epoch. Block (rank) r
// of R owns pixels [r·S, (r+1)·S) of every class (S = D / R; 112 of 784 with R = 7): its slice of W and
// of the velocity stays in its shared memory from the first step to the last, and only that slice of each
// batch row is ever copied in (cp.async, the next batch while the current one computes). Per step:
//   1. forward: each block's partial logits of every (row, class) over its S pixels, in pixel order
//      (fmaf chain), pushed into slot [step parity][r] of EVERY block of the cluster through distributed
//      shared memory (cluster.map_shared_rank), then one cluster.sync();
//   2. each block adds the R partials in rank order (so every block holds the same logits, bit for bit)
//      and runs loss_grad_row on every row (loss, dz, the prediction) redundantly;
//   3. each block updates the bias (the same sum, so the same bias everywhere) and its own W slice in
//      place (dW = dzᵀ·x over the batch rows in row order, sgd_param_step); rank 0 keeps the totals.
// Two parity slots make one cluster barrier per step enough: a block writes step s+2's partials into a
// peer's slot only after the barrier of step s+1, which the peer reaches after reading step s's.
// Two exchanges (ClusterExchange): kClusterSync waits at that cluster.sync(); kMbarrier replaces it with an
// mbarrier per parity slot in every block, on which each block arrives remotely (release.cluster) once its
// partials are stored there: R arrivals per block and a wait on its own shared memory instead of a barrier of
// every thread of the cluster (whether that is cheaper is what the kernel lab measures).
// The same parity argument holds: a block pushes step s+1 only after its barrier of step s completed, i.e.
// after every peer pushed step s, which each did after reading its step s-1 slots (the same parity).
// Every sum has a fixed order and there are no atomics; tests/gpu/cluster_epoch_model.hpp is a CPU model
// of exactly these sums, which the emulated kernel matches bit for bit.
#include "cluster_epoch.hpp"

#include <cuda_runtime.h>
#include <cooperative_groups.h>
#include <cuda/ptx>  // the mbarrier exchange (the emulator's own <cuda/ptx> in the emulated build)

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "epoch_parts.cuh"
#include "kernel_launch.cuh"

// Clusters exist from sm_90 on (cooperative_groups has no cluster_group before): the kernel's body and its
// device helpers compile for those architectures and for the host (and emulated) pass; the launcher never
// launches the kernel on an older device (cluster_epoch_max_active_clusters is 0 there), which gets a trap.
#if !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 900
#define LOGREG_CLUSTER_BODY 1
#endif

namespace logreg::kernels {
namespace {

namespace cg = cooperative_groups;

// W's rows in shared memory are S + 4 floats apart: with S = 112 a stride of 116 words puts the float4 reads
// of 8 consecutive classes (a quarter warp) in 8 different bank groups.
LOGREG_HD inline int w_stride(int slice) { return slice + 4; }

struct ClusterLayout {
  std::size_t w, v, b, vb, x, y, slots, dz, row_loss, row_correct, unit, bars, bytes;
};

LOGREG_HD inline ClusterLayout cluster_layout(int batch, int slice, int classes, int ranks, bool momentum) {
  const std::size_t B = static_cast<std::size_t>(batch);
  const std::size_t C = static_cast<std::size_t>(classes);
  const std::size_t W = C * static_cast<std::size_t>(w_stride(slice)) * sizeof(float);
  ClusterLayout l{};
  l.w = 0;                                                         // (C, S + 4) this block's W slice
  l.v = align16(l.w + W);                                          // (C, S + 4) its velocity, or empty
  l.b = align16(l.v + (momentum ? W : 0));                         // (C) bias, the same in every block
  l.vb = align16(l.b + C * sizeof(float));                         // (C) bias velocity, or empty
  l.x = align16(l.vb + (momentum ? C * sizeof(float) : 0));        // (2, B, S) uint8: this batch and the next
  l.y = align16(l.x + 2 * B * static_cast<std::size_t>(slice));    // (2, B) labels
  l.slots = align16(l.y + 2 * B);                                  // (2, R, B, C) partial logits per parity
  l.dz = align16(l.slots + 2 * static_cast<std::size_t>(ranks) * B * C * sizeof(float));  // (B, C)
  l.row_loss = align16(l.dz + B * C * sizeof(float));              // (B) loss of each row
  l.row_correct = align16(l.row_loss + B * sizeof(float));         // (B) 1 when the row was predicted right
  l.unit = align16(l.row_correct + B * sizeof(int));               // (256) pixel_to_unit<float>(p)
  l.bars = align16(l.unit + 256 * sizeof(float));                  // (2) mbarriers, one per parity slot
  l.bytes = align16(l.bars + 2 * sizeof(std::uint64_t));
  return l;
}

// Cycles for the phase timings (cluster_epoch's phase_cycles): clock64() on a GPU; the emulated device has no
// cycle counter, so there every phase reads 0.
#if defined(LOGREG_CLUSTER_BODY)
__device__ __forceinline__ long long phase_clock() {
#if defined(LOGREG_CUDA_EMULATED)
  return 0;
#else
  return clock64();
#endif
}
#endif

// kMbarrierExchange: ClusterExchange::kMbarrier (a bool, so that the kernel's name reads plainly in profiles).
// One block per SM (each rank owns its SM's shared memory): the launch bounds say so, which lets ptxas use the
// registers it needs (about 145 at sm_90) instead of holding to 64 and spilling.
template <bool kMbarrierExchange>
__global__ void __launch_bounds__(kClusterThreads, 1)
    cluster_epoch_kernel(PersistentEpochArgs a, long long* phase_cycles) {  // (kClusterPhases) or null
#if !defined(LOGREG_CLUSTER_BODY)
  (void)a;
  (void)phase_cycles;
  __trap();
#else
  LOGREG_DYNAMIC_SHARED(unsigned char, smem);
  const cg::cluster_group cluster = cg::this_cluster();
  const int R = static_cast<int>(cluster.num_blocks());
  const int rank = static_cast<int>(cluster.block_rank());
  const bool momentum = a.velocity != nullptr;
  const int C = a.classes;
  const int D = a.dim;
  const int S = D / R;
  const int WS = w_stride(S);
  const std::size_t slice_offset = static_cast<std::size_t>(rank) * static_cast<std::size_t>(S);  // this block's pixels
  const ClusterLayout l = cluster_layout(a.batch, S, C, R, momentum);
  const auto [s_w, s_v, s_b, s_vb, s_x, s_y, s_dz, s_row_loss, s_row_correct, s_unit] = step_buffers(smem, l);
  float* s_slots = reinterpret_cast<float*>(smem + l.slots);
  std::uint64_t* s_bars = reinterpret_cast<std::uint64_t*>(smem + l.bars);

  const int t = static_cast<int>(threadIdx.x);
  const int lane = t % 32;
  const int warp = t / 32;
  const int quads = S / 4;
  const std::size_t weights = static_cast<std::size_t>(C) * static_cast<std::size_t>(D);
  const std::size_t B = static_cast<std::size_t>(a.batch);
  const std::size_t slot_floats = B * static_cast<std::size_t>(C);  // one rank's partials of one parity
  const float lr = a.state->lr;
  const std::size_t start = a.state->start;  // read before the first cluster barrier; rank 0 moves it at the end
  const std::size_t n = a.rows;
  const std::size_t steps = (n + B - 1) / B;
  const SgdStepParams& p = a.sgd;

  // 1. Stage this block's W slice (and velocity), the bias, the pixel table and the first batch's slice.
  for (int k = t; k < C * S; k += kClusterThreads) {
    const int c = k / S;
    const int j = k - c * S;
    const std::size_t g = static_cast<std::size_t>(c) * D + static_cast<std::size_t>(rank) * S + j;
    s_w[c * WS + j] = a.params[g];
    if (momentum) s_v[c * WS + j] = a.velocity[g];
  }
  if (t < C) {
    s_b[t] = a.params[weights + static_cast<std::size_t>(t)];
    if (momentum) s_vb[t] = a.velocity[weights + static_cast<std::size_t>(t)];
  }
  if (t < 256) s_unit[t] = pixel_to_unit<float>(static_cast<std::uint8_t>(t));
  {
    const int rows0 = static_cast<int>(n < B ? n : B);
    const std::uint8_t label = issue_batch_copy<kClusterThreads>(a, start, rows0, slice_offset, S, s_x);
    __pipeline_wait_prior(0);
    if (t < rows0) s_y[t] = label;
  }
  if constexpr (kMbarrierExchange) {
    if (t == 0) {
      // Each parity's barrier completes a phase when all R blocks have pushed that step's partials here.
      ::cuda::ptx::mbarrier_init(s_bars, static_cast<std::uint32_t>(R));
      ::cuda::ptx::mbarrier_init(s_bars + 1, static_cast<std::uint32_t>(R));
      ::cuda::ptx::fence_mbarrier_init(::cuda::ptx::sem_release, ::cuda::ptx::scope_cluster);
    }
  }
  __syncthreads();
  cluster.sync();  // every block has started (and initialised its barriers) before any writes into its shared memory

  double loss_sum = 0.0;  // rank 0, warp 0's running totals (every lane holds the same values)
  unsigned long long correct = 0;
  double last_batch_loss = 0.0;

  // Phase timings: rank 0's thread 0 adds the cycles from one mark to the next to its phase (its own view:
  // a phase that ends at a barrier includes the wait for the slowest thread or block).
  const bool timed = phase_cycles != nullptr && rank == 0 && t == 0;
  long long phase_sum[kClusterPhases] = {};
  long long mark = timed ? phase_clock() : 0;
  auto end_phase = [&](int phase) {
    if (!timed) return;
    const long long now = phase_clock();
    phase_sum[phase] += now - mark;
    mark = now;
  };

  for (std::size_t s = 0; s < steps; ++s) {
    const std::size_t first = s * B;
    const int rows = static_cast<int>(n - first < B ? n - first : B);
    const std::size_t parity = s % 2;
    const std::uint8_t* x = s_x + parity * B * static_cast<std::size_t>(S);
    const std::uint8_t* y = s_y + parity * B;

    // 2. The next batch's slice into the other buffer (last read by the previous step's dW, behind its
    //    final barrier), waited for at the end of this step.
    const std::size_t next_first = first + B;
    const int next_rows = s + 1 < steps ? static_cast<int>(n - next_first < B ? n - next_first : B) : 0;
    const std::uint8_t next_label = issue_batch_copy<kClusterThreads>(
        a, start + next_first, next_rows, slice_offset, S, s_x + (1 - parity) * B * static_cast<std::size_t>(S));

    // 3. Forward: a thread per (row, class), the S pixels of this block in order; the partial goes to slot
    //    [parity][rank] of every block.
    for (int item = t; item < rows * C; item += kClusterThreads) {
      const int i = item / C;
      const int c = item - i * C;
      const float acc = uchar4_dot(reinterpret_cast<const uchar4*>(x + static_cast<std::size_t>(i) * S),
                                   reinterpret_cast<const float4*>(s_w + c * WS), quads, s_unit);
      // The same offset in every block; map_shared_rank (mapa) per store, as an array of the R peer pointers
      // would sit in local memory (it is indexed by the loop counter).
      float* mine = s_slots + (parity * R + rank) * slot_floats + static_cast<std::size_t>(item);
      for (int r = 0; r < R; ++r) *cluster.map_shared_rank(mine, static_cast<unsigned>(r)) = acc;
    }
    end_phase(0);
    if constexpr (kMbarrierExchange) {
      // This block's stores into every peer are done (the block barrier), then one thread per peer makes
      // them visible to it with a release at cluster scope; the wait acquires every peer's stores here. Use
      // s / 2 of a parity slot is phase s / 2 of its barrier.
      __syncthreads();
      if (t < R) {
        ::cuda::ptx::fence(::cuda::ptx::sem_acq_rel, ::cuda::ptx::scope_cluster);
        ::cuda::ptx::mbarrier_arrive(::cuda::ptx::sem_release, ::cuda::ptx::scope_cluster, ::cuda::ptx::space_cluster,
                                   cluster.map_shared_rank(s_bars + parity, static_cast<unsigned>(t)));
      }
      const std::uint32_t phase = static_cast<std::uint32_t>((s / 2) % 2);
      while (!::cuda::ptx::mbarrier_try_wait_parity(::cuda::ptx::sem_acquire, ::cuda::ptx::scope_cluster, s_bars + parity,
                                                  phase)) {
      }
    } else {
      cluster.sync();  // every block's partials of this step are in every block
    }
    end_phase(1);

    // 4. Logits in rank order into rank 0's slot (in place), then the loss and dz of every row (the shared row
    //    maths, which adds the bias), scaled by 1/rows as the cuBLAS path's loss kernel.
    const float scale = 1.0f / static_cast<float>(rows);
    float* z = s_slots + parity * R * slot_floats;  // (B, C) rank 0's partials, then the logits
    for (int i = t; i < rows; i += kClusterThreads) {
      for (int c = 0; c < C; ++c) {
        const std::size_t k = static_cast<std::size_t>(i) * C + c;
        float sum = z[k];
        for (int r = 1; r < R; ++r) sum += z[static_cast<std::size_t>(r) * slot_floats + k];
        z[k] = sum;
      }
      const RowOutcome o = loss_grad_row(i, a.head, z, s_b, y, C, scale, z, s_dz);
      s_row_loss[i] = o.loss;
      s_row_correct[i] = o.correct;
    }
    __syncthreads();
    end_phase(2);

    // 5a. Rank 0, warp 0: the batch's loss sum and correct count, lanes over rows then a fixed xor tree.
    if (rank == 0 && warp == 0) {
      add_batch_totals(s_row_loss, s_row_correct, rows, lane, loss_sum, correct, last_batch_loss);
    }
    // 5b. Warp 1 of every block: db[c] over rows in row order and the bias update (no weight decay); every
    //     block computes the same bits. Every read of the old bias (the loss) is behind the barrier above.
    if (warp == 1 && lane < C) {
      update_bias_lane(s_b, momentum ? s_vb : nullptr, s_dz, rows, C, lane, lr, p.momentum, p.nesterov);
    }
    // 5c. dW of this block's slice fused with its update: a thread per (pixel j, group of kClusterClassGroup
    //     classes), the batch rows in order; consecutive threads read consecutive pixels, the dz reads broadcast.
    const int groups = (C + kClusterClassGroup - 1) / kClusterClassGroup;
    for (int item = t; item < S * groups; item += kClusterThreads) {
      const int j = item % S;
      const int c0 = kClusterClassGroup * (item / S);
      float g[kClusterClassGroup];
      pixel_grad_group(x, S, s_dz, rows, C, j, c0, s_unit, g);
#pragma unroll
      for (int k = 0; k < kClusterClassGroup; ++k) {
        if (c0 + k >= C) break;
        const int idx = (c0 + k) * WS + j;
        s_w[idx] = sgd_param_step<float>(s_w[idx], g[k], momentum ? s_v + idx : nullptr, lr, p.momentum,
                                         p.weight_decay, p.nesterov);
      }
    }

    end_phase(3);

    // 6. The next batch's slice has landed (this thread's copies; the barrier makes them everyone's).
    __pipeline_wait_prior(0);
    if (t < next_rows) s_y[(1 - parity) * B + static_cast<std::size_t>(t)] = next_label;
    __syncthreads();
    end_phase(4);
  }
  if (timed) {
    for (int k = 0; k < kClusterPhases; ++k) phase_cycles[k] = phase_sum[k];
  }

  // 7. Write this block's W slice back (rank 0: the bias and the totals too); move the cursor past the epoch.
  //    No block touches a peer's shared memory after the last step's barrier (cluster or mbarrier: every peer's
  //    last stores and arrivals are behind it), so blocks may end apart.
  for (int k = t; k < C * S; k += kClusterThreads) {
    const int c = k / S;
    const int j = k - c * S;
    const std::size_t g = static_cast<std::size_t>(c) * D + static_cast<std::size_t>(rank) * S + j;
    a.params[g] = s_w[c * WS + j];
    if (momentum) a.velocity[g] = s_v[c * WS + j];
  }
  if (rank == 0 && t < C) {
    a.params[weights + static_cast<std::size_t>(t)] = s_b[t];
    if (momentum) a.velocity[weights + static_cast<std::size_t>(t)] = s_vb[t];
  }
  if (rank == 0 && t == 0) {
    a.totals->loss_sum += loss_sum;
    a.totals->correct += correct;
    a.totals->last_batch_loss_sum = last_batch_loss;
    a.state->start = start + n;
  }
#endif
}

}  // namespace

int cluster_epoch_ranks(int dim) {
  for (int ranks : {8, 7, 4, 2}) {
    if (dim > 0 && dim % ranks == 0 && (dim / ranks) % 16 == 0) return ranks;
  }
  return 0;
}

std::size_t cluster_epoch_shared_bytes(int batch, int dim, int classes, bool momentum) {
  const int ranks = cluster_epoch_ranks(dim);
  if (ranks == 0 || batch < 1 || batch > kClusterMaxBatch || classes < 1 || classes > kClusterMaxClasses) return 0;
  return cluster_layout(batch, dim / ranks, classes, ranks, momentum).bytes;
}

int cluster_epoch_max_active_clusters(int dim, int classes, std::size_t shared_bytes) {
  (void)classes;
  const int ranks = cluster_epoch_ranks(dim);
  if (ranks == 0 || shared_bytes == 0) return 0;
  // Both exchanges have the same shape and resources but for their registers; the cluster.sync() kernel asks.
  const auto kernel = cluster_epoch_kernel<false>;
  if (cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                           static_cast<int>(shared_bytes)) != cudaSuccess) {
    (void)cudaGetLastError();
    return 0;
  }
  cudaLaunchAttribute attribute{};
  attribute.id = cudaLaunchAttributeClusterDimension;
  attribute.val.clusterDim.x = static_cast<unsigned>(ranks);
  attribute.val.clusterDim.y = 1;
  attribute.val.clusterDim.z = 1;
  cudaLaunchConfig_t config{};
  config.gridDim = dim3(static_cast<unsigned>(ranks));
  config.blockDim = dim3(kClusterThreads);
  config.dynamicSmemBytes = shared_bytes;
  config.attrs = &attribute;
  config.numAttrs = 1;
  int clusters = 0;
  if (cudaOccupancyMaxActiveClusters(&clusters, kernel, &config) != cudaSuccess) {
    (void)cudaGetLastError();
    return 0;
  }
  return clusters;
}

void cluster_epoch(const PersistentEpochArgs& a, std::size_t shared_bytes, cudaStream_t stream,
                   ClusterExchange exchange, long long* phase_cycles) {
  if (a.rows == 0) return;
  const unsigned ranks = static_cast<unsigned>(cluster_epoch_ranks(a.dim));
  const LaunchShape shape = clustered(
      bounded(LaunchShape{ranks, static_cast<unsigned>(kClusterThreads), shared_bytes}, kClusterThreads), ranks);
  if (exchange == ClusterExchange::kMbarrier) {
    const auto kernel = cluster_epoch_kernel<true>;
    CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(shared_bytes)));
    launch_kernel("cluster_epoch_kernel<true>", kernel, shape, stream, a, phase_cycles);
  } else {
    const auto kernel = cluster_epoch_kernel<false>;
    CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(shared_bytes)));
    launch_kernel("cluster_epoch_kernel<false>", kernel, shape, stream, a, phase_cycles);
  }
}

}  // namespace logreg::kernels
