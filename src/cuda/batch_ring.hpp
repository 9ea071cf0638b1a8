// Host side of the CUDA backend's input pipeline, without any CUDA type so the CPU tests cover it:
// gather_batch (shuffled rows -> one contiguous batch) and BatchRingSchedule (which ring slot a batch
// uses, and which earlier batch must be done with that slot first). The pinned slots and events that
// follow this schedule live in cuda_backend.cu (PinnedBatchRing).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "logreg/dataset.hpp"
#include "logreg/errors.hpp"

namespace logreg::cuda {

// Copies rows order[start], ..., order[start + n - 1] of the image/label sets into one batch:
//   pixels_out: (n, D) uint8 row-major, labels_out: (n).
// Throws logreg::Error when an index in `order` is outside the set.
inline void gather_batch(const ImageSet& images,
                         const LabelSet& labels,
                         const std::uint32_t* order,  // (>= start + n) row indices into the sets
                         std::size_t start,
                         int n,
                         std::uint8_t* pixels_out,  // (n, D) row-major
                         std::uint8_t* labels_out) {  // (n)
  const std::size_t dim = images.dim();
  for (int j = 0; j < n; ++j) {
    const std::uint32_t row = order[start + static_cast<std::size_t>(j)];
    if (row >= images.count || row >= labels.count()) {
      throw Error(ExitCode::kFailure, "gather_batch: row index " + std::to_string(row) +
                                          " outside the training set of " + std::to_string(images.count) +
                                          " images");
    }
    std::memcpy(pixels_out + static_cast<std::size_t>(j) * dim, images.image(row), dim);
    labels_out[j] = labels.labels[row];
  }
}

// A ring of `slots` staging buffers used by consecutive batches 0, 1, 2, ...: batch k uses slot
// k % slots, and may only be written into it once batch k - slots has finished with it.
class BatchRingSchedule {
 public:
  explicit BatchRingSchedule(int slots) : slots_(slots) {
    if (slots < 2) {
      throw UsageError("the pinned batch ring needs at least 2 slots (got " + std::to_string(slots) + ")");
    }
  }

  int slots() const { return slots_; }

  int slot_of(std::int64_t batch) const { return static_cast<int>(batch % slots_); }

  // The batch that last used slot_of(batch) and must be complete before `batch` overwrites it;
  // -1 when the slot has not been used yet.
  std::int64_t must_complete_before_reuse(std::int64_t batch) const {
    return batch >= slots_ ? batch - slots_ : -1;
  }

 private:
  int slots_;
};

// Number of batches of `batch_size` rows (the last one partial) in `rows` rows.
inline std::int64_t batch_count(std::size_t rows, int batch_size) {
  return static_cast<std::int64_t>((rows + static_cast<std::size_t>(batch_size) - 1) /
                                   static_cast<std::size_t>(batch_size));
}

}  // namespace logreg::cuda
