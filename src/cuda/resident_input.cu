// ResidentInput (resident_input.hpp): the uploaded training set, the per-epoch order, the on-device gather
// and the captured step graph.
#include "resident_input.hpp"

#include <algorithm>
#include <cstdio>
#include <string>

#include "cluster_epoch_launcher.hpp"
#include "cuda_check.hpp"
#include "kernels.hpp"
#include "logreg/errors.hpp"
#include "nvtx_range.hpp"

namespace logreg::cuda {
namespace {

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

}  // namespace

ResidentInput::ResidentInput(const ImageSet& images, const LabelSet& labels, bool graphs, CudaKernel kernel,
                             DeviceStep& step)
    : rows_(images.count), dim_(images.dim()), graphs_(graphs), kernel_(kernel) {
  // The host vectors are read here and never again.
  const std::size_t pixel_bytes = rows_ * dim_;
  pixels_ = DeviceBuffer<std::uint8_t>(pixel_bytes);
  labels_ = DeviceBuffer<std::uint8_t>(labels.count());
  if (pixel_bytes > 0) {
    CUDA_CHECK(cudaMemcpyAsync(pixels_.data(), images.pixels.data(), pixel_bytes, cudaMemcpyHostToDevice, step.stream()));
    CUDA_CHECK(cudaMemcpyAsync(labels_.data(), labels.labels.data(), labels.count(), cudaMemcpyHostToDevice,
                               step.stream()));
  }
  CUDA_CHECK(cudaStreamSynchronize(step.stream()));
}

bool ResidentInput::persistent(int batch_size, const DeviceStep& step) const {
  if (kernel_ == CudaKernel::kCublas || kernel_ == CudaKernel::kCluster) return false;
  if (kernel_ == CudaKernel::kAuto && batch_size > kPersistentAutoMaxBatch) return false;
  return step.persistent_shared_bytes(batch_size) > 0;
}

// 1. Upload the epoch's order. 2. The persistent kernel runs the whole epoch in one launch; or every full
// batch replays the captured step graph (or enqueues the step when graphs are off or batches are recorded),
// then 3. the partial last batch, uncaptured.
int ResidentInput::train_epoch(const std::vector<std::uint32_t>& order, int batch_size, DeviceStep& step,
                               BatchRecorder* recorder) {
  check_order(order, rows_);
  // cluster epoch hookup: --kernel cluster runs the epoch as one cluster launch, or refuses before anything runs.
  const bool cluster = kernel_ == CudaKernel::kCluster && recorder == nullptr;
  ClusterEpochPlan cluster_plan;
  if (cluster) {
    cluster_plan = plan_cluster_epoch(batch_size, static_cast<int>(dim_), step.classes(),
                                      step.has_velocity());
    if (!cluster_plan.runs()) {
      throw UsageError("--kernel cluster cannot run batches of " + std::to_string(batch_size) + " rows of " +
                       std::to_string(dim_) + " pixels and " + std::to_string(step.classes()) + " classes here: " +
                       cluster_plan.refusal + "; use --kernel persistent, cublas or auto");
    }
  }
  const bool one_launch = recorder == nullptr && (cluster || persistent(batch_size, step));
  if (kernel_ == CudaKernel::kPersistent && !one_launch && recorder == nullptr) {
    throw UsageError("--kernel persistent cannot run batches of " + std::to_string(batch_size) + " rows of " +
                     std::to_string(dim_) + " pixels and " + std::to_string(step.classes()) +
                     " classes on this GPU (it needs B x D <= " + std::to_string(kernels::kPersistentMaxBatchBytes) +
                     ", D a multiple of 16, at most " + std::to_string(kernels::kPersistentMaxClasses) +
                     " classes, and the shared memory to fit); use --kernel cublas or auto");
  }
  const std::size_t batch = static_cast<std::size_t>(batch_size);
  if (step.reserve(std::min(order.size(), batch)) || y_.size() < std::min(order.size(), batch)) {
    step_graph_.reset();  // it used the buffers that were reallocated
    y_ = DeviceBuffer<std::uint8_t>(step.capacity());
  }
  CUDA_CHECK(cudaStreamSynchronize(step.stream()));  // no copy from the pinned order is still in flight
  if (order_.size() < order.size()) {
    step_graph_.reset();  // it reads the old order buffer
    order_ = DeviceBuffer<std::uint32_t>(order.size());
    host_order_ = PinnedBuffer<std::uint32_t>(order.size());
  }
  std::copy(order.begin(), order.end(), host_order_.data());
  CUDA_CHECK(cudaMemcpyAsync(order_.data(), host_order_.data(), order.size() * sizeof(std::uint32_t),
                             cudaMemcpyHostToDevice, step.stream()));

  if (cluster) {
    run_cluster_epoch(step.epoch_args(pixels_.data(), labels_.data(), order_.data(), order.size(), batch_size),
                      cluster_plan, step.stream());
  } else if (one_launch) {
    step.persistent_epoch(pixels_.data(), labels_.data(), order_.data(), order.size(), batch_size,
                          step.persistent_shared_bytes(batch_size));
  }
  if (one_launch) {
    const int rest_rows = static_cast<int>(order.size() % batch);
    return rest_rows > 0 ? rest_rows : batch_size;
  }
  const std::int64_t full_batches = static_cast<std::int64_t>(order.size() / batch);
  const int rest = static_cast<int>(order.size() % batch);
  const bool replay = graphs_ && recorder == nullptr && full_batches > 0;
  std::int64_t b = 0;
  if (replay && !(step_graph_.valid() && step_graph_rows_ == batch_size)) {
    // The first full batch runs eagerly, so module loading and cuBLAS's kernel choice happen outside the
    // capture; then the step is recorded (nothing runs) and replayed for the other full batches.
    step_once(batch_size, step, nullptr);
    ++b;
    capture_step_graph(batch_size, step);
  }
  for (; b < full_batches; ++b) {
    if (replay && step_graph_.valid()) {
      step_graph_.launch(step.stream());
    } else {
      step_once(batch_size, step, recorder);
    }
  }
  if (rest > 0) step_once(rest, step, recorder);
  return rest > 0 ? rest : batch_size;
}

// One SGD step on the next `rows` rows of the device order, enqueued (or recorded into the graph being
// captured): the batch's position and the learning rate are read on the device.
void ResidentInput::step_once(int rows, DeviceStep& step, BatchRecorder* recorder) {
  {
    NvtxRange range("gather");
    kernels::gather_convert(pixels_.data(), labels_.data(), order_.data(), step.state(), static_cast<std::size_t>(rows),
                            dim_, step.x(), y_.data(), step.stream());
  }
  if (recorder != nullptr) recorder->record_floats(step.x(), y_.data(), rows);
  step.forward_backward(y_.data(), rows, nullptr);
  step.update(rows);
}

// Should the capture fail (a library call that cannot be captured, say), training goes on without graphs,
// saying so once on stderr and through graph_failure().
void ResidentInput::capture_step_graph(int rows, DeviceStep& step) {
  NvtxRange range("capture step graph");
  step_graph_.reset();
  step_graph_rows_ = 0;
  try {
    step_graph_ = capture_graph(step.stream(), [&] { step_once(rows, step, nullptr); });
    step_graph_rows_ = rows;
  } catch (const ResourceError& e) {
    graphs_ = false;
    graph_failure_ = "CUDA graphs off (capture failed)";
    std::fprintf(stderr, "logreg_cuda: warning: capturing the training step as a CUDA graph failed, "
                         "continuing without graphs: %s\n", e.what());
  }
}

}  // namespace logreg::cuda
