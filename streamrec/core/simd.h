// Small vector kernels shared by the hot loops (scoring, row optimizers).
#pragma once

#include <cmath>
#include <cstddef>
#include <cstring>

// A function compiled once per instruction set (AVX-512, AVX2 with FMA, the portable SSE2
// baseline), the copy picked at load time by an ifunc resolver. ThreadSanitizer builds get
// one portable copy: the resolver runs before the sanitizer's runtime is up and crashes the
// program at load.
#if defined(__SANITIZE_THREAD__)
#define SR_PER_ISA
#else
#define SR_PER_ISA __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#endif

namespace streamrec {

// Dot product of n floats in 8-wide GCC vector types: a plain float reduction does not
// vectorise without -ffast-math (the additions may not be reordered), which made the
// scalar loops several times slower.
inline float dot(const float* a, const float* b, size_t n) {
  using V8 = float __attribute__((vector_size(32)));
  V8 acc = {0, 0, 0, 0, 0, 0, 0, 0};
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    V8 x, y;
    std::memcpy(&x, a + i, sizeof x);
    std::memcpy(&y, b + i, sizeof y);
    acc += x * y;
  }
  float s = 0;
  for (int l = 0; l < 8; ++l) s += acc[l];
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

// Cosine of two vectors of n floats (0 when either is zero): three vectorised dot products
// (the ranker computes ~1,500 of these per request).
inline float cosine(const float* a, const float* b, size_t n) {
  const float aa = dot(a, a, n), bb = dot(b, b, n);
  return aa > 0 && bb > 0 ? dot(a, b, n) / std::sqrt(aa * bb) : 0.0f;
}

}  // namespace streamrec
