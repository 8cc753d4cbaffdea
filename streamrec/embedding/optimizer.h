// Row optimizers of the embedding tables. Their state ("slots", dim floats each) is stored
// beside the row's weights (STYLE.md point 9); a per-row update count serves Adam's bias
// correction.
#pragma once

#include <cstdint>
#include <string>

#include "streamrec/core/config.h"

namespace streamrec::embedding {

// kRowAdagrad: Adagrad with one accumulator per row (the mean of the squared gradient's
// coordinates), as TorchRec/FBGEMM offer for large tables: 4 state floats (1 used, padded to
// 16 bytes) instead of dim, so a row costs about half the memory traffic of Adagrad's.
enum class OptimizerKind : uint8_t { kSgd, kAdagrad, kAdam, kFtrl, kRowAdagrad };

struct OptimizerConfig {
  OptimizerKind kind = OptimizerKind::kAdagrad;
  float lr = 0.05f;
  float l2 = 0.0f;    // weight decay added to the gradient (sgd, adagrad, adam); FTRL's L2
  float eps = 1e-8f;  // adagrad, adam
  float initial_accumulator = 0.0f;    // adagrad
  float beta1 = 0.9f, beta2 = 0.999f;  // adam
  float l1 = 0.0f;                     // ftrl: makes rows sparse
  float ftrl_beta = 1.0f;              // ftrl: (beta + sqrt(n)) / lr is the per-coordinate scale

  // State floats kept per row: sgd 0, adagrad dim, adam and ftrl 2 * dim, rowwise adagrad 4.
  uint32_t state_floats(uint32_t dim) const;
  // Writes a fresh row's state (adagrad's accumulators start at initial_accumulator).
  void init_state(float* state, uint32_t dim) const;

  static Params params();
  static OptimizerConfig from_params(const Params& p);
};

const char* to_string(OptimizerKind kind);

// Applies one step to a row: `w` (dim weights), `state` (state_floats(dim)), gradient `g`,
// `step` = this row's update count including this one (>= 1). Writes the new weights to
// `w_out` (which may alias `w`) so that a caller can publish them with atomic stores.
void apply_step(const OptimizerConfig& c, const float* w, float* __restrict state,
                const float* __restrict g, uint32_t dim, uint32_t step, float* w_out);

}  // namespace streamrec::embedding
