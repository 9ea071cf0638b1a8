// The launch sizes of the CUDA kernels that plain C++ needs too: the loss kernel's block size (the CPU tests
// run its two-stage bias reduction with it) and the L-BFGS objective kernel's blocks and tiles (residency.cpp
// counts the device bytes from them). No CUDA headers; the kernels and their launchers are in kernels/.
#pragma once

#include <cstddef>

#include "logreg/maths/row_parts.hpp"
#include "logreg/maths/step_bodies.hpp"

namespace logreg::kernels {

// Threads of the single-block loss kernel (loss_grad_kernel); also the number of bias-gradient partials.
constexpr int kLossThreads = 256;
static_assert(kMaxClasses <= kLossThreads, "the bias reduction gives every class at least one thread");

// The L-BFGS objective's kernel (kernels/objective_fp64.cu): threads per block, rows of a tile, row blocks.
constexpr int kObjectiveThreads = 256;
constexpr int kObjectiveMaxTileRows = 8;    // rows whose pixels (as doubles) sit in shared memory at a time
constexpr int kObjectiveRowBlocks = 132;    // at most: one per SM of an H100 / H200
constexpr int kObjectiveMinBlockRows = 64;  // fewer blocks on small sets, each of at least this many rows

// Row blocks for n rows: ceil(n / kObjectiveMinBlockRows), between 1 and kObjectiveRowBlocks. Depends on n
// alone, so the order of the sums (and the bits of the result) is the same on every device.
LOGREG_HD inline int objective_row_blocks(std::size_t rows) {
  const std::size_t wanted = (rows + kObjectiveMinBlockRows - 1) / kObjectiveMinBlockRows;
  return wanted < 1 ? 1 : (wanted > kObjectiveRowBlocks ? kObjectiveRowBlocks : static_cast<int>(wanted));
}

// Row blocks of each part of n rows (the objective's fixed row parts, maths/row_parts.hpp): objective_row_blocks(n)
// shared over the parts, rounded down, at least 1 (at most 8 x 16 = 128 blocks: one wave on 132 SMs). Depends on
// n alone, as above.
LOGREG_HD inline int objective_blocks_per_part(std::size_t rows) {
  const int per_part = objective_row_blocks(rows) / full_batch_parts(rows);
  return per_part < 1 ? 1 : per_part;
}

}  // namespace logreg::kernels
