// The CUDA backend: CudaBackend (TrainerBackend + CudaStepProbe), probe_cuda() and make_cuda_backend().
// Training rows stay uint8 on the host; each shuffled batch is gathered into a ring of pinned slots and
// uploaded on a copy stream while the previous batch computes. The maths is in kernels/ and cuBLAS.
#include "logreg/cuda_backend.hpp"

#include <cublas_v2.h>
#include <cuda_profiler_api.h>
#include <cuda_runtime.h>
#include <nvtx3/nvToolsExt.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "batch_ring.hpp"
#include "cuda_check.hpp"
#include "cuda_step_probe.hpp"
#include "device_resources.hpp"
#include "kernels.hpp"
#include "logreg/errors.hpp"
#include "logreg/gemm_plan.hpp"
#include "step_bodies.hpp"

namespace logreg {
namespace cuda {
namespace {

// Rows per evaluation chunk: bounds the float copy of the test images on the device.
constexpr std::size_t kEvalChunkRows = 8192;

// An NVTX range for the enclosing scope (a no-op unless a profiler is attached).
class NvtxRange {
 public:
  explicit NvtxRange(const char* name) { nvtxRangePushA(name); }
  ~NvtxRange() { nvtxRangePop(); }
  NvtxRange(const NvtxRange&) = delete;
  NvtxRange& operator=(const NvtxRange&) = delete;
};

cublasOperation_t to_cublas(GemmOp op) { return op == GemmOp::kT ? CUBLAS_OP_T : CUBLAS_OP_N; }

// c = op(a) · op(b) with the argument list built by gemm_plan.hpp (alpha 1, beta 0).
void gemm(cublasHandle_t handle, const GemmArgs& g, const float* a, const float* b, float* c) {
  const float alpha = 1.0f;
  const float beta = 0.0f;
  CUBLAS_CHECK(cublasSgemm(handle, to_cublas(g.transa), to_cublas(g.transb), g.m, g.n, g.k, &alpha, a, g.lda,
                           b, g.ldb, &beta, c, g.ldc));
}

std::string describe_probe_failure(const char* what, cudaError_t err) {
  switch (err) {
    case cudaErrorInsufficientDriver:
      return std::string("no CUDA driver found, or it is older than the runtime (") + what + ": " +
             describe_cuda_error(err) + ")";
    case cudaErrorNoDevice:
      return std::string("no CUDA device found (") + what + ": " + describe_cuda_error(err) + ")";
    default:
      return std::string(what) + " failed: " + describe_cuda_error(err);
  }
}

std::string compute_capability(const cudaDeviceProp& prop) {
  return std::to_string(prop.major) + "." + std::to_string(prop.minor);
}

// One slot of the batch ring: a pinned staging buffer the host gathers into, the device buffer it is
// uploaded to, `uploaded` (recorded on the copy stream after the upload) and `consumed` (recorded on the
// compute stream after the last kernel that reads the device buffer).
struct RingSlot {
  PinnedBuffer<std::uint8_t> host_pixels;  // (capacity, D)
  PinnedBuffer<std::uint8_t> host_labels;  // (capacity)
  DeviceBuffer<std::uint8_t> pixels;       // (capacity, D)
  DeviceBuffer<std::uint8_t> labels;       // (capacity)
  CudaEvent uploaded;
  CudaEvent consumed;

  RingSlot(std::size_t capacity, std::size_t dim)
      : host_pixels(capacity * dim), host_labels(capacity), pixels(capacity * dim), labels(capacity) {}
};

// The pinned batch ring: slots used in the order of BatchRingSchedule.
class PinnedBatchRing {
 public:
  PinnedBatchRing(int slots, std::size_t capacity, std::size_t dim) : schedule_(slots), capacity_(capacity) {
    slots_.reserve(static_cast<std::size_t>(slots));
    for (int s = 0; s < slots; ++s) slots_.emplace_back(capacity, dim);
  }

  std::size_t capacity() const { return capacity_; }
  const BatchRingSchedule& schedule() const { return schedule_; }
  RingSlot& slot(int s) { return slots_[static_cast<std::size_t>(s)]; }
  std::int64_t next_batch() { return issued_++; }

