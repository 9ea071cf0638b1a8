// gemm(): one checked cublasSgemm from the argument list gemm_plan.hpp builds (the row-major/column-major
// reasoning is written once, there, and checked against OpenBLAS by a CPU test).
#pragma once

#include <cublas_v2.h>

#include "cuda_check.hpp"
#include "logreg/maths/gemm_plan.hpp"

namespace logreg::cuda {

inline cublasOperation_t to_cublas(GemmOp op) { return op == GemmOp::kT ? CUBLAS_OP_T : CUBLAS_OP_N; }

// c = op(a) · op(b) with the argument list built by gemm_plan.hpp (alpha 1, beta 0).
inline void gemm(cublasHandle_t handle, const GemmArgs& g, const float* a, const float* b, float* c) {
  const float alpha = 1.0f;
  const float beta = 0.0f;
  CUBLAS_CHECK(cublasSgemm(handle, to_cublas(g.transa), to_cublas(g.transb), g.m, g.n, g.k, &alpha, a, g.lda, b,
                           g.ldb, &beta, c, g.ldc));
}

}  // namespace logreg::cuda
