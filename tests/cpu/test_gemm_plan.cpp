// The cuBLAS argument lists of gemm_plan.hpp, checked without a GPU: the very (op, m, n, k, ld) the CUDA
// backend passes to cublasSgemm go to OpenBLAS cblas_sgemm(CblasColMajor, ...) on the same row-major
// buffers, and the results must match naive row-major loops in double (forward logits and dW).
#include <gtest/gtest.h>

#include <cblas.h>

#include <cstdint>
#include <string>
#include <vector>

#include "logreg/maths/gemm_plan.hpp"
#include "logreg/rng.hpp"
#include "test_support.hpp"

namespace logreg {
namespace {

// The counterpart of to_cublas() in src/cuda/cuda_backend.cu.
CBLAS_TRANSPOSE to_cblas(GemmOp op) { return op == GemmOp::kT ? CblasTrans : CblasNoTrans; }

// c = op(a) · op(b) with alpha 1, beta 0: the call the backend's gemm() makes, on the CPU.
void column_major_sgemm(const GemmArgs& g, const float* a, const float* b, float* c) {
  cblas_sgemm(CblasColMajor, to_cblas(g.transa), to_cblas(g.transb), g.m, g.n, g.k, 1.0f, a, g.lda, b, g.ldb,
              0.0f, c, g.ldc);
}

std::vector<float> random_matrix(std::size_t n, std::uint64_t seed) {
  Rng rng(seed, 5);
  std::vector<float> v(n);
  for (auto& x : v) x = rng.uniform(-1.0f, 1.0f);
  return v;
}

struct Shape {
  int batch, dim, classes;  // B, D, C
};

class GemmPlan : public ::testing::TestWithParam<Shape> {};

TEST_P(GemmPlan, ForwardLogitsMatchRowMajorReference) {
  const auto [B, D, C] = GetParam();
  const std::vector<float> x = random_matrix(static_cast<std::size_t>(B) * D, 1);  // (B, D) row-major
  const std::vector<float> w = random_matrix(static_cast<std::size_t>(C) * D, 2);  // (C, D) row-major
  std::vector<float> z(static_cast<std::size_t>(B) * C, -123.0f);                  // (B, C) row-major

  // As the backend: A = the W buffer, B = the X buffer, C = the logits buffer.
  column_major_sgemm(forward_logits_gemm(B, D, C), w.data(), x.data(), z.data());

  std::vector<double> ref(z.size());
  for (int i = 0; i < B; ++i) {
    for (int c = 0; c < C; ++c) {
      double acc = 0.0;
      for (int d = 0; d < D; ++d) {
        acc += static_cast<double>(x[static_cast<std::size_t>(i) * D + d]) * w[static_cast<std::size_t>(c) * D + d];
      }
      ref[static_cast<std::size_t>(i) * C + c] = acc;
    }
  }
  EXPECT_TRUE(test::AllClose(ref, z, 1e-4, 1e-4)) << "Z = X·Wᵀ for B=" << B << " D=" << D << " C=" << C;
}

TEST_P(GemmPlan, BackwardWeightsMatchRowMajorReference) {
  const auto [B, D, C] = GetParam();
  const std::vector<float> x = random_matrix(static_cast<std::size_t>(B) * D, 3);   // (B, D) row-major
  const std::vector<float> dz = random_matrix(static_cast<std::size_t>(B) * C, 4);  // (B, C) row-major
  std::vector<float> dw(static_cast<std::size_t>(C) * D, -123.0f);                  // (C, D) row-major

  // As the backend: A = the X buffer, B = the dZ buffer, C = the dW buffer.
  column_major_sgemm(backward_weights_gemm(B, D, C), x.data(), dz.data(), dw.data());

  std::vector<double> ref(dw.size(), 0.0);
  for (int c = 0; c < C; ++c) {
    for (int d = 0; d < D; ++d) {
      double acc = 0.0;
      for (int i = 0; i < B; ++i) {
        acc += static_cast<double>(dz[static_cast<std::size_t>(i) * C + c]) * x[static_cast<std::size_t>(i) * D + d];
      }
      ref[static_cast<std::size_t>(c) * D + d] = acc;
    }
  }
  EXPECT_TRUE(test::AllClose(ref, dw, 1e-4, 1e-4)) << "dW = dZᵀ·X for B=" << B << " D=" << D << " C=" << C;
}

INSTANTIATE_TEST_SUITE_P(GemmPlan, GemmPlan,
                         ::testing::Values(Shape{1, 784, 10}, Shape{32, 784, 10}, Shape{33, 784, 10},
                                           Shape{1000, 784, 10}, Shape{7, 5, 3}, Shape{33, 17, 256},
                                           Shape{2, 1, 1}, Shape{5, 3, 9}),
                         [](const ::testing::TestParamInfo<Shape>& info) {
                           return "B" + std::to_string(info.param.batch) + "_D" + std::to_string(info.param.dim) +
                                  "_C" + std::to_string(info.param.classes);
                         });

}  // namespace
}  // namespace logreg