 private:
  BatchRingSchedule schedule_;
  std::size_t capacity_;
  std::vector<RingSlot> slots_;
  std::int64_t issued_ = 0;  // batches uploaded through this ring so far
};

// Sets the device before any other member is created; throws when CUDA is not usable.
int select_device(const CudaOptions& options, cudaDeviceProp* prop) {
  const CudaProbe probe = probe_cuda();
  if (!probe.usable) throw ResourceError("CUDA backend unavailable: " + probe.reason);
  if (options.device < 0 || options.device >= probe.device_count) {
    throw ResourceError("CUDA device " + std::to_string(options.device) + " does not exist (" +
                        std::to_string(probe.device_count) + " found)");
  }
  CUDA_CHECK(cudaSetDevice(options.device));
  CUDA_CHECK(cudaGetDeviceProperties(prop, options.device));
  return options.device;
}

// The model's shape, checked before any buffer is sized from it.
const Model& checked_model(const Model& m) {
  if (m.num_classes < 1 || m.num_classes > kernels::kMaxClasses) {
    throw UsageError("the CUDA backend supports 1 to " + std::to_string(kernels::kMaxClasses) +
                     " classes, not " + std::to_string(m.num_classes));
  }
  if (m.input_dim < 1 || m.weights.size() != static_cast<std::size_t>(m.num_classes) * m.input_dim ||
      m.bias.size() != static_cast<std::size_t>(m.num_classes)) {
    throw UsageError("model parameters do not match its shape (" + std::to_string(m.num_classes) + " x " +
                     std::to_string(m.input_dim) + ")");
  }
  return m;
}

void check_labels(const LabelSet& labels, int classes) {
  for (std::size_t i = 0; i < labels.count(); ++i) {
    if (labels.labels[i] >= classes) {
      throw DataError(labels.path, "label " + std::to_string(labels.labels[i]) + " at row " + std::to_string(i) +
                                       " is not below the model's " + std::to_string(classes) + " classes");
    }
  }
}

class CudaBackend final : public TrainerBackend, public CudaStepProbe {
 public:
  CudaBackend(const ImageSet& train_images, const LabelSet& train_labels, const Model& initial,
              const CudaOptions& options)
      : device_(select_device(options, &prop_)),
        options_(options),
        train_images_(train_images),
        train_labels_(train_labels),
        dim_(checked_model(initial).input_dim),
        classes_(initial.num_classes),
        head_(initial.head),
        cublas_(compute_.get()),
        params_(param_count()),
        grads_(param_count()),
        totals_(2),
        host_totals_(2) {
    if (train_images_.dim() != static_cast<std::size_t>(dim_) || train_labels_.count() != train_images_.count) {
      throw DataError(train_images_.path, "training images (" + std::to_string(train_images_.count) + " x " +
                                              std::to_string(train_images_.dim()) + ") do not match " +
                                              std::to_string(train_labels_.count()) + " labels and input dim " +
                                              std::to_string(dim_));
    }
    if (options_.ring_slots < 2) {
      throw UsageError("ring_slots must be at least 2 (got " + std::to_string(options_.ring_slots) + ")");
    }
    check_labels(train_labels_, classes_);
    name_ = "cuda (" + std::string(prop_.name) + ", cc " + compute_capability(prop_) + ")";

    // Parameters: weights (C, D) row-major, then the bias, one block so SGD is one launch.
    CUDA_CHECK(cudaMemcpyAsync(weights(), initial.weights.data(), initial.weights.size() * sizeof(float),
                               cudaMemcpyHostToDevice, compute_.get()));
    CUDA_CHECK(cudaMemcpyAsync(bias(), initial.bias.data(), initial.bias.size() * sizeof(float),
                               cudaMemcpyHostToDevice, compute_.get()));
    CUDA_CHECK(cudaMemsetAsync(grads_.data(), 0, grads_.bytes(), compute_.get()));
    // Momentum buffers (C*D + C): the saved state when resuming, else zeros.
    if (options_.optimizer.momentum != 0.0f) {
      velocity_ = DeviceBuffer<float>(param_count());
      if (options_.velocity.empty()) {
        CUDA_CHECK(cudaMemsetAsync(velocity_.data(), 0, velocity_.bytes(), compute_.get()));
      } else if (options_.velocity.size() != param_count()) {
        throw DataError("", "optimizer state has " + std::to_string(options_.velocity.size()) +
                                " values, the model needs " + std::to_string(param_count()));
      } else {
        CUDA_CHECK(cudaMemcpyAsync(velocity_.data(), options_.velocity.data(), velocity_.bytes(),
                                   cudaMemcpyHostToDevice, compute_.get()));
      }
    }
    compute_.synchronize();
  }

