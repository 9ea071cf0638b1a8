// The emulated runtime: lazy stream execution (work runs when something waits for it), event ordering
// across two streams, pinned vs pageable copies, stream capture and graph replay, capture invalidation by
// an unsafe call, sticky and non-sticky errors, copy-direction checks and the free-memory figure.
#include <cstdlib>
#include <cstring>
#include <vector>

#include "emulator_test.hpp"

namespace logreg::test {
namespace {

__global__ void add_kernel(float* x, float v, int n) {  // x (n) += v
  const int i = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  if (i < n) x[i] += v;
}

__global__ void copy_kernel(const float* in, float* out, int n) {  // out (n) = in (n)
  const int i = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  if (i < n) out[i] = in[i];
}

TEST_F(EmulatorTest, StreamWorkRunsOnlyWhenWaitedFor) {
  cuda::CudaStream s;
  auto x = upload(std::vector<float>(8, 1.0f));
  ASSERT_EQ(cuda_emu::launch("add", add_kernel, dim3(1), dim3(8), 0, s.get(), 0, x.data(), 2.0f, 8), cudaSuccess);
  // Not synchronised: a blocking copy on the legacy stream does not wait for a non-blocking stream.
  std::vector<float> early(8);
  ASSERT_EQ(cudaMemcpy(early.data(), x.data(), x.bytes(), cudaMemcpyDeviceToHost), cudaSuccess);
  EXPECT_EQ(early[0], 1.0f);
  EXPECT_EQ(cudaStreamQuery(s.get()), cudaErrorNotReady);  // polling makes progress
  EXPECT_EQ(cudaStreamQuery(s.get()), cudaSuccess);
  EXPECT_EQ(download(x)[0], 3.0f);
}

TEST_F(EmulatorTest, EventOrdersWorkAcrossTwoStreams) {
  cuda::CudaStream producer;
  cuda::CudaStream consumer;
  cuda::CudaEvent done;
  auto a = upload(std::vector<float>(4, 0.0f));
  cuda::DeviceBuffer<float> b(4);
  ASSERT_EQ(cuda_emu::launch("add", add_kernel, dim3(1), dim3(4), 0, producer.get(), 0, a.data(), 5.0f, 4), cudaSuccess);
  done.record(producer.get());
  ASSERT_EQ(cudaStreamWaitEvent(consumer.get(), done.get(), 0), cudaSuccess);
  ASSERT_EQ(cuda_emu::launch("copy", copy_kernel, dim3(1), dim3(4), 0, consumer.get(), 0, a.data(), b.data(), 4), cudaSuccess);
  // Work the producer enqueues after the record is not waited for.
  ASSERT_EQ(cuda_emu::launch("add", add_kernel, dim3(1), dim3(4), 0, producer.get(), 0, a.data(), 100.0f, 4), cudaSuccess);
  consumer.synchronize();
  std::vector<float> got(4);
  ASSERT_EQ(cudaMemcpy(got.data(), b.data(), b.bytes(), cudaMemcpyDeviceToHost), cudaSuccess);
  EXPECT_EQ(got, std::vector<float>(4, 5.0f));
  producer.synchronize();
  EXPECT_EQ(download(a), std::vector<float>(4, 105.0f));
}

TEST_F(EmulatorTest, PinnedSourceIsReadWhenTheCopyRunsPageableWhenItIsEnqueued) {
  cuda::CudaStream s;
  cuda::PinnedBuffer<float> pinned(2);
  std::vector<float> pageable{7.0f, 7.0f};
  pinned.data()[0] = pinned.data()[1] = 1.0f;
  cuda::DeviceBuffer<float> from_pinned(2);
  cuda::DeviceBuffer<float> from_pageable(2);
  ASSERT_EQ(cudaMemcpyAsync(from_pinned.data(), pinned.data(), 8, cudaMemcpyHostToDevice, s.get()), cudaSuccess);
  ASSERT_EQ(cudaMemcpyAsync(from_pageable.data(), pageable.data(), 8, cudaMemcpyHostToDevice, s.get()), cudaSuccess);
  pinned.data()[0] = 2.0f;  // a host write racing with the DMA: the emulator shows the late value
  pageable[0] = 9.0f;       // staged already
  s.synchronize();
  EXPECT_EQ(download(from_pinned)[0], 2.0f);
  EXPECT_EQ(download(from_pageable)[0], 7.0f);
}

TEST_F(EmulatorTest, CapturedGraphReplaysTheRecordedWorkWithItsArguments) {
  cuda::CudaStream s;
  auto x = upload(std::vector<float>(3, 0.0f));
  ASSERT_EQ(cudaStreamBeginCapture(s.get(), cudaStreamCaptureModeThreadLocal), cudaSuccess);
  ASSERT_EQ(cuda_emu::launch("add", add_kernel, dim3(1), dim3(3), 0, s.get(), 0, x.data(), 1.5f, 3), cudaSuccess);
  ASSERT_EQ(cudaMemsetAsync(x.data(), 0, 4, s.get()), cudaSuccess);  // x[0] = 0 after the add
  cudaGraph_t graph = nullptr;
  ASSERT_EQ(cudaStreamEndCapture(s.get(), &graph), cudaSuccess);
  s.synchronize();
  EXPECT_EQ(download(x), std::vector<float>(3, 0.0f));  // capturing runs nothing
  cudaGraphExec_t exec = nullptr;
  ASSERT_EQ(cudaGraphInstantiate(&exec, graph, 0), cudaSuccess);
  ASSERT_EQ(cudaGraphDestroy(graph), cudaSuccess);
  for (int i = 0; i < 4; ++i) ASSERT_EQ(cudaGraphLaunch(exec, s.get()), cudaSuccess);
  ASSERT_EQ(cudaGraphExecDestroy(exec), cudaSuccess);  // launched work still runs
  s.synchronize();
  EXPECT_EQ(download(x), (std::vector<float>{0.0f, 6.0f, 6.0f}));
}

TEST_F(EmulatorTest, UnsafeCallDuringThreadLocalCaptureFailsAndInvalidatesIt) {
  cuda::CudaStream s;
  ASSERT_EQ(cudaStreamBeginCapture(s.get(), cudaStreamCaptureModeThreadLocal), cudaSuccess);
  void* p = nullptr;
  EXPECT_EQ(cudaMalloc(&p, 16), cudaErrorStreamCaptureUnsupported);
  EXPECT_EQ(cudaStreamSynchronize(s.get()), cudaErrorStreamCaptureUnsupported);
  cudaGraph_t graph = reinterpret_cast<cudaGraph_t>(0x1);
  EXPECT_EQ(cudaStreamEndCapture(s.get(), &graph), cudaErrorStreamCaptureInvalidated);
  EXPECT_EQ(graph, nullptr);
  (void)cudaGetLastError();
  // Relaxed mode allows the allocation.
  ASSERT_EQ(cudaStreamBeginCapture(s.get(), cudaStreamCaptureModeRelaxed), cudaSuccess);
  EXPECT_EQ(cudaMalloc(&p, 16), cudaSuccess);
  ASSERT_EQ(cudaStreamEndCapture(s.get(), &graph), cudaSuccess);
  EXPECT_EQ(cudaGraphDestroy(graph), cudaSuccess);
  EXPECT_EQ(cudaFree(p), cudaSuccess);
}

TEST_F(EmulatorTest, LastErrorIsClearedOnReadUnlessSticky) {
  void* p = nullptr;
  EXPECT_EQ(cudaMemcpy(&p, &p, 8, cudaMemcpyHostToDevice), cudaErrorInvalidValue);  // host destination
  EXPECT_EQ(cudaPeekAtLastError(), cudaErrorInvalidValue);
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidValue);
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);
  // A host pointer in a kernel is a fault: sticky, every later call fails.
  std::vector<float> host(4);
  EXPECT_EQ(run(add_kernel, dim3(1), dim3(4), 0, host.data(), 1.0f, 4), cudaErrorIllegalAddress);
  EXPECT_EQ(cudaGetLastError(), cudaErrorIllegalAddress);
  EXPECT_EQ(cudaGetLastError(), cudaErrorIllegalAddress);
  EXPECT_EQ(cudaMalloc(&p, 16), cudaErrorIllegalAddress);
  cuda_emu::reset_device();
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);
}

