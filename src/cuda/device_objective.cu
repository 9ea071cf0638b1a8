// DeviceObjective (device_objective.hpp): the host side of the device's double objective: the rows once, then
// per evaluation one parameter upload, two launches, one read-back of the parts' sums and one synchronisation.
#include "device_objective.hpp"

#include <algorithm>
#include <climits>
#include <cstring>
#include <string>

#include "cuda_check.hpp"
#include "logreg/errors.hpp"
#include "logreg/maths/launch_sizes.hpp"
#include "logreg/maths/row_parts.hpp"
#include "nvtx_range.hpp"

namespace logreg::cuda {

namespace {
std::size_t parameter_count(int classes, int dim) {
  return static_cast<std::size_t>(classes) * static_cast<std::size_t>(dim) + static_cast<std::size_t>(classes);
}
}  // namespace

DeviceObjective::DeviceObjective(int classes, int dim, std::size_t shared_optin)
    : classes_(classes), dim_(dim), plan_(kernels::objective_plan(classes, dim, shared_optin)) {}

void DeviceObjective::set_rows(const ImageSet& images, const LabelSet& labels, bool streamed,
                               const std::vector<std::uint32_t>& rows, std::size_t first, std::size_t last,
                               cudaStream_t stream) {
  if (rows == uploaded_rows_ && streamed == uploaded_streamed_ && first == uploaded_first_ && last == uploaded_last_) {
    return;
  }
  for (const std::uint32_t r : rows) {
    if (r >= images.count) {
      throw UsageError("full_batch_objective: row " + std::to_string(r) + " is past the " +
                       std::to_string(images.count) + " training rows");
    }
  }
  for (std::size_t i = first; i < last; ++i) {
    if (!images.holds(rows[i])) {
      throw DataError(images.path, "row " + std::to_string(rows[i]) + " is not among the rows loaded on this rank");
    }
  }
  CUDA_CHECK(cudaStreamSynchronize(stream));  // the buffers below may be read by enqueued work
  uploaded_rows_.clear();
  const std::size_t m = last - first;
  if (streamed) {
    const std::size_t D = static_cast<std::size_t>(dim_);
    if (streamed_pixels_.size() < m * D) streamed_pixels_ = PinnedBuffer<std::uint8_t>(m * D);
    if (streamed_labels_.size() < m) streamed_labels_ = PinnedBuffer<std::uint8_t>(m);
    for (std::size_t i = 0; i < m; ++i) {
      std::memcpy(streamed_pixels_.data() + i * D, images.image(rows[first + i]), D);
      streamed_labels_.data()[i] = labels.labels[rows[first + i]];
    }
  } else if (m > 0) {
    if (rows_.size() < m) rows_ = DeviceBuffer<std::uint32_t>(m);
    std::vector<std::uint32_t> window(m);  // as rows of the device's copy, which starts at images.first
    for (std::size_t i = 0; i < m; ++i) window[i] = rows[first + i] - images.first;
    CUDA_CHECK(cudaMemcpyAsync(rows_.data(), window.data(), m * sizeof(std::uint32_t), cudaMemcpyHostToDevice, stream));
    CUDA_CHECK(cudaStreamSynchronize(stream));  // `window` is about to go
  }
  uploaded_rows_ = rows;
  uploaded_first_ = first;
  uploaded_last_ = last;
  uploaded_streamed_ = streamed;
}

PartRows DeviceObjective::part_rows(std::size_t n, int first_part, int last_part) const {
  if (n == 0 || n > static_cast<std::size_t>(INT_MAX)) {
    throw UsageError("full_batch_objective: needs 1 to 2^31 - 1 rows, got " + std::to_string(n));
  }
  if (plan_.tile_rows == 0) {
    throw UsageError("full_batch_objective: " + std::to_string(dim_) + " features (pixels) x " +
                     std::to_string(classes_) +
                     " classes do not fit the device's shared memory for one row of the double objective");
  }
  const int parts = full_batch_parts(n);
  if (first_part < 0 || first_part > last_part || last_part > parts) {
    throw UsageError("full_batch_objective: parts [" + std::to_string(first_part) + ", " + std::to_string(last_part) +
                     ") of " + std::to_string(parts));
  }
  const int ni = static_cast<int>(n);
  return PartRows{static_cast<std::size_t>(part_start(ni, first_part, parts)),
                  static_cast<std::size_t>(part_start(ni, last_part, parts))};
}

void DeviceObjective::part_sums(const ImageSet& images, const LabelSet& labels, const std::uint8_t* device_pixels,
                                const std::uint8_t* device_labels, const std::vector<std::uint32_t>& rows,
                                int first_part, int last_part, const double* params, LossHead head,
                                cudaStream_t stream, double* sums) {
  NvtxRange range("full_batch_objective");
  const std::size_t n = rows.size();
  const PartRows span = part_rows(n, first_part, last_part);
  const bool streamed = device_pixels == nullptr;
  set_rows(images, labels, streamed, rows, span.first, span.last, stream);
  kernels::ObjectiveArgs args{};
  args.x = streamed ? streamed_pixels_.data() : device_pixels;
  args.element = FeatureDtype::kUint8;
  args.labels = streamed ? streamed_labels_.data() : device_labels;
  args.weights = nullptr;
  args.rows = streamed ? nullptr : rows_.data();
  args.n = static_cast<int>(n);
  args.first_part = first_part;
  args.first_row = static_cast<int>(span.first);
  args.head = head;
  args.inv_n = 1.0 / static_cast<double>(n);
  evaluate(args, last_part - first_part, params, stream, sums);
}

void DeviceObjective::evaluate(kernels::ObjectiveArgs args, int part_count, const double* params, cudaStream_t stream,
                               double* sums) {
  if (part_count == 0) return;
  const std::size_t n = static_cast<std::size_t>(args.n);
  const std::size_t P = parameter_count(classes_, dim_);
  const std::size_t outs = static_cast<std::size_t>(part_count) * (P + 1);
  if (params_.size() != P) {
    params_host_ = PinnedBuffer<double>(P);
    params_ = DeviceBuffer<double>(P);
  }
  const std::size_t slots = static_cast<std::size_t>(part_count * kernels::objective_blocks_per_part(n)) * (P + 1);
  if (partials_.size() < slots || out_.size() < outs) {
    CUDA_CHECK(cudaStreamSynchronize(stream));
    if (partials_.size() < slots) partials_ = DeviceBuffer<double>(slots);
    if (out_.size() < outs) {
      out_ = DeviceBuffer<double>(outs);
      out_host_ = PinnedBuffer<double>(outs);
    }
  }
  // 1. The parameters, through the pinned buffer (the previous evaluation's copy finished at its sync).
  std::memcpy(params_host_.data(), params, P * sizeof(double));
  CUDA_CHECK(cudaMemcpyAsync(params_.data(), params_host_.data(), P * sizeof(double), cudaMemcpyHostToDevice, stream));
  // 2. Each part's row blocks into their slots, then each part's slots in order.
  args.dim = dim_;
  args.classes = classes_;
  args.params = params_.data();
  args.partials = partials_.data();
  kernels::objective_evaluate(args, plan_, part_count, out_.data(), stream);
  // 3. The parts' sums back to pinned host memory (Open MPI need not be CUDA-aware), one wait.
  CUDA_CHECK(cudaMemcpyAsync(out_host_.data(), out_.data(), outs * sizeof(double), cudaMemcpyDeviceToHost, stream));
  CUDA_CHECK(cudaStreamSynchronize(stream));
  std::memcpy(sums, out_host_.data(), outs * sizeof(double));
}

}  // namespace logreg::cuda
