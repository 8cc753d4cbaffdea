#include "streamrec/embedding/optimizer.h"

#include <algorithm>
#include <cmath>

#include "streamrec/core/error.h"
#include "streamrec/core/simd.h"

namespace streamrec::embedding {

const char* to_string(OptimizerKind kind) {
  switch (kind) {
    case OptimizerKind::kSgd:
      return "sgd";
    case OptimizerKind::kAdagrad:
      return "adagrad";
    case OptimizerKind::kAdam:
      return "adam";
    case OptimizerKind::kFtrl:
      return "ftrl";
    case OptimizerKind::kRowAdagrad:
      return "rowwise_adagrad";
  }
  return "?";
}

uint32_t OptimizerConfig::state_floats(uint32_t dim) const {
  switch (kind) {
    case OptimizerKind::kSgd:
      return 0;
    case OptimizerKind::kAdagrad:
      return dim;
    case OptimizerKind::kAdam:
    case OptimizerKind::kFtrl:
      return 2 * dim;
    case OptimizerKind::kRowAdagrad:
      return 4;
  }
  return 0;
}

void OptimizerConfig::init_state(float* state, uint32_t dim) const {
  const uint32_t n = state_floats(dim);
  const bool adagrad = kind == OptimizerKind::kAdagrad || kind == OptimizerKind::kRowAdagrad;
  std::fill(state, state + n, adagrad ? initial_accumulator : 0.0f);
}

Params OptimizerConfig::params() {
  OptimizerConfig d;
  return Params("optimizer",
                {ParamSpec::choice("optimizer", "adagrad",
                                   {"sgd", "adagrad", "adam", "ftrl", "rowwise_adagrad"},
                                   "row optimizer of the sparse tables"),
                 ParamSpec::real("lr", d.lr, 0, 100, "learning rate (ftrl: alpha)"),
                 ParamSpec::real("l2", d.l2, 0, 1e6, "L2 regularization"),
                 ParamSpec::real("eps", d.eps, 0, 1, "adagrad/adam epsilon"),
                 ParamSpec::real("initial_accumulator", d.initial_accumulator, 0, 1e6,
                                 "adagrad initial accumulator"),
                 ParamSpec::real("beta1", d.beta1, 0, 0.999999, "adam beta1"),
                 ParamSpec::real("beta2", d.beta2, 0, 0.999999999, "adam beta2"),
                 ParamSpec::real("l1", d.l1, 0, 1e6, "ftrl L1 (sparsity)"),
                 ParamSpec::real("ftrl_beta", d.ftrl_beta, 0, 1e6, "ftrl beta")});
}

OptimizerConfig OptimizerConfig::from_params(const Params& p) {
  OptimizerConfig c;
  const auto& k = p.str("optimizer");
  c.kind = k == "sgd"               ? OptimizerKind::kSgd
           : k == "adam"            ? OptimizerKind::kAdam
           : k == "ftrl"            ? OptimizerKind::kFtrl
           : k == "rowwise_adagrad" ? OptimizerKind::kRowAdagrad
                                    : OptimizerKind::kAdagrad;
  c.lr = static_cast<float>(p.real("lr"));
  c.l2 = static_cast<float>(p.real("l2"));
  c.eps = static_cast<float>(p.real("eps"));
  c.initial_accumulator = static_cast<float>(p.real("initial_accumulator"));
  c.beta1 = static_cast<float>(p.real("beta1"));
  c.beta2 = static_cast<float>(p.real("beta2"));
  c.l1 = static_cast<float>(p.real("l1"));
  c.ftrl_beta = static_cast<float>(p.real("ftrl_beta"));
  return c;
}

// One copy per instruction set, picked at load time: Adagrad's square roots and divisions
// run 8 or 16 lanes wide where the CPU allows. The build is ISO C++ (no FMA contraction),
// so every copy rounds alike.
SR_PER_ISA void apply_step(const OptimizerConfig& c, const float* w, float* __restrict state,
                           const float* __restrict g, uint32_t dim, uint32_t step, float* w_out) {
  switch (c.kind) {
    case OptimizerKind::kSgd:
      for (uint32_t i = 0; i < dim; ++i) w_out[i] = w[i] - c.lr * (g[i] + c.l2 * w[i]);
      return;
    case OptimizerKind::kAdagrad: {
      float* acc = state;
      for (uint32_t i = 0; i < dim; ++i) {
        const float gi = g[i] + c.l2 * w[i];
        acc[i] += gi * gi;
        w_out[i] = w[i] - c.lr * gi / (std::sqrt(acc[i]) + c.eps);
      }
      return;
    }
    case OptimizerKind::kRowAdagrad: {
      // sum (g + l2 w)^2 = g.g + 2 l2 g.w + l2^2 w.w, with the vectorised dot.
      float sq = dot(g, g, dim);
      if (c.l2 != 0) sq += 2 * c.l2 * dot(g, w, dim) + c.l2 * c.l2 * dot(w, w, dim);
      state[0] += sq / static_cast<float>(dim);
      const float scale = c.lr / (std::sqrt(state[0]) + c.eps);
      for (uint32_t i = 0; i < dim; ++i) w_out[i] = w[i] - scale * (g[i] + c.l2 * w[i]);
      return;
    }
    case OptimizerKind::kAdam: {
      float* m = state;
      float* v = state + dim;
      const float bc1 = 1.0f - std::pow(c.beta1, static_cast<float>(step));
      const float bc2 = 1.0f - std::pow(c.beta2, static_cast<float>(step));
      for (uint32_t i = 0; i < dim; ++i) {
        const float gi = g[i] + c.l2 * w[i];
        m[i] = c.beta1 * m[i] + (1.0f - c.beta1) * gi;
        v[i] = c.beta2 * v[i] + (1.0f - c.beta2) * gi * gi;
        w_out[i] = w[i] - c.lr * (m[i] / bc1) / (std::sqrt(v[i] / bc2) + c.eps);
      }
      return;
    }
    case OptimizerKind::kFtrl: {
      // FTRL-proximal (McMahan et al., KDD 2013), per coordinate; alpha = lr.
      float* z = state;
      float* n = state + dim;
      for (uint32_t i = 0; i < dim; ++i) {
        const float gi = g[i];
        const float n_new = n[i] + gi * gi;
        const float sigma = (std::sqrt(n_new) - std::sqrt(n[i])) / c.lr;
        z[i] += gi - sigma * w[i];
        n[i] = n_new;
        if (std::abs(z[i]) <= c.l1) {
          w_out[i] = 0.0f;
        } else {
          const float sign = z[i] < 0 ? -1.0f : 1.0f;
          w_out[i] = -(z[i] - sign * c.l1) / ((c.ftrl_beta + std::sqrt(n[i])) / c.lr + c.l2);
        }
      }
      return;
    }
  }
  SR_ASSERT(false);
}

}  // namespace streamrec::embedding