  ~CudaBackend() override {
    // Pending copies read pinned memory and kernels write buffers that are about to be freed.
    log_release_failure(cudaStreamSynchronize(copy_.get()), "cudaStreamSynchronize(copy)");
    log_release_failure(cudaStreamSynchronize(compute_.get()), "cudaStreamSynchronize(compute)");
    if (epoch_range_open_) nvtxRangePop();
  }

  std::string name() const override { return name_; }

  Totals train_epoch(const std::vector<std::uint32_t>& order, int batch_size, float lr) override {
    if (batch_size <= 0) throw UsageError("batch size must be positive (got " + std::to_string(batch_size) + ")");
    Totals totals;
    totals.count = static_cast<std::int64_t>(order.size());
    if (order.empty()) return totals;

    const std::size_t rows_max = std::min(order.size(), static_cast<std::size_t>(batch_size));
    reserve_batch(rows_max);
    start_capture(order.size());
    CUDA_CHECK(cudaMemsetAsync(train_totals(), 0, sizeof(kernels::DeviceTotals), compute_.get()));

    // 1. Gather batch k into a pinned slot and upload it on the copy stream; 2. compute it on the compute
    // stream. The host runs ahead, so the upload of batch k + 1 overlaps the compute of batch k.
    const std::int64_t batches = batch_count(order.size(), batch_size);
    for (std::int64_t b = 0; b < batches; ++b) {
      const std::size_t start = static_cast<std::size_t>(b) * static_cast<std::size_t>(batch_size);
      const int rows = static_cast<int>(std::min(order.size() - start, static_cast<std::size_t>(batch_size)));
      const int slot = upload_batch(order, start, rows);
      train_step(slot, rows, lr);
    }

    // 3. One read-back per epoch.
    const kernels::DeviceTotals t = read_totals(train_totals());
    totals.loss_sum = t.loss_sum;
    totals.correct = static_cast<std::int64_t>(t.correct);
    totals.last_batch_loss = t.last_batch_loss_sum / static_cast<double>(last_batch_rows_);
    return totals;
  }

  Totals evaluate(const ImageSet& images, const LabelSet& labels) override {
    NvtxRange range("evaluate");
    if (images.dim() != static_cast<std::size_t>(dim_) || labels.count() != images.count) {
      throw DataError(images.path, "evaluation images (" + std::to_string(images.count) + " x " +
                                       std::to_string(images.dim()) + ") do not match " +
                                       std::to_string(labels.count()) + " labels and input dim " +
                                       std::to_string(dim_));
    }
    Totals totals;
    totals.count = images.count;
    if (images.count == 0) return totals;
    upload_eval_set(images, labels);

    CUDA_CHECK(cudaMemsetAsync(eval_totals(), 0, sizeof(kernels::DeviceTotals), compute_.get()));
    const std::size_t n = images.count;
    for (std::size_t start = 0; start < n; start += kEvalChunkRows) {
      const int rows = static_cast<int>(std::min(kEvalChunkRows, n - start));
      kernels::convert_pixels(eval_pixels_.data() + start * dim_, eval_x_.data(),
                              static_cast<std::size_t>(rows) * dim_, compute_.get());
      // Row-major Z (rows, C) = X · Wᵀ as the column-major Zᵀ = W · Xᵀ: see forward_logits_gemm.
      gemm(cublas_.get(), forward_logits_gemm(rows, dim_, classes_), weights(), eval_x_.data(),
           eval_logits_.data());
      kernels::loss_grad(head_, rows, classes_, 1.0f, eval_logits_.data(), bias(), eval_labels_.data() + start,
                         nullptr, nullptr, eval_totals(), compute_.get());
    }
    const kernels::DeviceTotals t = read_totals(eval_totals());
    totals.loss_sum = t.loss_sum;
    totals.correct = static_cast<std::int64_t>(t.correct);
    return totals;
  }

