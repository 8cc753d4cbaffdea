#include "streamrec/models/privacy.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "streamrec/core/error.h"

namespace streamrec::models {

std::vector<ParamSpec> dp_param_specs() {
  return {ParamSpec::real("dp_epsilon", 0, 0, 1e6,
                          "user-level differential privacy: the epsilon the fit may spend (DP-SGD "
                          "noise calibrated to it; 0: off unless dp_noise is set)"),
          ParamSpec::real("dp_delta", 1e-5, 1e-15, 0.1, "DP: delta (below 1 / users)"),
          ParamSpec::real("dp_clip", 1.0, 1e-6, 1e6,
                          "DP: bound on the L2 norm of one user's gradient in a step (dense and "
                          "embedding rows together)"),
          ParamSpec::real("dp_noise", 0, 0, 1e4,
                          "DP: noise multiplier (std / dp_clip) instead of dp_epsilon; the "
                          "epsilon spent is then reported"),
          ParamSpec::real("dp_max_epsilon", 0, 0, 1e6,
                          "DP online: steps on new events run while the epsilon spent in all "
                          "(fit + online) stays within this (0: none; events then only extend "
                          "their user's own input)")};
}

DpConfig DpConfig::from(const Params& params) {
  DpConfig c;
  c.target_epsilon = params.real("dp_epsilon");
  c.noise = params.real("dp_noise");
  c.delta = params.real("dp_delta");
  c.clip = params.real("dp_clip");
  c.max_epsilon = params.real("dp_max_epsilon");
  SR_INPUT_CHECK(c.target_epsilon == 0 || c.noise == 0,
                 "{}: give dp_epsilon ({}) or dp_noise ({}), not both", params.owner(),
                 c.target_epsilon, c.noise);
  c.enabled = c.target_epsilon > 0 || c.noise > 0;
  SR_INPUT_CHECK(c.enabled || c.max_epsilon == 0,
                 "{}: dp_max_epsilon {} needs dp_epsilon or dp_noise", params.owner(),
                 c.max_epsilon);
  SR_INPUT_CHECK(c.max_epsilon == 0 || c.target_epsilon == 0 || c.max_epsilon > c.target_epsilon,
                 "{}: dp_max_epsilon {} leaves nothing for online steps after the fit's "
                 "dp_epsilon {}",
                 params.owner(), c.max_epsilon, c.target_epsilon);
  return c;
}

const std::vector<int>& RdpAccountant::orders() {
  static const std::vector<int> kOrders = [] {
    std::vector<int> o;
    for (int a = 2; a <= 64; ++a) o.push_back(a);
    for (int a : {72, 80, 96, 112, 128, 160, 192, 256}) o.push_back(a);
    return o;
  }();
  return kOrders;
}

double RdpAccountant::step_rdp(double q, double noise, int alpha) {
  SR_ASSERT(alpha >= 2 && noise > 0 && q >= 0 && q <= 1);
  if (q == 0) return 0;
  const double inv2s2 = 1.0 / (2 * noise * noise);
  if (q == 1) return alpha * inv2s2;
  // log A_a as a log-sum-exp of the binomial expansion's terms (all positive).
  std::vector<double> terms(alpha + 1);
  const double lq = std::log(q), l1q = std::log1p(-q);
  double top = -std::numeric_limits<double>::infinity();
  for (int k = 0; k <= alpha; ++k) {
    const double log_binom =
        std::lgamma(alpha + 1.0) - std::lgamma(k + 1.0) - std::lgamma(alpha - k + 1.0);
    terms[k] = log_binom + k * lq + (alpha - k) * l1q + (double(k) * k - k) * inv2s2;
    top = std::max(top, terms[k]);
  }
  double sum = 0;
  for (double t : terms) sum += std::exp(t - top);
  return (top + std::log(sum)) / (alpha - 1);
}

RdpAccountant::RdpAccountant(std::vector<double> rdp) : rdp_(std::move(rdp)) {
  SR_CHECK(rdp_.size() == orders().size(), ErrorKind::kCorrupt,
           "DP accountant: {} orders stored, {} expected", rdp_.size(), orders().size());
}

void RdpAccountant::add(double q, double noise, uint64_t steps) {
  SR_INPUT_CHECK(q >= 0 && q <= 1, "DP: sampling rate {} is not in [0, 1]", q);
  SR_INPUT_CHECK(noise > 0, "DP: noise multiplier {} is not positive", noise);
  if (steps == 0) return;
  for (size_t i = 0; i < orders().size(); ++i)
    rdp_[i] += static_cast<double>(steps) * step_rdp(q, noise, orders()[i]);
}

double RdpAccountant::to_epsilon(const std::vector<double>& rdp, double delta, int* order) {
  SR_INPUT_CHECK(delta > 0 && delta < 1, "DP: delta {} is not in (0, 1)", delta);
  double best = std::numeric_limits<double>::infinity();
  int best_order = orders().back();
  for (size_t i = 0; i < orders().size(); ++i) {
    const double a = orders()[i], r = rdp[i];
    // Small RDP: delta bounds the divergence directly (epsilon 0).
    const double eps = delta * delta + std::expm1(-r) >= 0
                           ? 0.0
                           : r + std::log1p(-1 / a) - std::log(delta * a) / (a - 1);
    if (eps < best) {
      best = eps;
      best_order = static_cast<int>(a);
    }
  }
  if (order) *order = best_order;
  return std::max(0.0, best);
}

double RdpAccountant::epsilon(double delta, int* order) const {
  return to_epsilon(rdp_, delta, order);
}

double RdpAccountant::calibrate(double epsilon, double delta, double q, uint64_t steps) {
  SR_INPUT_CHECK(epsilon > 0, "DP: epsilon {} is not positive", epsilon);
  auto spent = [&](double noise) {
    RdpAccountant a;
    a.add(q, noise, steps);
    return a.epsilon(delta);
  };
  double lo = 1e-2, hi = 1e4;
  SR_INPUT_CHECK(spent(hi) <= epsilon,
                 "DP: epsilon {} at delta {} is out of reach for {} steps at sampling rate {} "
                 "(even noise {} spends more); fewer epochs or a larger epsilon",
                 epsilon, delta, steps, q, hi);
  if (spent(lo) <= epsilon) return lo;
  while (hi / lo > 1.001) {  // geometric bisection: spent() falls as the noise grows
    const double mid = std::sqrt(lo * hi);
    (spent(mid) <= epsilon ? hi : lo) = mid;
  }
  return hi;
}

namespace {

DpSchedule schedule(const DpConfig& dp, size_t users, double per_step, int64_t passes,
                    bool rounds) {
  DpSchedule s;
  s.q = DpSchedule::rate(users, per_step);
  s.steps = users == 0 ? 0
            : rounds   ? static_cast<uint64_t>(passes)
                       : static_cast<uint64_t>(std::ceil(static_cast<double>(passes) / s.q));
  s.noise = dp.noise > 0 ? dp.noise
            : s.steps > 0
                ? RdpAccountant::calibrate(dp.target_epsilon, dp.delta, s.q, s.steps)
                : RdpAccountant::calibrate(dp.target_epsilon, dp.delta, 1.0,
                                           static_cast<uint64_t>(std::max<int64_t>(1, passes)));
  return s;
}

}  // namespace

DpSchedule DpSchedule::epochs(const DpConfig& dp, size_t users, double per_step, int64_t passes) {
  return schedule(dp, users, per_step, passes, false);
}

DpSchedule DpSchedule::rounds(const DpConfig& dp, size_t users, double per_step, int64_t rounds) {
  return schedule(dp, users, per_step, rounds, true);
}

void PrivacyReport::begin(const DpConfig& dp, const DpSchedule& schedule, uint64_t n_users,
                          bool compose) {
  if (!compose) *this = {};
  enabled = true;
  delta = dp.delta;
  clip = dp.clip;
  noise = schedule.noise;
  sample_rate = schedule.q;
  users = n_users;
}

void PrivacyReport::spend(const DpSchedule& schedule) {
  accountant.add(schedule.q, schedule.noise, schedule.steps);
  steps += schedule.steps;
  epsilon = accountant.epsilon(delta);
}

}  // namespace streamrec::models
