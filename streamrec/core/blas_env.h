// OpenBLAS kernel selection.
//
// Debian 12's OpenBLAS (0.3.21) does not recognise recent Intel server CPUs and falls back
// to its generic "Prescott" kernels, which run libtorch's matrix products 4-5x slower
// than the AVX-512 ones (measured here: 45 vs 190-220 GFLOP/s on a 2048^2 sgemm).
// OpenBLAS reads OPENBLAS_CORETYPE once, when the library loads, so a binary that wants
// the right kernels must have it in its environment at exec time.
#pragma once

namespace streamrec {

// The OPENBLAS_CORETYPE this CPU should use ("SkylakeX" with AVX-512, "Haswell" with
// AVX2+FMA), or nullptr when OpenBLAS's own detection is fine.
const char* preferred_openblas_coretype();

// Call first in main(): when OPENBLAS_CORETYPE is unset and this CPU wants one, sets it and
// re-executes the binary (/proc/self/exe) with the same arguments. Returns normally
// otherwise (also when re-exec fails, with the slower kernels). A user's own setting wins.
void ensure_fast_blas(int argc, char** argv);

}  // namespace streamrec
