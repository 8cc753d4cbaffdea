// Process-level runtime settings for the numeric libraries, which read them from the
// environment once, when they load, so a binary must have them at exec time:
// - OPENBLAS_CORETYPE: Debian 12's OpenBLAS (0.3.21) does not recognise recent Intel server
//   CPUs and falls back to its generic "Prescott" kernels, 4-5x slower than the AVX-512 ones
//   (measured here: 45 vs 190-220 GFLOP/s on a 2048^2 sgemm).
// - OMP_WAIT_POLICY=passive: libtorch's OpenMP workers otherwise spin between operations
//   and steal the cores OpenBLAS's own threads need (seq training: 1.2x).
// - glibc malloc mmap/trim thresholds raised: libtorch allocates and frees large tensors
//   every step; returning them to the kernel each time costs page faults (seq training:
//   1.6x; both together 2x).
#pragma once

namespace streamrec {

// The OPENBLAS_CORETYPE this CPU should use ("SkylakeX" with AVX-512, "Haswell" with
// AVX2+FMA), or nullptr when OpenBLAS's own detection is fine.
const char* preferred_openblas_coretype();

// Call first in main(): sets each of the variables above that is unset and, if it set
// any, re-executes the binary (/proc/self/exe) with the same arguments. A user's own
// settings win. If re-exec fails, carries on with the libraries' defaults.
void configure_runtime(int argc, char** argv);

// OpenBLAS's thread count, when OpenBLAS is the BLAS libtorch loaded (looked up at run time:
// the reference BLAS has no such calls): the getter returns 0 without OpenBLAS, the setter
// then does nothing. Process-wide.
int blas_threads();
void set_blas_threads(int n);

// Sets OpenBLAS's thread count to `n` for the scope's life (n <= 0: leaves it alone), then
// puts back what it was.
class BlasThreadsScope {
 public:
  explicit BlasThreadsScope(int n) : before_(n > 0 ? blas_threads() : 0) {
    if (before_ > 0) set_blas_threads(n);
  }
  ~BlasThreadsScope() {
    if (before_ > 0) set_blas_threads(before_);
  }
  BlasThreadsScope(const BlasThreadsScope&) = delete;
  BlasThreadsScope& operator=(const BlasThreadsScope&) = delete;

 private:
  int before_;
};

}  // namespace streamrec
