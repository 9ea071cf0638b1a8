// The CUDA backend: CudaBackend (TrainerBackend + CudaStepProbe), probe_cuda() and make_cuda_backend().
// Two input paths (CudaOptions::residency): the uint8 training set uploaded once, each batch gathered and
// converted on the device, one full-batch step captured as a CUDA graph and replayed; or the set kept on
// the host, each batch gathered into a ring of pinned slots and uploaded on a copy stream while the
// previous batch computes. The maths is in kernels/ and cuBLAS, the same for both.
#include "logreg/cuda_backend.hpp"

#include <cublas_v2.h>
#include <cuda_profiler_api.h>
#include <cuda_runtime.h>
#include <nvtx3/nvToolsExt.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
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

// The cuBLAS workspace we own (cublasSetWorkspace): the size the cuBLAS documentation recommends, 32 MiB
// on Hopper (cc 9.x) and later, 4 MiB before. Owning it keeps cuBLAS from allocating inside a graph
// capture, and every GEMM of both input paths sees the same workspace, hence the same algorithms.
std::size_t cublas_workspace_bytes(const cudaDeviceProp& prop) {
  return (prop.major >= 9 ? std::size_t{32} : std::size_t{4}) << 20;
}

// The device-resident path's per-epoch upload, one H2D copy: the step state (16 bytes), then the order.
static_assert(sizeof(kernels::DeviceStepState) == 4 * sizeof(std::uint32_t), "the order starts 16 bytes in");
constexpr std::size_t kStateWords = sizeof(kernels::DeviceStepState) / sizeof(std::uint32_t);

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

// An instantiated CUDA graph (move-only; the destructor logs a failed release instead of throwing).
class CudaGraphExec {
 public:
  CudaGraphExec() = default;
  explicit CudaGraphExec(cudaGraphExec_t exec) : exec_(exec) {}
  ~CudaGraphExec() { release(); }
  CudaGraphExec(const CudaGraphExec&) = delete;
  CudaGraphExec& operator=(const CudaGraphExec&) = delete;
  CudaGraphExec(CudaGraphExec&& o) noexcept : exec_(std::exchange(o.exec_, nullptr)) {}
  CudaGraphExec& operator=(CudaGraphExec&& o) noexcept {
    if (this != &o) {
      release();
      exec_ = std::exchange(o.exec_, nullptr);
    }
    return *this;
  }

  bool valid() const { return exec_ != nullptr; }
  void launch(cudaStream_t stream) const { CUDA_CHECK(cudaGraphLaunch(exec_, stream)); }

 private:
  void release() noexcept {
    if (exec_ != nullptr) log_release_failure(cudaGraphExecDestroy(exec_), "cudaGraphExecDestroy");
    exec_ = nullptr;
  }
  cudaGraphExec_t exec_ = nullptr;
};

