// Single-precision matrix products on oneDNN's sgemm (libdnnl: the library libtorch itself
// links for its convolutions). oneDNN picks its kernels from the CPU it runs on (AVX-512
// here), while libtorch's own products run on OpenBLAS, whose kernels the environment may
// pin (OPENBLAS_CORETYPE=Haswell on this workplace's machines: AVX2). bench_softmax's
// tile_products_* compare the two (bench/README.md).
#pragma once

#include <cstdint>

namespace streamrec::models {

// Row-major C[m x n] = alpha * op(A) * op(B) + beta * C with op(X) = X, or X^T when its
// flag is set (op(A) is m x k, op(B) k x n; lda, ldb, ldc are the row strides). Runs on the
// calling thread only, for callers that split their own work between threads.
void sgemm_serial(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                  const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
                  int64_t ldc);

}  // namespace streamrec::models