TEST_F(EmulatorTest, CopiesCheckTheirDirectionAndBounds) {
  cuda::DeviceBuffer<float> d(4);
  std::vector<float> h(8);
  EXPECT_EQ(cudaMemcpy(d.data(), h.data(), 16, cudaMemcpyHostToDevice), cudaSuccess);
  EXPECT_EQ(cudaMemcpy(d.data(), h.data(), 20, cudaMemcpyHostToDevice), cudaErrorInvalidValue);  // past the end
  EXPECT_EQ(cudaMemcpy(h.data(), d.data(), 16, cudaMemcpyHostToDevice), cudaErrorInvalidValue);  // swapped
  EXPECT_EQ(cudaMemcpy(d.data(), h.data(), 16, cudaMemcpyDeviceToDevice), cudaErrorInvalidValue);
  EXPECT_EQ(cudaMemcpy(h.data(), d.data(), 16, cudaMemcpyDefault), cudaSuccess);
  (void)cudaGetLastError();
}

TEST_F(EmulatorTest, FreeMemoryComesFromTheEnvironment) {
  size_t free_bytes = 0;
  size_t total = 0;
  ASSERT_EQ(setenv("LOGREG_EMU_FREE_BYTES", "1000", 1), 0);
  ASSERT_EQ(cudaMemGetInfo(&free_bytes, &total), cudaSuccess);
  EXPECT_EQ(free_bytes, 1000u);
  ASSERT_EQ(unsetenv("LOGREG_EMU_FREE_BYTES"), 0);
  ASSERT_EQ(cudaMemGetInfo(&free_bytes, &total), cudaSuccess);
  EXPECT_GT(free_bytes, std::size_t{1} << 30);
  cudaDeviceProp prop{};
  ASSERT_EQ(cudaGetDeviceProperties(&prop, 0), cudaSuccess);
  EXPECT_EQ(prop.major, 9);
  EXPECT_EQ(prop.totalGlobalMem, total);
  void* p = nullptr;
  EXPECT_EQ(cudaMalloc(&p, total + 1), cudaErrorMemoryAllocation);
  (void)cudaGetLastError();
}

TEST_F(EmulatorTest, ElapsedTimeNeedsTimingEventsThatHaveRun) {
  cuda::CudaStream s;
  cuda::CudaEvent start(true);
  cuda::CudaEvent stop(true);
  cuda::CudaEvent untimed;
  start.record(s.get());
  stop.record(s.get());
  float ms = -1.0f;
  EXPECT_EQ(cudaEventElapsedTime(&ms, start.get(), stop.get()), cudaErrorNotReady);
  stop.synchronize();
  EXPECT_EQ(cudaEventElapsedTime(&ms, start.get(), stop.get()), cudaSuccess);
  EXPECT_GE(ms, 0.0f);
  untimed.record(s.get());
  s.synchronize();
  EXPECT_EQ(cudaEventElapsedTime(&ms, start.get(), untimed.get()), cudaErrorInvalidResourceHandle);
  (void)cudaGetLastError();
}

}  // namespace
}  // namespace logreg::test
