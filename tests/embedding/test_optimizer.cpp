#include <gtest/gtest.h>

#include <cmath>

#include "streamrec/core/config.h"
#include "streamrec/embedding/optimizer.h"

namespace streamrec::embedding {
namespace {

// One coordinate through each optimizer, against steps computed by hand.
float step_once(OptimizerConfig c, float w, std::vector<float>& state, float g, uint32_t step) {
  if (state.empty()) state.assign(c.state_floats(1), 0.0f);
  float out;
  apply_step(c, &w, state.data(), &g, 1, step, &out);
  return out;
}

TEST(Optimizer, Sgd) {
  OptimizerConfig c;
  c.kind = OptimizerKind::kSgd;
  c.lr = 0.1f;
  c.l2 = 0.5f;
  std::vector<float> s;
  // w - lr * (g + l2 * w) = 1 - 0.1 * (2 + 0.5) = 0.75
  EXPECT_FLOAT_EQ(step_once(c, 1.0f, s, 2.0f, 1), 0.75f);
}

TEST(Optimizer, Adagrad) {
  OptimizerConfig c;
  c.kind = OptimizerKind::kAdagrad;
  c.lr = 0.1f;
  c.eps = 0.0f;
  c.initial_accumulator = 0.0f;
  std::vector<float> s{0.0f};
  // acc = 4, w = 1 - 0.1 * 2 / 2 = 0.9; then g = 1: acc = 5, w = 0.9 - 0.1 / sqrt(5)
  const float w1 = step_once(c, 1.0f, s, 2.0f, 1);
  EXPECT_FLOAT_EQ(w1, 0.9f);
  EXPECT_FLOAT_EQ(s[0], 4.0f);
  EXPECT_FLOAT_EQ(step_once(c, w1, s, 1.0f, 2), 0.9f - 0.1f / std::sqrt(5.0f));
}

TEST(Optimizer, RowwiseAdagradSharesOneAccumulatorPerRow) {
  OptimizerConfig c;
  c.kind = OptimizerKind::kRowAdagrad;
  c.lr = 0.1f;
  c.eps = 0.0f;
  c.initial_accumulator = 0.5f;
  EXPECT_EQ(c.state_floats(64), 4u);  // one used, padded to 16 bytes
  std::vector<float> state(4);
  c.init_state(state.data(), 2);
  EXPECT_FLOAT_EQ(state[0], 0.5f);
  // Row (1, 2), gradient (3, 1): acc = 0.5 + (9 + 1) / 2 = 5.5; both coordinates move by
  // lr / sqrt(5.5) times their gradient.
  const float w[2] = {1.0f, 2.0f}, g[2] = {3.0f, 1.0f};
  float out[2];
  apply_step(c, w, state.data(), g, 2, 1, out);
  EXPECT_FLOAT_EQ(state[0], 5.5f);
  EXPECT_FLOAT_EQ(out[0], 1.0f - 0.1f * 3.0f / std::sqrt(5.5f));
  EXPECT_FLOAT_EQ(out[1], 2.0f - 0.1f * 1.0f / std::sqrt(5.5f));
  // With L2 the gradient is g + l2 w = (3.5, 2): acc = 0.5 + (12.25 + 4) / 2 = 8.625.
  c.l2 = 0.5f;
  c.init_state(state.data(), 2);
  apply_step(c, w, state.data(), g, 2, 1, out);
  EXPECT_FLOAT_EQ(state[0], 8.625f);
  EXPECT_FLOAT_EQ(out[0], 1.0f - 0.1f * 3.5f / std::sqrt(8.625f));
}

TEST(Optimizer, AdamWithBiasCorrection) {
  OptimizerConfig c;
  c.kind = OptimizerKind::kAdam;
  c.lr = 0.01f;
  c.eps = 0.0f;
  std::vector<float> s;
  // Step 1: m = 0.1 g, v = 0.001 g^2; mhat = g, vhat = g^2 -> w -= lr * sign(g).
  const float w1 = step_once(c, 0.5f, s, 4.0f, 1);
  EXPECT_FLOAT_EQ(w1, 0.49f);
  // Step 2 with g = -2: m = 0.9*0.4 + 0.1*(-2) = 0.16; v = 0.999*0.016 + 0.001*4 = 0.019984
  const double m = 0.16, v = 0.019984;
  const double mhat = m / (1 - 0.81), vhat = v / (1 - 0.998001);
  EXPECT_NEAR(step_once(c, w1, s, -2.0f, 2), 0.49 - 0.01 * mhat / std::sqrt(vhat), 1e-6);
}

TEST(Optimizer, FtrlProximalAndL1Sparsity) {
  OptimizerConfig c;
  c.kind = OptimizerKind::kFtrl;
  c.lr = 0.5f;  // alpha
  c.ftrl_beta = 1.0f;
  c.l1 = 0.1f;
  c.l2 = 0.2f;
  std::vector<float> s;
  // n = 0 -> 9; sigma = (3 - 0) / 0.5 = 6; z = 3 - 6 * 0 = 3;
  // w = -(3 - 0.1) / ((1 + 3) / 0.5 + 0.2) = -2.9 / 8.2
  EXPECT_FLOAT_EQ(step_once(c, 0.0f, s, 3.0f, 1), -2.9f / 8.2f);
  c.l1 = 5.0f;  // |z| <= l1: the weight is exactly zero
  std::vector<float> s2;
  EXPECT_EQ(step_once(c, 0.0f, s2, 3.0f, 1), 0.0f);
}

TEST(Optimizer, EveryNamedChoiceSelectsThatOptimizer) {
  // The names the `optimizer` parameter accepts map to the optimizer of the same name
  // (rowwise_adagrad once fell through to per-coordinate Adagrad).
  for (const char* name : {"sgd", "adagrad", "adam", "ftrl", "rowwise_adagrad"}) {
    Params p = OptimizerConfig::params();
    p.set("optimizer", name);
    EXPECT_STREQ(to_string(OptimizerConfig::from_params(p).kind), name);
  }
}

}  // namespace
}  // namespace streamrec::embedding
