// The fixed row parts of the full-batch objective, shared by every engine and the CUDA kernel: n rows are cut
// into full_batch_parts(n) parts at part_start; an engine sums each part's rows into that part's own sums, and
// the parts' sums are added in part order. So the result depends on n alone, not on threads, devices or MPI
// ranks (which share the parts out: ranks.hpp, part_sums.hpp). Plain C++, __host__ __device__; no CUDA headers.
#pragma once

#include <cstddef>
#include <cstdint>

#include "logreg/maths/row_math.hpp"  // LOGREG_HD

namespace logreg {

// Parts of the full-batch objective over any number of rows (fewer when there are fewer rows).
inline constexpr int kFullBatchParts = 8;

// The parts of n rows: min(kFullBatchParts, n), at least 1.
LOGREG_HD inline int full_batch_parts(std::size_t n) {
  return n < static_cast<std::size_t>(kFullBatchParts) ? (n < 1 ? 1 : static_cast<int>(n)) : kFullBatchParts;
}

// Part `part` of `parts` even parts of n items starts at part_start(n, part, parts) and ends where the next
// starts (part_start(n, parts, parts) = n).
LOGREG_HD inline int part_start(int n, int part, int parts) {
  return static_cast<int>(static_cast<std::int64_t>(n) * part / parts);
}

}  // namespace logreg