  Model model() const override {
    Model m;
    m.input_dim = dim_;
    m.num_classes = classes_;
    m.head = head_;
    m.weights.resize(static_cast<std::size_t>(classes_) * dim_);
    m.bias.resize(static_cast<std::size_t>(classes_));
    copy_to_host(m.weights.data(), params_.data(), m.weights.size());
    copy_to_host(m.bias.data(), params_.data() + m.weights.size(), m.bias.size());
    compute_.synchronize();
    return m;
  }

  std::vector<float> optimizer_state() const override {
    std::vector<float> v(velocity_.size());
    if (v.empty()) return v;
    copy_to_host(v.data(), velocity_.data(), v.size());
    compute_.synchronize();
    return v;
  }

  void begin_epoch(int epoch) override {
    nvtxRangePushA("epoch");
    epoch_range_open_ = true;
    if (options_.profile_epoch > 0 && epoch == options_.profile_epoch) {
      CUDA_CHECK(cudaDeviceSynchronize());  // earlier epochs stay out of the capture
      CUDA_CHECK(cudaProfilerStart());
      profiling_ = true;
    }
  }

  void end_epoch(int epoch) override {
    if (profiling_ && epoch == options_.profile_epoch) {
      CUDA_CHECK(cudaDeviceSynchronize());  // the whole epoch inside the capture
      CUDA_CHECK(cudaProfilerStop());
      profiling_ = false;
    }
    if (epoch_range_open_) {
      nvtxRangePop();
      epoch_range_open_ = false;
    }
  }

  // CudaStepProbe ---------------------------------------------------------------------------------------

  StepIntermediates last_step() const override {
    StepIntermediates s;
    s.batch = last_batch_rows_;
    const std::size_t bc = static_cast<std::size_t>(last_batch_rows_) * classes_;
    const std::size_t cd = static_cast<std::size_t>(classes_) * dim_;
    s.logits.resize(bc);
    s.dz.resize(bc);
    s.dw.resize(cd);
    s.db.resize(static_cast<std::size_t>(classes_));
    copy_to_host(s.logits.data(), logits_.data(), bc);
    copy_to_host(s.dz.data(), dz_.data(), bc);
    copy_to_host(s.dw.data(), grads_.data(), cd);
    copy_to_host(s.db.data(), grads_.data() + cd, s.db.size());
    compute_.synchronize();
    return s;
  }

  void set_batch_capture(bool enabled) override { capture_ = enabled; }

  CapturedBatches captured_batches() const override {
    CapturedBatches c;
    c.pixels.resize(capture_rows_ * dim_);
    c.labels.resize(capture_rows_);
    copy_to_host(c.pixels.data(), capture_pixels_.data(), c.pixels.size());
    copy_to_host(c.labels.data(), capture_labels_.data(), c.labels.size());
    compute_.synchronize();
    return c;
  }

 private:
  std::size_t param_count() const { return static_cast<std::size_t>(classes_) * dim_ + classes_; }
  float* weights() { return params_.data(); }  // (C, D) row-major
  float* bias() { return params_.data() + static_cast<std::size_t>(classes_) * dim_; }  // (C)
  kernels::DeviceTotals* train_totals() { return totals_.data(); }
  kernels::DeviceTotals* eval_totals() { return totals_.data() + 1; }

  // Ordered after everything enqueued on the compute stream so far; the caller synchronises.
  template <class T>
  void copy_to_host(T* dst, const T* src, std::size_t count) const {
    if (count == 0) return;
    CUDA_CHECK(cudaMemcpyAsync(dst, src, count * sizeof(T), cudaMemcpyDeviceToHost, compute_.get()));
  }