// Records what `enqueue` puts on `stream` (nothing runs) and instantiates it. Thread-local capture mode:
// an unsafe call (a cudaMalloc, a synchronisation) made by this thread during the capture fails the
// capture instead of silently leaving it; other threads are not affected. When `enqueue` throws, the
// capture is ended and discarded so the stream is usable again.
template <class Enqueue>
CudaGraphExec capture_graph(cudaStream_t stream, Enqueue&& enqueue) {
  CUDA_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
  cudaGraph_t graph = nullptr;
  try {
    enqueue();
  } catch (...) {
    if (cudaStreamEndCapture(stream, &graph) == cudaSuccess && graph != nullptr) (void)cudaGraphDestroy(graph);
    (void)cudaGetLastError();
    throw;
  }
  CUDA_CHECK(cudaStreamEndCapture(stream, &graph));
  cudaGraphExec_t exec = nullptr;
  const cudaError_t instantiated = cudaGraphInstantiate(&exec, graph, 0);
  log_release_failure(cudaGraphDestroy(graph), "cudaGraphDestroy");
  if (instantiated != cudaSuccess) throw_cuda_error(instantiated, "cudaGraphInstantiate", __FILE__, __LINE__);
  return CudaGraphExec(exec);
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
  PinnedBatchRing(int slots, std::size_t capacity, std::size_t dim) : schedule_(slots) {
    slots_.reserve(static_cast<std::size_t>(slots));
    for (int s = 0; s < slots; ++s) slots_.emplace_back(capacity, dim);
  }

  const BatchRingSchedule& schedule() const { return schedule_; }
  RingSlot& slot(int s) { return slots_[static_cast<std::size_t>(s)]; }
  std::int64_t next_batch() { return issued_++; }

 private:
  BatchRingSchedule schedule_;
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

    // Our own cuBLAS workspace, set after cublasSetStream (which resets the handle to cuBLAS's pool).
    std::size_t free_bytes = 0;
    std::size_t total_bytes = 0;
    CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
    cublas_workspace_ = DeviceBuffer<std::uint8_t>(cublas_workspace_bytes(prop_));
    CUBLAS_CHECK(cublasSetWorkspace(cublas_.get(), cublas_workspace_.data(), cublas_workspace_.bytes()));
    residency_ = resolve_residency(
        options_.residency, resident_bytes(train_images_.count, static_cast<std::size_t>(dim_), cublas_workspace_.bytes()),
        free_bytes);
    graphs_ = residency_ == Residency::kDevice && options_.cuda_graphs;
    name_ = "cuda (" + std::string(prop_.name) + ", cc " + compute_capability(prop_) + "; " +
            (residency_ == Residency::kDevice
                 ? std::string("data on device, CUDA graphs ") + (graphs_ ? "on" : "off")
                 : std::string("data streamed from pinned host memory")) +
            ")";
    if (residency_ == Residency::kDevice) upload_training_set();

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

  // A GPU backend; built with LOGREG_CUDA=emulated, its device is the CPU emulator.
  BackendTraits traits() const override {
    BackendTraits t;
    t.gpu = true;
#ifdef LOGREG_CUDA_EMULATED
    t.emulated = true;
#endif
    return t;
  }

  Totals train_epoch(const std::vector<std::uint32_t>& order, int batch_size, float lr) override {
    if (batch_size <= 0) throw UsageError("batch size must be positive (got " + std::to_string(batch_size) + ")");
    Totals totals;
    totals.count = static_cast<std::int64_t>(order.size());
    if (order.empty()) return totals;
    if (residency_ == Residency::kDevice) return train_epoch_resident(order, batch_size, lr, totals);
    check_order(order);  // before any step, as on the device path: a rejected epoch changes nothing

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

  // With device-resident data the capture holds the gathered floats x (what the GEMMs read); each is
  // p / 255 for a uint8 p, so round(x * 255) gives the pixel back exactly.
  CapturedBatches captured_batches() const override {
    CapturedBatches c;
    c.pixels.resize(capture_rows_ * dim_);
    c.labels.resize(capture_rows_);
    if (residency_ == Residency::kDevice) {
      std::vector<float> x(c.pixels.size());
      copy_to_host(x.data(), capture_x_.data(), x.size());
      copy_to_host(c.labels.data(), capture_labels_.data(), c.labels.size());
      compute_.synchronize();
      for (std::size_t k = 0; k < x.size(); ++k) {
        c.pixels[k] = static_cast<std::uint8_t>(std::lround(static_cast<double>(x[k]) * 255.0));
      }
      return c;
    }
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

  // Per-batch device buffers for batches of up to `rows` rows, and the pinned ring (streamed path) or the
  // batch labels (device-resident path). A reallocation invalidates the captured step graph.
  void reserve_batch(std::size_t rows) {
    if (batch_capacity_ >= rows) return;
    copy_.synchronize();
    compute_.synchronize();
    drop_step_graph();
    ring_.reset();
    if (residency_ == Residency::kStream) {
      ring_ = std::make_unique<PinnedBatchRing>(options_.ring_slots, rows, static_cast<std::size_t>(dim_));
    } else {
      y_ = DeviceBuffer<std::uint8_t>(rows);
    }
    x_ = DeviceBuffer<float>(rows * dim_);
    logits_ = DeviceBuffer<float>(rows * classes_);
    dz_ = DeviceBuffer<float>(rows * classes_);
    batch_capacity_ = rows;
  }

  void start_capture(std::size_t rows) {
    capture_rows_ = 0;
    if (!capture_) return;
    if (capture_labels_.size() < rows) {
      compute_.synchronize();
      if (residency_ == Residency::kDevice) {
        capture_x_ = DeviceBuffer<float>(rows * dim_);
      } else {
        capture_pixels_ = DeviceBuffer<std::uint8_t>(rows * dim_);
      }
      capture_labels_ = DeviceBuffer<std::uint8_t>(rows);
    }
  }

  // ---- Device-resident data -------------------------------------------------------------------------

  // The uint8 training set, uploaded once (the host vectors are read here and never again).
  void upload_training_set() {
    const std::size_t pixel_bytes = static_cast<std::size_t>(train_images_.count) * static_cast<std::size_t>(dim_);
    train_pixels_ = DeviceBuffer<std::uint8_t>(pixel_bytes);
    train_labels_device_ = DeviceBuffer<std::uint8_t>(train_labels_.count());
    if (pixel_bytes > 0) {
      CUDA_CHECK(cudaMemcpyAsync(train_pixels_.data(), train_images_.pixels.data(), pixel_bytes,
                                 cudaMemcpyHostToDevice, compute_.get()));
      CUDA_CHECK(cudaMemcpyAsync(train_labels_device_.data(), train_labels_.labels.data(), train_labels_.count(),
                                 cudaMemcpyHostToDevice, compute_.get()));
    }
  }

  // Room for the step state and an order of `rows` indices, on the device and in pinned staging memory.
  void reserve_epoch_block(std::size_t rows) {
    if (epoch_block_.size() >= kStateWords + rows) return;
    compute_.synchronize();
    drop_step_graph();
    epoch_block_ = DeviceBuffer<std::uint32_t>(kStateWords + rows);
    host_epoch_block_ = PinnedBuffer<std::uint32_t>(kStateWords + rows);
  }
  kernels::DeviceStepState* step_state() { return reinterpret_cast<kernels::DeviceStepState*>(epoch_block_.data()); }
  const std::uint32_t* device_order() { return epoch_block_.data() + kStateWords; }

  // The same check gather_batch makes on the streamed path, before anything is enqueued.
  void check_order(const std::vector<std::uint32_t>& order) const {
    for (const std::uint32_t row : order) {
      if (row >= train_images_.count) {
        throw Error(ExitCode::kFailure, "train_epoch: row index " + std::to_string(row) +
                                            " outside the training set of " + std::to_string(train_images_.count) +
                                            " images");
      }
    }
  }

  // 1. One H2D copy: {start 0, lr} and the epoch's order. 2. Every full batch: replay the captured step
  // graph (or enqueue the step when graphs are off, or while the test capture is on). 3. The partial last
  // batch, uncaptured. 4. One read-back.
  Totals train_epoch_resident(const std::vector<std::uint32_t>& order, int batch_size, float lr, Totals totals) {
    check_order(order);
    const std::size_t batch = static_cast<std::size_t>(batch_size);
    reserve_batch(std::min(order.size(), batch));
    reserve_epoch_block(order.size());
    start_capture(order.size());
    const std::int64_t full_batches = static_cast<std::int64_t>(order.size() / batch);
    const int rest = static_cast<int>(order.size() % batch);
    const bool replay = graphs_ && !capture_ && full_batches > 0;
    const bool must_capture = replay && !(step_graph_.valid() && step_graph_rows_ == batch_size);

    compute_.synchronize();  // no copy from the pinned staging block is still in flight
    kernels::DeviceStepState state{};
    state.start = 0;
    state.lr = lr;
    std::memcpy(host_epoch_block_.data(), &state, sizeof state);
    std::copy(order.begin(), order.end(), host_epoch_block_.data() + kStateWords);
    CUDA_CHECK(cudaMemcpyAsync(epoch_block_.data(), host_epoch_block_.data(),
                               (kStateWords + order.size()) * sizeof(std::uint32_t), cudaMemcpyHostToDevice,
                               compute_.get()));
    CUDA_CHECK(cudaMemsetAsync(train_totals(), 0, sizeof(kernels::DeviceTotals), compute_.get()));

    std::int64_t b = 0;
    if (must_capture) {
      // The first full batch runs eagerly, so module loading and cuBLAS's kernel choice happen outside the
      // capture; then the step is recorded (nothing runs) and replayed for the other full batches.
      resident_step(batch_size);
      ++b;
      capture_step_graph(batch_size);
    }
    for (; b < full_batches; ++b) {
      if (replay && step_graph_.valid()) {
        step_graph_.launch(compute_.get());
      } else {
        resident_step(batch_size);
      }
    }
    if (rest > 0) resident_step(rest);
    last_batch_rows_ = rest > 0 ? rest : batch_size;

    const kernels::DeviceTotals t = read_totals(train_totals());
    totals.loss_sum = t.loss_sum;
    totals.correct = static_cast<std::int64_t>(t.correct);
    totals.last_batch_loss = t.last_batch_loss_sum / static_cast<double>(last_batch_rows_);
    return totals;
  }

  // One SGD step on the next `rows` rows of the device order, enqueued on the compute stream (or recorded
  // into the graph being captured): the batch's position and the learning rate are read on the device.
  void resident_step(int rows) {
    {
      NvtxRange range("gather");
      kernels::gather_convert(train_pixels_.data(), train_labels_device_.data(), device_order(), step_state(),
                              static_cast<std::size_t>(rows), static_cast<std::size_t>(dim_), x_.data(), y_.data(),
                              compute_.get());
    }
    if (capture_) capture_resident_batch(rows);
    forward_backward(y_.data(), rows, nullptr);
    {
      NvtxRange range("sgd_update");
      kernels::sgd_update_from_state(params_.data(), grads_.data(),
                                     velocity_.size() > 0 ? velocity_.data() : nullptr, sgd_params(0.0f),
                                     step_state(), static_cast<unsigned long long>(rows), compute_.get());
    }
  }

  // Records one full-batch step into step_graph_. Should the capture fail (a library call that cannot be
  // captured, say), training goes on without graphs, saying so once on stderr and in name().
  void capture_step_graph(int rows) {
    NvtxRange range("capture step graph");
    drop_step_graph();
    try {
      step_graph_ = capture_graph(compute_.get(), [&] { resident_step(rows); });
      step_graph_rows_ = rows;
    } catch (const ResourceError& e) {
      graphs_ = false;
      std::fprintf(stderr, "logreg_cuda: warning: capturing the training step as a CUDA graph failed, "
                           "continuing without graphs: %s\n", e.what());
      const std::string on = "CUDA graphs on";
      const std::size_t at = name_.find(on);
      if (at != std::string::npos) name_.replace(at, on.size(), "CUDA graphs off (capture failed)");
    }
  }

  void drop_step_graph() {
    step_graph_ = CudaGraphExec();
    step_graph_rows_ = 0;
  }

  // Test hook: the gathered floats and labels, appended to the capture buffers.
  void capture_resident_batch(int rows) {
    const std::size_t r = static_cast<std::size_t>(rows);
    CUDA_CHECK(cudaMemcpyAsync(capture_x_.data() + capture_rows_ * dim_, x_.data(), r * dim_ * sizeof(float),
                               cudaMemcpyDeviceToDevice, compute_.get()));
    CUDA_CHECK(cudaMemcpyAsync(capture_labels_.data() + capture_rows_, y_.data(), r, cudaMemcpyDeviceToDevice,
                               compute_.get()));
    capture_rows_ += r;
  }

  // ---- Both paths -----------------------------------------------------------------------------------

  kernels::SgdStepParams sgd_params(float lr) const {
    kernels::SgdStepParams p;
    p.lr = lr;
    p.momentum = options_.optimizer.momentum;
    p.weight_decay = options_.optimizer.weight_decay;
    p.nesterov = options_.optimizer.nesterov;
    p.n_weights = static_cast<std::size_t>(classes_) * dim_;
    p.n = param_count();
    return p;
  }

  // The step between the batch x_ (floats) + its labels and the update: forward GEMM, fused loss and
  // gradients, backward GEMM; `labels_consumed` (may be null) is recorded after the last reader of labels.
  void forward_backward(const std::uint8_t* labels, int rows, const CudaEvent* labels_consumed) {
    cudaStream_t stream = compute_.get();
    {
      NvtxRange range("forward");
      // cuBLAS is column-major and our buffers row-major, so cuBLAS sees every buffer transposed
      // (gemm_plan.hpp). We want Z (B, C) = X (B, D) · Wᵀ; cuBLAS computes its column-major Zᵀ (C, B)
      // = W · Xᵀ from A = the W buffer (seen as Wᵀ (D, C), ld D, op T -> (C, D)) and B = the X buffer
      // (seen as Xᵀ (D, B), ld D, op N); m = C, n = B, k = D; the result buffer read row-major is Z.
      gemm(cublas_.get(), forward_logits_gemm(rows, dim_, classes_), weights(), x_.data(), logits_.data());
    }
    {
      NvtxRange range("loss_grad");
      kernels::loss_grad(head_, rows, classes_, 1.0f / static_cast<float>(rows), logits_.data(), bias(), labels,
                         dz_.data(), grads_.data() + static_cast<std::size_t>(classes_) * dim_, train_totals(),
                         stream);
      if (labels_consumed != nullptr) labels_consumed->record(stream);
    }
    {
      NvtxRange range("backward");
      // dW (C, D) = dZᵀ (C, B) · X (B, D) row-major is the column-major dWᵀ (D, C) = Xᵀ (D, B) · dZ (B, C):
      // A = the X buffer (seen as Xᵀ (D, B), ld D, op N), B = the dZ buffer (seen as dZᵀ (C, B), ld C,
      // op T -> (B, C)); m = D, n = C, k = B (backward_weights_gemm); dW lands at the start of grads_.
      gemm(cublas_.get(), backward_weights_gemm(rows, dim_, classes_), x_.data(), dz_.data(), grads_.data());
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
      NvtxRange range("convert");
      kernels::convert_pixels(slot.pixels.data(), x_.data(), static_cast<std::size_t>(rows) * dim_, stream);
    }
    // The last reader of the device slot: pixels in convert, labels in the loss kernel.
    forward_backward(slot.labels.data(), rows, &slot.consumed);
    {
      NvtxRange range("sgd_update");
      kernels::sgd_update(params_.data(), grads_.data(), velocity_.size() > 0 ? velocity_.data() : nullptr,
                          sgd_params(lr), stream);
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
  DeviceBuffer<std::uint8_t> cublas_workspace_;  // set on cublas_ (cublasSetWorkspace); outlives the handle
  CublasHandle cublas_;                           // bound to compute_

  DeviceBuffer<float> params_;                // (C*D + C) weights (C, D) row-major, then bias (C)
  DeviceBuffer<float> grads_;                 // (C*D + C) dW, then db
  DeviceBuffer<float> velocity_;              // (C*D + C) momentum buffers; empty without momentum
  DeviceBuffer<kernels::DeviceTotals> totals_;  // [0] training epoch, [1] evaluation
  PinnedBuffer<kernels::DeviceTotals> host_totals_;

  Residency residency_ = Residency::kStream;      // resolved: kDevice or kStream
  bool graphs_ = false;                           // replay a captured step (kDevice only)

  std::size_t batch_capacity_ = 0;  // rows the per-batch buffers hold
  std::unique_ptr<PinnedBatchRing> ring_;  // kStream only
  DeviceBuffer<float> x_;       // (capacity, D) the current batch as floats
  DeviceBuffer<float> logits_;  // (capacity, C)
  DeviceBuffer<float> dz_;      // (capacity, C)
  int last_batch_rows_ = 0;

  // kDevice only.
  DeviceBuffer<std::uint8_t> train_pixels_;         // (N, D) the training set
  DeviceBuffer<std::uint8_t> train_labels_device_;  // (N)
  DeviceBuffer<std::uint8_t> y_;                    // (capacity) the current batch's labels
  DeviceBuffer<std::uint32_t> epoch_block_;         // DeviceStepState (4 words), then the order (rows)
  PinnedBuffer<std::uint32_t> host_epoch_block_;    // its staging copy
  CudaGraphExec step_graph_;                        // one step of step_graph_rows_ rows; invalid = none
  int step_graph_rows_ = 0;

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
  DeviceBuffer<std::uint8_t> capture_pixels_;  // (rows, D) kStream
  DeviceBuffer<float> capture_x_;              // (rows, D) kDevice: the gathered floats
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
    if (had_previous && cudaSetDevice(previous) != cudaSuccess) (void)cudaGetLastError();
    if (err != cudaSuccess) {
      probe.reason = "this build has no kernel image for " + probe.device_name + " (cc " +
                     cuda::compute_capability(prop) + "; rebuild with -DCMAKE_CUDA_ARCHITECTURES=" +
                     std::to_string(prop.major * 10 + prop.minor) + "): " + cuda::describe_cuda_error(err);
      return probe;
    }
#if defined(LOGREG_CUDA_EMULATED)
    probe.emulated = true;
#endif
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
