// Row optimizers of the embedding tables. Their state ("slots", dim floats each) is stored
// beside the row's weights (STYLE.md point 9); a per-row update count serves Adam's bias
// correction.
#pragma once

#include <cstdint>
#include <string>

#include "streamrec/core/config.h"

namespace streamrec::embedding {

enum class OptimizerKind : uint8_t { kSgd, kAdagrad, kAdam, kFtrl };

struct OptimizerConfig {
  OptimizerKind kind = OptimizerKind::kAdagrad;
  float lr = 0.05f;
  float l2 = 0.0f;    // weight decay added to the gradient (sgd, adagrad, adam); FTRL's L2
  float eps = 1e-8f;  // adagrad, adam
  float initial_accumulator = 0.0f;    // adagrad
  float beta1 = 0.9f, beta2 = 0.999f;  // adam
  float l1 = 0.0f;                     // ftrl: makes rows sparse
  float ftrl_beta = 1.0f;              // ftrl: (beta + sqrt(n)) / lr is the per-coordinate scale

  // Number of dim-sized state vectors kept per row: sgd 0, adagrad 1, adam 2, ftrl 2.
  uint32_t slots() const;
  // Initial value of the slot vectors (adagrad's accumulator; 0 otherwise).
  float slot_init(uint32_t slot) const;

  static Params params();
  static OptimizerConfig from_params(const Params& p);
};

const char* to_string(OptimizerKind kind);

// Applies one step to a row: `w` (dim weights), `state` (slots() * dim floats), gradient `g`,
// `step` = this row's update count including this one (>= 1). Writes the new weights to
// `w_out` (which may alias `w`) so that a caller can publish them with atomic stores.
void apply_step(const OptimizerConfig& c, const float* w, float* __restrict state,
                const float* __restrict g, uint32_t dim, uint32_t step, float* w_out);

}  // namespace streamrec::embedding
