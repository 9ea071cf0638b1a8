// StepGraph (step_graph.hpp): stream capture into a graph, instantiation, and the fallback when it fails.
#include "step_graph.hpp"

#include <cstdio>

#include "cuda_check.hpp"
#include "logreg/errors.hpp"
#include "nvtx_range.hpp"

namespace logreg::cuda {
namespace {

// Records what `enqueue` puts on `stream` (nothing runs) and instantiates it. Thread-local capture mode:
// an unsafe call (a cudaMalloc, a synchronisation) made by this thread during the capture fails the
// capture instead of silently leaving it; other threads are not affected. When `enqueue` throws, the
// capture is ended and discarded so the stream is usable again.
CudaGraphExec capture_graph(cudaStream_t stream, const std::function<void()>& enqueue) {
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

void StepGraph::capture(cudaStream_t stream, int rows, const std::function<void()>& enqueue_step) {
  NvtxRange range("capture step graph");
  exec_.reset();
  rows_ = 0;
  try {
    exec_ = capture_graph(stream, enqueue_step);
    rows_ = rows;
  } catch (const ResourceError& e) {
    enabled_ = false;
    failure_ = "CUDA graphs off (capture failed)";
    std::fprintf(stderr, "logreg_cuda: warning: capturing the training step as a CUDA graph failed, "
                         "continuing without graphs: %s\n", e.what());
  }
}

}  // namespace logreg::cuda