  kernels::DeviceTotals read_totals(const kernels::DeviceTotals* device_totals) {
    CUDA_CHECK(cudaMemcpyAsync(host_totals_.data(), device_totals, sizeof(kernels::DeviceTotals),
                               cudaMemcpyDeviceToHost, compute_.get()));
    compute_.synchronize();
    return host_totals_.data()[0];
  }

  // Ring slots and per-batch device buffers for batches of up to `rows` rows.
  void reserve_batch(std::size_t rows) {
    if (ring_ != nullptr && ring_->capacity() >= rows) return;
    copy_.synchronize();
    compute_.synchronize();
    ring_.reset();
    ring_ = std::make_unique<PinnedBatchRing>(options_.ring_slots, rows, static_cast<std::size_t>(dim_));
    x_ = DeviceBuffer<float>(rows * dim_);
    logits_ = DeviceBuffer<float>(rows * classes_);
    dz_ = DeviceBuffer<float>(rows * classes_);
  }

  void start_capture(std::size_t rows) {
    capture_rows_ = 0;
    if (!capture_) return;
    if (capture_pixels_.size() < rows * dim_) {
      compute_.synchronize();
      capture_pixels_ = DeviceBuffer<std::uint8_t>(rows * dim_);
      capture_labels_ = DeviceBuffer<std::uint8_t>(rows);
    }
  }

  // Gathers rows order[start, start + rows) into the next ring slot and uploads it on the copy stream.
  int upload_batch(const std::vector<std::uint32_t>& order, std::size_t start, int rows) {
    NvtxRange range("h2d");
    const std::int64_t k = ring_->next_batch();
    const int s = ring_->schedule().slot_of(k);
    RingSlot& slot = ring_->slot(s);
    const bool reused = ring_->schedule().must_complete_before_reuse(k) >= 0;
    if (reused) slot.uploaded.synchronize();  // the pinned slot is free once its last upload is done
    gather_batch(train_images_, train_labels_, order.data(), start, rows, slot.host_pixels.data(),
                 slot.host_labels.data());
    // The device slot is free once the compute stream has run the last kernel that reads it.
    if (reused) CUDA_CHECK(cudaStreamWaitEvent(copy_.get(), slot.consumed.get(), 0));
    const std::size_t pixel_bytes = static_cast<std::size_t>(rows) * dim_;
    CUDA_CHECK(cudaMemcpyAsync(slot.pixels.data(), slot.host_pixels.data(), pixel_bytes, cudaMemcpyHostToDevice,
                               copy_.get()));
    CUDA_CHECK(cudaMemcpyAsync(slot.labels.data(), slot.host_labels.data(), static_cast<std::size_t>(rows),
                               cudaMemcpyHostToDevice, copy_.get()));
    slot.uploaded.record(copy_.get());
    return s;
  }

