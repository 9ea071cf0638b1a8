// What a user reads when the GPU fails: CUDA_CHECK / CUDA_CHECK_ALLOC / CUBLAS_CHECK turn error codes
// into ResourceError (exit code 5) naming the source line, the call and the error. The codes are fed in
// directly, so the paths a lost device or an out-of-memory takes on a GPU are checked here without one
// (the GPU tests provoke a real out-of-memory).
#include <gtest/gtest.h>

#include <utility>

#include "cuda_check.hpp"
#include "device_resources.hpp"
#include "logreg/cuda_backend.hpp"
#include "logreg/errors.hpp"
#include "test_support.hpp"

namespace logreg {
namespace {

using test::ThrowsWith;

cudaError_t Fails(cudaError_t err) { return err; }
cublasStatus_t FailsBlas(cublasStatus_t status) { return status; }

TEST(CudaErrors, LostDeviceNamesTheCallAndTheError) {
  // cudaErrorDevicesUnavailable: the device went away or is exclusive to another process;
  // cudaErrorLaunchFailure: what a kernel sees after an Xid / a fallen-off-the-bus GPU.
  EXPECT_TRUE(ThrowsWith<ResourceError>([] { CUDA_CHECK(Fails(cudaErrorDevicesUnavailable)); },
                                        {"test_cuda_errors.cpp:", "CUDA error in Fails(cudaErrorDevicesUnavailable)",
                                         "cudaErrorDevicesUnavailable"}));
  EXPECT_TRUE(ThrowsWith<ResourceError>([] { CUDA_CHECK(Fails(cudaErrorLaunchFailure)); },
                                        {"cudaErrorLaunchFailure", "unspecified launch failure"}));
}

TEST(CudaErrors, OutOfMemoryGivesTheRequestedSize) {
  EXPECT_TRUE(ThrowsWith<ResourceError>([] { CUDA_CHECK_ALLOC(Fails(cudaErrorMemoryAllocation), 123456789); },
                                        {"out of GPU memory (requested 123456789 bytes)", "cudaErrorMemoryAllocation"}));
}

TEST(CudaErrors, CublasFailuresAreResourceErrors) {
  EXPECT_TRUE(ThrowsWith<ResourceError>([] { CUBLAS_CHECK(FailsBlas(CUBLAS_STATUS_ALLOC_FAILED)); },
                                        {"out of GPU memory in FailsBlas", "CUBLAS_STATUS_ALLOC_FAILED"}));
  EXPECT_TRUE(ThrowsWith<ResourceError>([] { CUBLAS_CHECK(FailsBlas(CUBLAS_STATUS_EXECUTION_FAILED)); },
                                        {"cuBLAS error in FailsBlas", "CUBLAS_STATUS_EXECUTION_FAILED"}));
}

TEST(CudaErrors, SuccessThrowsNothing) {
  EXPECT_NO_THROW(CUDA_CHECK(Fails(cudaSuccess)));
  EXPECT_NO_THROW(CUBLAS_CHECK(FailsBlas(CUBLAS_STATUS_SUCCESS)));
}

// Without a driver every allocation fails, which exercises the buffers' error path on the CPU machine.
TEST(CudaErrors, BuffersNameTheFailedAllocationWithoutADriver) {
  if (probe_cuda().usable) GTEST_SKIP() << "a CUDA device is usable here; this test is for machines without one";
  EXPECT_TRUE(ThrowsWith<ResourceError>([] { cuda::DeviceBuffer<float> b(16); }, {"in cudaMalloc:"}));
  EXPECT_TRUE(ThrowsWith<ResourceError>([] { cuda::PinnedBuffer<float> b(16); }, {"in cudaMallocHost:"}));
}

TEST(CudaErrors, EmptyBuffersAllocateNothingAndMove) {
  cuda::DeviceBuffer<float> a(0);  // no CUDA call at all, so this works without a driver
  EXPECT_EQ(a.data(), nullptr);
  EXPECT_EQ(a.bytes(), 0u);
  cuda::PinnedBuffer<double> b;
  cuda::PinnedBuffer<double> c(std::move(b));
  EXPECT_EQ(c.size(), 0u);
  c = cuda::PinnedBuffer<double>(0);
  EXPECT_EQ(c.data(), nullptr);
}

}  // namespace
}  // namespace logreg
