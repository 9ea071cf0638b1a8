// The grid epoch kernel's launcher (grid_epoch.cu): every SGD step of an epoch of large batches in ONE
// cooperative launch over the blocks the device holds at once, the batch's rows split over them in fixed chunks.
// Its shapes, shared memory, device scratch and the occupancy question; which kernel runs an epoch is decided
// elsewhere (src/cuda/epoch_plan.cpp). No CUDA headers beyond the runtime API; the kernel is in grid_epoch.cu.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>

#include "kernels.hpp"

namespace logreg::kernels {

constexpr int kGridThreads = 256;         // threads per block
constexpr int kGridMaxClasses = 16;       // each block keeps W (C, D) in shared memory
constexpr int kGridClassGroup = 5;        // classes per thread in a chunk's dW (one pixel read serves 5)
constexpr int kGridTargetChunks = 128;    // chunks per batch the chunk size aims at (about one per SM)
constexpr int kGridMinChunkRows = 8;
constexpr int kGridMaxChunkRows = 64;     // the chunk's uint8 rows sit in shared memory

// Rows of a chunk for batches of `batch` rows: ceil(batch / kGridTargetChunks) within [kGridMinChunkRows,
// kGridMaxChunkRows] (8 at batch 1024, 64 at batch 8192). A function of the batch alone: the chunks, and so
// every sum's order and the result's bits, are the same whatever the number of blocks or the device.
LOGREG_HD inline int grid_epoch_chunk_rows(int batch) {
  const int rows = (batch + kGridTargetChunks - 1) / kGridTargetChunks;
  return rows < kGridMinChunkRows ? kGridMinChunkRows : (rows > kGridMaxChunkRows ? kGridMaxChunkRows : rows);
}

// Chunks of a step of `rows` rows (the last batch of an epoch may have fewer) for batches of `batch` rows.
LOGREG_HD inline int grid_epoch_chunks(int rows, int batch) {
  const int chunk_rows = grid_epoch_chunk_rows(batch);
  return (rows + chunk_rows - 1) / chunk_rows;
}

// Dynamic shared memory per block for this shape; 0 when the kernel cannot run it (batch < 1, D not a
// multiple of 16, C > kGridMaxClasses). The caller compares it with sharedMemPerBlockOptin.
std::size_t grid_epoch_shared_bytes(int batch, int dim, int classes);

// Floats of device scratch the epoch needs (PersistentEpochArgs::scratch): a slot of C*D + C gradient partials
// per chunk, then the batch's row losses and correct flags.
std::size_t grid_epoch_scratch_floats(int batch, int dim, int classes);

// Blocks the epoch launches on the current device: every block resident at once (a cooperative launch), at
// most one per chunk. 0 when the device cannot launch it cooperatively (no cooperative launch, or no room for
// one block of `shared_bytes`), with the runtime's error cleared.
int grid_epoch_blocks(int batch, std::size_t shared_bytes);

// Enqueues the whole epoch (one cooperative launch). The arguments mean what they mean for persistent_epoch,
// plus a.scratch (grid_epoch_scratch_floats(...) floats); shared_bytes = grid_epoch_shared_bytes(...) > 0 and
// grid_epoch_blocks(...) >= 1.
void grid_epoch(const PersistentEpochArgs& a, std::size_t shared_bytes, cudaStream_t stream);

}  // namespace logreg::kernels
