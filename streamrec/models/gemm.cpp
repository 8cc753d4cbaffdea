#include "streamrec/models/gemm.h"

#include <omp.h>
#include <oneapi/dnnl/dnnl.h>

#include "streamrec/core/error.h"

namespace streamrec::models {

void sgemm_serial(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                  const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
                  int64_t ldc) {
  // oneDNN (OpenMP build) uses the calling thread's OpenMP thread count; the count is per
  // thread, so setting it here leaves other threads alone.
  const int before = omp_get_max_threads();
  if (before != 1) omp_set_num_threads(1);
  const dnnl_status_t status = dnnl_sgemm(trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', m, n, k, alpha,
                                          a, lda, b, ldb, beta, c, ldc);
  if (before != 1) omp_set_num_threads(before);
  SR_CHECK(status == dnnl_success, ErrorKind::kInternal,
           "sgemm: oneDNN status {} for m={} n={} k={} lda={} ldb={} ldc={}",
           static_cast<int>(status), m, n, k, lda, ldb, ldc);
}

}  // namespace streamrec::models
