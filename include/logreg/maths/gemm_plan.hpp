// The argument lists of the two cuBLAS GEMMs, built in one place so that a CPU test can feed the very
// same (op, m, n, k, ld) to a column-major CPU GEMM (cblas_sgemm) and compare with the reference.
#pragma once

namespace logreg {

enum class GemmOp { kN, kT };

// Column-major C(m, n) = alpha * op(A)(m, k) * op(B)(k, n) + beta * C, cuBLAS conventions.
struct GemmArgs {
  GemmOp transa = GemmOp::kN;
  GemmOp transb = GemmOp::kN;
  int m = 0, n = 0, k = 0;
  int lda = 0, ldb = 0, ldc = 0;
};

// Forward: logits Z (B, C) row-major = X (B, D) row-major * W^T, W (C, D) row-major.
// cuBLAS is column-major, so each row-major matrix is seen as its transpose: X is X^T (D, B) ld D,
// W is W^T (D, C) ld D, and we compute the column-major Z^T (C, B) ld C = W * X^T:
//   A = W buffer, op(A) = T ((D,C)^T = (C,D)), B = X buffer, op(B) = N (D,B); m = C, n = B, k = D.
inline GemmArgs forward_logits_gemm(int batch, int dim, int classes) {
  GemmArgs g;
  g.transa = GemmOp::kT;
  g.transb = GemmOp::kN;
  g.m = classes;
  g.n = batch;
  g.k = dim;
  g.lda = dim;
  g.ldb = dim;
  g.ldc = classes;
  return g;
}

// Backward: dW (C, D) row-major = dZ^T (C, B) * X (B, D). Column-major, dW buffer is dW^T (D, C) ld D
// = X^T (D, B) * dZ (B, C); X buffer seen as (D, B) ld D, op N; dZ buffer (B, C) row-major is seen as
// dZ^T (C, B) ld C, so op T gives (B, C). m = D, n = C, k = B.
inline GemmArgs backward_weights_gemm(int batch, int dim, int classes) {
  GemmArgs g;
  g.transa = GemmOp::kN;
  g.transb = GemmOp::kT;
  g.m = dim;
  g.n = classes;
  g.k = batch;
  g.lda = dim;
  g.ldb = classes;
  g.ldc = dim;
  return g;
}

}  // namespace logreg
