// Small vector kernels shared by the hot loops (scoring, row optimizers).
#pragma once

#include <cstddef>
#include <cstring>

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

}  // namespace streamrec
