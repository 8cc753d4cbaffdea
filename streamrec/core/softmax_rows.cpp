#include "streamrec/core/softmax_rows.h"

#include <cmath>
#include <cstring>
#include <limits>

#include "streamrec/core/simd.h"

// The helpers pass 64-byte vectors by value; they are always inlined into exp_rows' clones,
// so the ABI note GCC gives for them (-Wpsabi) does not apply.
#pragma GCC diagnostic ignored "-Wpsabi"

namespace streamrec {
namespace {

using V = float __attribute__((vector_size(64)));  // 16 floats: one zmm, two ymm, four xmm
using VI = int32_t __attribute__((vector_size(64)));
constexpr int kW = 16;

[[gnu::always_inline]] inline V load(const float* p) {
  V v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
[[gnu::always_inline]] inline void store(float* p, V v) { std::memcpy(p, &v, sizeof v); }
[[gnu::always_inline]] inline V splat(float f) { return V{} + f; }

// exp(x) for x <= 0 (softmax after subtracting the max): Cephes' expf polynomial on
// x = n ln2 + r, |r| <= ln2 / 2, times 2^n built in the exponent bits.
[[gnu::always_inline]] inline V exp_nonpositive(V x) {
  const V lo = splat(-87.3f);
  const V xc = x < lo ? lo : x;
  const V magic = splat(12582912.0f);  // 1.5 * 2^23: adding it rounds to an integer
  const V t = xc * splat(1.44269504088896341f) + magic;
  const V n = t - magic;
  V r = xc - n * splat(0.693359375f);
  r = r - n * splat(-2.12194440e-4f);
  V p = splat(1.9875691500e-4f);
  p = p * r + splat(1.3981999507e-3f);
  p = p * r + splat(8.3334519073e-3f);
  p = p * r + splat(4.1665795894e-2f);
  p = p * r + splat(1.6666665459e-1f);
  p = p * r + splat(5.0000001201e-1f);
  p = p * r * r + r + splat(1.0f);
  const VI ni = __builtin_convertvector(n, VI);
  const VI bits = (ni + 127) << 23;
  V scale;
  std::memcpy(&scale, &bits, sizeof scale);
  const V e = p * scale;
  return x < lo ? V{} : e;
}

[[gnu::always_inline]] inline float exp_one(float x) {
  float lane[kW] = {x};
  const V e = exp_nonpositive(load(lane));
  return e[0];
}

}  // namespace

// One copy per instruction set, picked at load time: the binary stays portable and uses
// AVX-512 or AVX2 with FMA where the CPU has them.
SR_PER_ISA void exp_rows(float* x, int64_t rows, int64_t cols, float* row_max, float* row_sum) {
  const float ninf = -std::numeric_limits<float>::infinity();
  for (int64_t r = 0; r < rows; ++r) {
    float* row = x + r * cols;
    V vm = splat(ninf);
    int64_t j = 0;
    for (; j + kW <= cols; j += kW) {
      const V v = load(row + j);
      vm = v > vm ? v : vm;
    }
    float m = ninf;
    for (int l = 0; l < kW; ++l) m = vm[l] > m ? vm[l] : m;
    for (; j < cols; ++j) m = row[j] > m ? row[j] : m;
    const V vmax = splat(m);
    V vs{};
    j = 0;
    for (; j + kW <= cols; j += kW) {
      const V e = exp_nonpositive(load(row + j) - vmax);
      store(row + j, e);
      vs += e;
    }
    float s = 0;
    for (int l = 0; l < kW; ++l) s += vs[l];
    for (; j < cols; ++j) {
      row[j] = exp_one(row[j] - m);
      s += row[j];
    }
    row_max[r] = m;
    row_sum[r] = s;
  }
}

}  // namespace streamrec
