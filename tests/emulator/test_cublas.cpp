// cuBLAS on the emulated device: cublasSgemm against a plain column-major triple loop for every
// transpose combination with padded leading dimensions, cuBLAS's argument checks, host-pointer operands.
#include <cublas_v2.h>

#include <vector>

#include "emulator_test.hpp"

namespace logreg::test {
namespace {

// C (m, n) = op(A) op(B), column-major, the definition cuBLAS documents.
std::vector<float> naive_gemm(bool ta, bool tb, int m, int n, int k, const std::vector<float>& a, int lda,
                              const std::vector<float>& b, int ldb, int ldc) {
  std::vector<float> c(static_cast<std::size_t>(ldc) * n, 0.0f);
  for (int j = 0; j < n; ++j) {
    for (int i = 0; i < m; ++i) {
      double s = 0.0;
      for (int p = 0; p < k; ++p) {
        const float av = ta ? a[static_cast<std::size_t>(i) * lda + p] : a[static_cast<std::size_t>(p) * lda + i];
        const float bv = tb ? b[static_cast<std::size_t>(p) * ldb + j] : b[static_cast<std::size_t>(j) * ldb + p];
        s += static_cast<double>(av) * bv;
      }
      c[static_cast<std::size_t>(j) * ldc + i] = static_cast<float>(s);
    }
  }
  return c;
}

TEST_F(EmulatorTest, SgemmMatchesTheDefinitionForEveryTranspose) {
  const int m = 5, n = 3, k = 7;
  cuda::CudaStream s;
  cuda::CublasHandle handle(s.get());
  for (const bool ta : {false, true}) {
    for (const bool tb : {false, true}) {
      const int lda = (ta ? k : m) + 2;
      const int ldb = (tb ? n : k) + 1;
      const int ldc = m + 3;
      std::vector<float> a(static_cast<std::size_t>(lda) * (ta ? m : k));
      std::vector<float> b(static_cast<std::size_t>(ldb) * (tb ? k : n));
      for (std::size_t i = 0; i < a.size(); ++i) a[i] = static_cast<float>((i * 7) % 11) - 5.0f;
      for (std::size_t i = 0; i < b.size(); ++i) b[i] = static_cast<float>((i * 5) % 13) - 6.0f;
      auto da = upload(a);
      auto db = upload(b);
      auto dc = upload(std::vector<float>(static_cast<std::size_t>(ldc) * n, 0.0f));
      const float alpha = 1.0f, beta = 0.0f;
      ASSERT_EQ(cublasSgemm(handle.get(), ta ? CUBLAS_OP_T : CUBLAS_OP_N, tb ? CUBLAS_OP_T : CUBLAS_OP_N, m, n, k, &alpha,
                            da.data(), lda, db.data(), ldb, &beta, dc.data(), ldc),
                CUBLAS_STATUS_SUCCESS);
      s.synchronize();
      EXPECT_EQ(download(dc), naive_gemm(ta, tb, m, n, k, a, lda, b, ldb, ldc)) << "ta " << ta << " tb " << tb;
    }
  }
}

TEST_F(EmulatorTest, SgemmRejectsWhatCublasRejects) {
  cuda::CudaStream s;
  cuda::CublasHandle handle(s.get());
  cuda::DeviceBuffer<float> d(64);
  const float one = 1.0f, zero = 0.0f;
  // lda below m for op N, ldb below k, ldc below m, a negative size
  EXPECT_EQ(cublasSgemm(handle.get(), CUBLAS_OP_N, CUBLAS_OP_N, 4, 2, 3, &one, d.data(), 3, d.data(), 3, &zero, d.data(), 4),
            CUBLAS_STATUS_INVALID_VALUE);
  EXPECT_EQ(cublasSgemm(handle.get(), CUBLAS_OP_N, CUBLAS_OP_N, 4, 2, 3, &one, d.data(), 4, d.data(), 2, &zero, d.data(), 4),
            CUBLAS_STATUS_INVALID_VALUE);
  EXPECT_EQ(cublasSgemm(handle.get(), CUBLAS_OP_T, CUBLAS_OP_N, 4, 2, 3, &one, d.data(), 3, d.data(), 3, &zero, d.data(), 3),
            CUBLAS_STATUS_INVALID_VALUE);
  EXPECT_EQ(cublasSgemm(handle.get(), CUBLAS_OP_N, CUBLAS_OP_N, -1, 2, 3, &one, d.data(), 4, d.data(), 3, &zero, d.data(), 4),
            CUBLAS_STATUS_INVALID_VALUE);
  // op T on A: lda >= k suffices
  EXPECT_EQ(cublasSgemm(handle.get(), CUBLAS_OP_T, CUBLAS_OP_N, 4, 2, 3, &one, d.data(), 3, d.data(), 3, &zero, d.data(), 4),
            CUBLAS_STATUS_SUCCESS);
  EXPECT_EQ(cublasSetWorkspace(handle.get(), d.data(), 1 << 20), CUBLAS_STATUS_INVALID_VALUE);  // larger than d
  s.synchronize();
}

TEST_F(EmulatorTest, SgemmOnHostMemoryFaultsWithTheCallsName) {
  cuda::CudaStream s;
  cuda::CublasHandle handle(s.get());
  std::vector<float> host(16, 1.0f);
  cuda::DeviceBuffer<float> d(16);
  const float one = 1.0f, zero = 0.0f;
  ASSERT_EQ(cublasSgemm(handle.get(), CUBLAS_OP_N, CUBLAS_OP_N, 4, 4, 4, &one, host.data(), 4, d.data(), 4, &zero, d.data(), 4),
            CUBLAS_STATUS_SUCCESS);  // the fault comes when the GEMM runs, as on a GPU
  EXPECT_EQ(cudaStreamSynchronize(s.get()), cudaErrorIllegalAddress);
  EXPECT_NE(std::string(cuda_emu::last_fault()).find("cublasSgemm: operand A"), std::string::npos) << cuda_emu::last_fault();
  cuda_emu::reset_device();
}

}  // namespace
}  // namespace logreg::test
