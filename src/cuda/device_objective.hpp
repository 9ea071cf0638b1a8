// DeviceObjective: the CUDA full-batch engine's objective (FullBatchEngine::full_batch_objective) in double on
// the device, as the sums of the objective's fixed row parts (maths/row_parts.hpp): two launches per evaluation
// (kernels/objective_fp64.cu: each part's fixed row blocks into their own slots, then each part's slots added in
// slot order), the parameters in and the parts' sums out through pinned buffers, one synchronisation. The engine
// adds the parts in part order and the penalty on the host (part_sums.hpp), after the MPI ranks' exchange when
// ranks share the parts out. Bit-reproducible run to run, device to device and at any rank count. Not here: the
// solver (solver.hpp), the device's copy of the set (the engine's, with the data on the device).
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "device_resources.hpp"
#include "kernels.hpp"
#include "logreg/dataset.hpp"  // (its device bytes: objective_device_bytes, cuda_backend.hpp)

namespace logreg::cuda {

// Positions [first, last) of an objective's rows: those of some of its parts.
struct PartRows {
  std::size_t first;
  std::size_t last;
};

class DeviceObjective {
 public:
  // C classes of D pixels (or features); shared_optin: the device's sharedMemPerBlockOptin (sizes the kernel's tiles).
  DeviceObjective(int classes, int dim, std::size_t shared_optin);

  // The sums of parts [first_part, last_part) of the full_batch_parts(n) row parts of `rows` (n = rows.size()) at
  // params (C*D + C, W then b): sums ((last_part - first_part), C*D + C + 1) receives each part's data gradient
  // (already scaled by 1/n) and then its loss sum (unscaled). The set is read where it is: device_pixels /
  // device_labels hold the rows the image set holds ((images.loaded(), D), (images.loaded()), from row
  // images.first: all of them, or an MPI rank's window); nullptr: the parts' rows are gathered once into pinned
  // host memory, which the kernel reads directly (no second copy of the set on the device). Rows are checked
  // (< N; held by the set for the computed parts) and uploaded or gathered only when they or the parts differ
  // from the previous call's. Enqueues on `stream` and waits for it once.
  void part_sums(const ImageSet& images, const LabelSet& labels, const std::uint8_t* device_pixels,
                 const std::uint8_t* device_labels, const std::vector<std::uint32_t>& rows, int first_part,
                 int last_part, const double* params, LossHead head, cudaStream_t stream, double* sums);

  // The positions of parts [first_part, last_part) of n rows' full_batch_parts(n) parts; UsageError when n is 0 or
  // past 2^31 - 1, the parts are not among them, or the shape fits no plan (too many features for shared memory).
  PartRows part_rows(std::size_t n, int first_part, int last_part) const;

  // One evaluation over rows the caller holds where the kernel reads them: args names the rows (x, element,
  // labels, weights, rows), n, first_part, first_row (part_rows(n, first_part, ..).first), head and inv_n; this
  // fills the rest. sums ((part_count), C*D + C + 1) as part_sums gives them. Enqueues on `stream` and waits for it
  // once.
  void evaluate(kernels::ObjectiveArgs args, int part_count, const double* params, cudaStream_t stream, double* sums);

 private:
  // The rows at positions [first, last) of `rows`: uploaded (as rows of the set's window) or gathered.
  void set_rows(const ImageSet& images, const LabelSet& labels, bool streamed, const std::vector<std::uint32_t>& rows,
                std::size_t first, std::size_t last, cudaStream_t stream);

  int classes_;
  int dim_;
  kernels::ObjectivePlan plan_;
  PinnedBuffer<double> params_host_;             // (C*D + C) the parameters asked about
  PinnedBuffer<double> out_host_;                // (parts, C*D + C + 1) each computed part's sums
  DeviceBuffer<double> params_;                  // (C*D + C)
  DeviceBuffer<double> out_;                     // (parts, C*D + C + 1)
  DeviceBuffer<double> partials_;                // (blocks, C*D + C + 1) the row blocks' slots
  DeviceBuffer<std::uint32_t> rows_;             // (last - first) data on the device: the rows, as rows of the window
  PinnedBuffer<std::uint8_t> streamed_pixels_;   // (last - first, D) set streamed: the rows' pixels, in row order
  PinnedBuffer<std::uint8_t> streamed_labels_;   // (last - first)
  std::vector<std::uint32_t> uploaded_rows_;     // the rows the buffers above hold
  std::size_t uploaded_first_ = 0;               // the positions [first, last) of them they hold
  std::size_t uploaded_last_ = 0;
  bool uploaded_streamed_ = false;               // which of the two they were prepared for
};

}  // namespace logreg::cuda