  // One SGD step on the batch in ring slot `s`, enqueued on the compute stream.
  void train_step(int s, int rows, float lr) {
    RingSlot& slot = ring_->slot(s);
    cudaStream_t stream = compute_.get();
    CUDA_CHECK(cudaStreamWaitEvent(stream, slot.uploaded.get(), 0));
    if (capture_) capture_batch(slot, rows);
    {
      NvtxRange range("forward");
      kernels::convert_pixels(slot.pixels.data(), x_.data(), static_cast<std::size_t>(rows) * dim_, stream);
      // cuBLAS is column-major and our buffers row-major, so cuBLAS sees every buffer transposed
      // (gemm_plan.hpp). We want Z (B, C) = X (B, D) · Wᵀ; cuBLAS computes its column-major Zᵀ (C, B)
      // = W · Xᵀ from A = the W buffer (seen as Wᵀ (D, C), ld D, op T -> (C, D)) and B = the X buffer
      // (seen as Xᵀ (D, B), ld D, op N); m = C, n = B, k = D; the result buffer read row-major is Z.
      gemm(cublas_.get(), forward_logits_gemm(rows, dim_, classes_), weights(), x_.data(), logits_.data());
    }
    {
      NvtxRange range("loss_grad");
      kernels::loss_grad(head_, rows, classes_, 1.0f / static_cast<float>(rows), logits_.data(), bias(),
                         slot.labels.data(), dz_.data(), grads_.data() + static_cast<std::size_t>(classes_) * dim_,
                         train_totals(), stream);
      slot.consumed.record(stream);  // last reader of the device slot (pixels in convert, labels here)
    }
    {
      NvtxRange range("backward");
      // dW (C, D) = dZᵀ (C, B) · X (B, D) row-major is the column-major dWᵀ (D, C) = Xᵀ (D, B) · dZ (B, C):
      // A = the X buffer (seen as Xᵀ (D, B), ld D, op N), B = the dZ buffer (seen as dZᵀ (C, B), ld C,
      // op T -> (B, C)); m = D, n = C, k = B (backward_weights_gemm); dW lands at the start of grads_.
      gemm(cublas_.get(), backward_weights_gemm(rows, dim_, classes_), x_.data(), dz_.data(), grads_.data());
    }
    {
      NvtxRange range("sgd_update");
      kernels::SgdStepParams p;
      p.lr = lr;
      p.momentum = options_.optimizer.momentum;
      p.weight_decay = options_.optimizer.weight_decay;
      p.nesterov = options_.optimizer.nesterov;
      p.n_weights = static_cast<std::size_t>(classes_) * dim_;
      p.n = param_count();
      kernels::sgd_update(params_.data(), grads_.data(), velocity_.size() > 0 ? velocity_.data() : nullptr, p, stream);
    }
    last_batch_rows_ = rows;
  }

  // Test hook: the device batch as the compute stream sees it, appended to the capture buffer.
  void capture_batch(const RingSlot& slot, int rows) {
    const std::size_t r = static_cast<std::size_t>(rows);
    CUDA_CHECK(cudaMemcpyAsync(capture_pixels_.data() + capture_rows_ * dim_, slot.pixels.data(), r * dim_,
                               cudaMemcpyDeviceToDevice, compute_.get()));
    CUDA_CHECK(cudaMemcpyAsync(capture_labels_.data() + capture_rows_, slot.labels.data(), r,
                               cudaMemcpyDeviceToDevice, compute_.get()));
    capture_rows_ += r;
  }

  // Test images stay uint8 on the device, uploaded once per image set (by identity); floats per chunk.
  void upload_eval_set(const ImageSet& images, const LabelSet& labels) {
    if (eval_images_ == &images && eval_pixels_host_ == images.pixels.data() && eval_count_ == images.count &&
        eval_labels_set_ == &labels && eval_labels_host_ == labels.labels.data()) {
      return;
    }
    check_labels(labels, classes_);
    compute_.synchronize();
    eval_images_ = nullptr;
    const std::size_t n = images.count;
    const std::size_t chunk = std::min(n, kEvalChunkRows);
    eval_pixels_ = DeviceBuffer<std::uint8_t>(n * dim_);
    eval_labels_ = DeviceBuffer<std::uint8_t>(n);
    eval_x_ = DeviceBuffer<float>(chunk * dim_);
    eval_logits_ = DeviceBuffer<float>(chunk * classes_);
    CUDA_CHECK(cudaMemcpyAsync(eval_pixels_.data(), images.pixels.data(), eval_pixels_.bytes(),
                               cudaMemcpyHostToDevice, compute_.get()));
    CUDA_CHECK(cudaMemcpyAsync(eval_labels_.data(), labels.labels.data(), eval_labels_.bytes(),
                               cudaMemcpyHostToDevice, compute_.get()));
    compute_.synchronize();  // the host vectors may change after we return
    eval_images_ = &images;
    eval_pixels_host_ = images.pixels.data();
    eval_count_ = images.count;
    eval_labels_set_ = &labels;
    eval_labels_host_ = labels.labels.data();
  }

  cudaDeviceProp prop_{};
  int device_;
  CudaOptions options_;
  const ImageSet& train_images_;
  const LabelSet& train_labels_;
  int dim_;      // D
  int classes_;  // C
  LossHead head_;
  std::string name_;

  CudaStream compute_;
  CudaStream copy_;
  CublasHandle cublas_;  // bound to compute_

