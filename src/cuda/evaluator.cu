// Evaluator (evaluator.hpp): cached uint8 sets on the device, per-chunk convert, forward GEMM and the loss
// kernel without gradients, whose per-row loss and prediction are the host's (loss_grad_row: row_loss_grad and
// row_argmax of maths/row_math.hpp). Not here: eval, predict and the final report, which use the host's logits
// (Engine::logits, engine.hpp).
#include "evaluator.hpp"

#include <algorithm>
#include <string>

#include "kernels.hpp"
#include "logreg/errors.hpp"
#include "logreg/maths/gemm_plan.hpp"
#include "gemm.hpp"
#include "nvtx_range.hpp"

namespace logreg::cuda {

void check_labels(const LabelSet& labels, int classes) {
  for (std::size_t i = 0; i < labels.count(); ++i) {
    if (labels.labels[i] >= classes) {
      throw DataError(labels.path, "label " + std::to_string(labels.labels[i]) + " at row " + std::to_string(i) +
                                       " is not below the model's " + std::to_string(classes) + " classes");
    }
  }
}

Evaluator::CachedSet& Evaluator::upload(const ImageSet& images, const LabelSet& labels, DeviceStep& step) {
  ++clock_;
  for (CachedSet& c : sets_) {
    if (c.images == &images && c.pixels_host == images.pixels.data() && c.count == images.count &&
        c.labels == &labels && c.labels_host == labels.labels.data()) {
      c.last_used = clock_;
      return c;
    }
  }
  check_labels(labels, step.classes());
  CUDA_CHECK(cudaStreamSynchronize(step.stream()));
  if (sets_.size() >= kMaxCachedSets) {
    sets_.erase(std::min_element(sets_.begin(), sets_.end(),
                                 [](const CachedSet& a, const CachedSet& b) { return a.last_used < b.last_used; }));
  }
  CachedSet c;
  c.pixels = DeviceBuffer<std::uint8_t>(images.count * images.dim());
  c.labels_device = DeviceBuffer<std::uint8_t>(images.count);
  CUDA_CHECK(cudaMemcpyAsync(c.pixels.data(), images.pixels.data(), c.pixels.bytes(), cudaMemcpyHostToDevice,
                             step.stream()));
  CUDA_CHECK(cudaMemcpyAsync(c.labels_device.data(), labels.labels.data(), c.labels_device.bytes(),
                             cudaMemcpyHostToDevice, step.stream()));
  CUDA_CHECK(cudaStreamSynchronize(step.stream()));  // the host vectors may change after we return
  c.images = &images;
  c.pixels_host = images.pixels.data();
  c.count = images.count;
  c.labels = &labels;
  c.labels_host = labels.labels.data();
  c.last_used = clock_;
  ++uploads_;
  sets_.push_back(std::move(c));
  return sets_.back();
}

Totals Evaluator::evaluate(const ImageSet& images, const LabelSet& labels, DeviceStep& step, LossHead head) {
  NvtxRange range("evaluate");
  const std::size_t dim = static_cast<std::size_t>(step.dim());
  if (images.dim() != dim || labels.count() != images.count) {
    throw DataError(images.path, "evaluation images (" + std::to_string(images.count) + " x " +
                                     std::to_string(images.dim()) + ") do not match " + std::to_string(labels.count()) +
                                     " labels and input dim " + std::to_string(dim));
  }
  Totals totals;
  totals.count = images.count;
  if (images.count == 0) return totals;
  CachedSet& set = upload(images, labels, step);
  const std::size_t chunk = std::min<std::size_t>(images.count, kChunkRows);
  if (x_.size() < chunk * dim) {
    CUDA_CHECK(cudaStreamSynchronize(step.stream()));
    x_ = DeviceBuffer<float>(chunk * dim);
    logits_ = DeviceBuffer<float>(chunk * static_cast<std::size_t>(step.classes()));
    partials_ = LossPartialsBuffer(chunk, step.classes());
  }
  const cudaStream_t stream = step.stream();
  CUDA_CHECK(cudaMemsetAsync(step.eval_totals(), 0, sizeof(kernels::DeviceTotals), stream));
  for (std::size_t start = 0; start < images.count; start += kChunkRows) {
    const int rows = static_cast<int>(std::min<std::size_t>(kChunkRows, images.count - start));
    kernels::convert_pixels(set.pixels.data() + start * dim, x_.data(), static_cast<std::size_t>(rows) * dim, stream);
    // Row-major Z (rows, C) = X · Wᵀ as the column-major Zᵀ = W · Xᵀ: see forward_logits_gemm.
    gemm(step.cublas(), forward_logits_gemm(rows, step.dim(), step.classes()), step.weights(), x_.data(), logits_.data());
    kernels::loss_grad(head, rows, step.classes(), 1.0f, logits_.data(), step.bias(), set.labels_device.data() + start, nullptr,
                       nullptr, nullptr, step.eval_totals(), partials_.view(), stream);
  }
  const kernels::DeviceTotals t = step.read_totals(step.eval_totals());
  totals.loss_sum = t.loss_sum;
  totals.correct = static_cast<std::int64_t>(t.correct);
  return totals;
}

}  // namespace logreg::cuda
