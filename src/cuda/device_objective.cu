// DeviceObjective (device_objective.hpp): the host side of the device's double objective: the rows once, then
// per evaluation one parameter upload, two launches, one read-back and one synchronisation.
#include "device_objective.hpp"

#include <algorithm>
#include <climits>
#include <cstring>
#include <string>

#include "cuda_check.hpp"
#include "logreg/errors.hpp"
#include "logreg/maths/objective_math.hpp"
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
                               const std::vector<std::uint32_t>& rows, cudaStream_t stream) {
  if (rows == uploaded_rows_ && streamed == uploaded_streamed_) return;
  const std::size_t n = rows.size();
  for (const std::uint32_t r : rows) {
    if (r >= images.count) {
      throw UsageError("full_batch_objective: row " + std::to_string(r) + " is past the " +
                       std::to_string(images.count) + " training rows");
    }
  }
  CUDA_CHECK(cudaStreamSynchronize(stream));  // the buffers below may be read by enqueued work
  uploaded_rows_.clear();
  if (streamed) {
    const std::size_t D = static_cast<std::size_t>(dim_);
    if (streamed_pixels_.size() < n * D) streamed_pixels_ = PinnedBuffer<std::uint8_t>(n * D);
    if (streamed_labels_.size() < n) streamed_labels_ = PinnedBuffer<std::uint8_t>(n);
    for (std::size_t i = 0; i < n; ++i) {
      std::memcpy(streamed_pixels_.data() + i * D, images.image(rows[i]), D);
      streamed_labels_.data()[i] = labels.labels[rows[i]];
    }
  } else {
    if (rows_.size() < n) rows_ = DeviceBuffer<std::uint32_t>(n);
    CUDA_CHECK(cudaMemcpyAsync(rows_.data(), rows.data(), n * sizeof(std::uint32_t), cudaMemcpyHostToDevice, stream));
    CUDA_CHECK(cudaStreamSynchronize(stream));  // `rows` is the caller's
  }
  uploaded_rows_ = rows;
  uploaded_streamed_ = streamed;
}

double DeviceObjective::evaluate(const ImageSet& images, const LabelSet& labels, const std::uint8_t* device_pixels,
                                 const std::uint8_t* device_labels, const std::vector<std::uint32_t>& rows,
                                 const double* params, double l2, double* grad, LossHead head, cudaStream_t stream) {
  NvtxRange range("full_batch_objective");
  const std::size_t n = rows.size();
  if (n == 0 || n > static_cast<std::size_t>(INT_MAX)) {
    throw UsageError("full_batch_objective: needs 1 to 2^31 - 1 rows, got " + std::to_string(n));
  }
  if (plan_.tile_rows == 0) {
    throw UsageError("full_batch_objective: " + std::to_string(dim_) + " pixels x " + std::to_string(classes_) +
                     " classes do not fit the device's shared memory for one row of the double objective");
  }
  const bool streamed = device_pixels == nullptr;
  set_rows(images, labels, streamed, rows, stream);
  const std::size_t P = parameter_count(classes_, dim_);
  const int blocks = kernels::objective_row_blocks(n);
  if (params_.size() != P) {
    params_host_ = PinnedBuffer<double>(P);
    out_host_ = PinnedBuffer<double>(P + 1);
    params_ = DeviceBuffer<double>(P);
    out_ = DeviceBuffer<double>(P + 1);
  }
  const std::size_t slots = static_cast<std::size_t>(blocks) * (P + 1);
  if (partials_.size() < slots) {
    CUDA_CHECK(cudaStreamSynchronize(stream));
    partials_ = DeviceBuffer<double>(slots);
  }
  // 1. The parameters, through the pinned buffer (the previous evaluation's copy finished at its sync).
  std::memcpy(params_host_.data(), params, P * sizeof(double));
  CUDA_CHECK(cudaMemcpyAsync(params_.data(), params_host_.data(), P * sizeof(double), cudaMemcpyHostToDevice, stream));
  // 2. The row blocks into their slots, then the slots in order.
  kernels::ObjectiveArgs args{};
  args.pixels = streamed ? streamed_pixels_.data() : device_pixels;
  args.labels = streamed ? streamed_labels_.data() : device_labels;
  args.rows = streamed ? nullptr : rows_.data();
  args.n = static_cast<int>(n);
  args.dim = dim_;
  args.classes = classes_;
  args.head = head;
  args.inv_n = 1.0 / static_cast<double>(n);
  args.params = params_.data();
  args.partials = partials_.data();
  kernels::objective_evaluate(args, plan_, blocks, out_.data(), stream);
  // 3. The data gradient and the loss sum back, one wait.
  CUDA_CHECK(cudaMemcpyAsync(out_host_.data(), out_.data(), (P + 1) * sizeof(double), cudaMemcpyDeviceToHost, stream));
  CUDA_CHECK(cudaStreamSynchronize(stream));
  std::memcpy(grad, out_host_.data(), P * sizeof(double));
  const double loss_sum = out_host_.data()[P];
  const std::size_t n_weights = P - static_cast<std::size_t>(classes_);
  const double penalty = add_weight_penalty(params, grad, n_weights, l2);
  return loss_sum * args.inv_n + penalty;
}

}  // namespace logreg::cuda
