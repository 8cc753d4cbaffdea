// Row-wise softmax pieces for the full-softmax loss: each row of a logits tile, already in
// cache after its matrix product, is turned into exp(x - max) in two passes while it is still
// there. No torch: plain loops over floats.
#pragma once

#include <cstdint>

namespace streamrec {

// For each of `rows` rows of `x` (row-major, `cols` wide, cols > 0): finds the row's max m
// (-inf entries are allowed: they come out as 0), replaces every x by exp(x - m) and stores
// m and the row's sum of exp(x - m). exp is a vectorised polynomial (Cephes expf), within
// 2 ulp of std::exp over the range a softmax uses; results below exp(-87.3) are 0.
void exp_rows(float* x, int64_t rows, int64_t cols, float* row_max, float* row_sum);

}  // namespace streamrec