  DeviceBuffer<float> params_;                // (C*D + C) weights (C, D) row-major, then bias (C)
  DeviceBuffer<float> grads_;                 // (C*D + C) dW, then db
  DeviceBuffer<float> velocity_;              // (C*D + C) momentum buffers; empty without momentum
  DeviceBuffer<kernels::DeviceTotals> totals_;  // [0] training epoch, [1] evaluation
  PinnedBuffer<kernels::DeviceTotals> host_totals_;

  std::unique_ptr<PinnedBatchRing> ring_;
  DeviceBuffer<float> x_;       // (capacity, D) the current batch as floats
  DeviceBuffer<float> logits_;  // (capacity, C)
  DeviceBuffer<float> dz_;      // (capacity, C)
  int last_batch_rows_ = 0;

  const ImageSet* eval_images_ = nullptr;
  const std::uint8_t* eval_pixels_host_ = nullptr;
  std::size_t eval_count_ = 0;
  const LabelSet* eval_labels_set_ = nullptr;
  const std::uint8_t* eval_labels_host_ = nullptr;
  DeviceBuffer<std::uint8_t> eval_pixels_;  // (N, D)
  DeviceBuffer<std::uint8_t> eval_labels_;  // (N)
  DeviceBuffer<float> eval_x_;              // (chunk, D)
  DeviceBuffer<float> eval_logits_;         // (chunk, C)

  bool capture_ = false;
  std::size_t capture_rows_ = 0;
  DeviceBuffer<std::uint8_t> capture_pixels_;  // (rows, D)
  DeviceBuffer<std::uint8_t> capture_labels_;  // (rows)

  bool epoch_range_open_ = false;
  bool profiling_ = false;
};

}  // namespace
}  // namespace cuda

CudaProbe probe_cuda() {
  CudaProbe probe;
  try {
    int count = 0;
    cudaError_t err = cudaGetDeviceCount(&count);
    if (err != cudaSuccess) {
      (void)cudaGetLastError();
      probe.reason = cuda::describe_probe_failure("cudaGetDeviceCount", err);
      return probe;
    }
    probe.device_count = count;
    if (count == 0) {
      probe.reason = "no CUDA device found (cudaGetDeviceCount returned 0)";
      return probe;
    }
    cudaDeviceProp prop{};
    err = cudaGetDeviceProperties(&prop, 0);
    if (err != cudaSuccess) {
      (void)cudaGetLastError();
      probe.reason = cuda::describe_probe_failure("cudaGetDeviceProperties(0)", err);
      return probe;
    }
    probe.device_name = prop.name;

    // A context can be created and this build carries code the device can run; the caller's current
    // device is restored.
    int previous = 0;
    const bool had_previous = cudaGetDevice(&previous) == cudaSuccess;
    err = cudaSetDevice(0);
    if (err == cudaSuccess) err = cudaFree(nullptr);
    if (err != cudaSuccess) {
      (void)cudaGetLastError();
      probe.reason = cuda::describe_probe_failure("creating a context on device 0", err);
      return probe;
    }
    err = kernels::kernel_image_status();
    if (had_previous) (void)cudaSetDevice(previous);
    if (err != cudaSuccess) {
      probe.reason = "this build has no kernel image for " + probe.device_name + " (cc " +
                     cuda::compute_capability(prop) + "; rebuild with -DCMAKE_CUDA_ARCHITECTURES=" +
                     std::to_string(prop.major * 10 + prop.minor) + "): " + cuda::describe_cuda_error(err);
      return probe;
    }
    probe.usable = true;
  } catch (const std::exception& e) {
    probe.usable = false;
    probe.reason = std::string("probing CUDA failed: ") + e.what();
  } catch (...) {
    probe.usable = false;
    probe.reason = "probing CUDA failed";
  }
  return probe;
}

std::unique_ptr<TrainerBackend> make_cuda_backend(const ImageSet& train_images, const LabelSet& train_labels,
                                                  const Model& initial, const CudaOptions& options) {
  return std::make_unique<cuda::CudaBackend>(train_images, train_labels, initial, options);
}

}  // namespace logreg
