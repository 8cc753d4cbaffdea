// User-level differential privacy for the models that train by gradient (DP-SGD, Abadi et
// al. 2016): the `dp_*` parameters a model declares, and the accountant that turns the
// noise and sampling of its steps into the (epsilon, delta) spent.
//
// The accountant is the Rényi DP of the sampled Gaussian mechanism (Mironov 2017; Mironov,
// Talwar and Zhang 2019) at integer orders 2..256: a step that samples each user with
// probability q and adds Gaussian noise of std `noise` x clip to the sum of clipped
// per-user gradients costs, at order a, log(A_a) / (a - 1) with
//   A_a = sum_k C(a, k) (1 - q)^(a - k) q^k exp((k^2 - k) / (2 noise^2)),
// steps compose by adding, and (epsilon, delta) follows by the conversion of Balle et al.
// 2020 (as TF Privacy and Opacus use), minimised over the orders. Integer orders only: the
// epsilon is an upper bound, at most a little above the one fractional orders would give.
// Thread-safety: values; no shared state.
#pragma once

#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

#include "streamrec/core/config.h"

namespace streamrec::models {

// The dp_* parameters, declared once for every model that offers DP-SGD.
std::vector<ParamSpec> dp_param_specs();

// What a model's params ask for: off, a target epsilon (noise calibrated to it), or a fixed
// noise multiplier (epsilon reported). Error(kInvalidInput) naming the parameter for a
// contradictory or useless combination (both dp_epsilon and dp_noise, a max below the fit's).
struct DpConfig {
  bool enabled = false;
  double target_epsilon = 0;  // 0: noise given
  double delta = 1e-5;
  double clip = 1;
  double noise = 0;        // multiplier (std / clip); 0 until calibrated
  double max_epsilon = 0;  // online steps stop when they would spend more (0: no online steps)
  static DpConfig from(const Params& params);
};

// A DP fit's steps: each samples every one of `users` with probability q = min(1,
// per_step / users) (Poisson), at noise multiplier `noise`: dp_noise, or the one that spends
// dp_epsilon over the steps. Without users there is no step, and the noise is what the
// target would need over `passes` steps at rate 1 (online DP steps still use it).
struct DpSchedule {
  double q = 1;
  uint64_t steps = 0;
  double noise = 1;
  // `passes` expected passes over the users: ceil(passes / q) steps (DP-SGD epochs).
  static DpSchedule epochs(const DpConfig& dp, size_t users, double per_step, int64_t passes);
  // Exactly `rounds` steps (DP-FedAvg rounds).
  static DpSchedule rounds(const DpConfig& dp, size_t users, double per_step, int64_t rounds);
  // The sampling rate alone: min(1, per_step / users), 1 without users.
  static double rate(size_t users, double per_step) {
    return users > 0 ? std::min(1.0, per_step / static_cast<double>(users)) : 1.0;
  }
};

class RdpAccountant {
 public:
  RdpAccountant() = default;
  // From rdp() of another (one value per order); Error(kCorrupt) for the wrong count.
  explicit RdpAccountant(std::vector<double> rdp);
  // Adds `steps` steps of the sampled Gaussian mechanism (sampling rate q in [0, 1], noise
  // multiplier > 0).
  void add(double q, double noise, uint64_t steps);
  // The smallest epsilon over the orders at `delta` (0 < delta < 1), and its order.
  double epsilon(double delta, int* order = nullptr) const;
  // RDP at each order (orders()), summed over the steps added.
  const std::vector<double>& rdp() const { return rdp_; }
  static const std::vector<int>& orders();
  // RDP of one step at integer order `alpha` (>= 2).
  static double step_rdp(double q, double noise, int alpha);
  // The smallest noise multiplier (to 0.1%) whose `steps` steps at rate q spend at most
  // `epsilon` at `delta`; Error(kInvalidInput) when even noise 10^4 cannot.
  static double calibrate(double epsilon, double delta, double q, uint64_t steps);
  // Composition with another accountant's steps.
  void add(const RdpAccountant& other) {
    for (size_t i = 0; i < rdp_.size(); ++i) rdp_[i] += other.rdp_[i];
  }
  // RDP (per order) to epsilon at delta, as epsilon() does.
  static double to_epsilon(const std::vector<double>& rdp, double delta, int* order = nullptr);

 private:
  std::vector<double> rdp_ = std::vector<double>(orders().size(), 0.0);
};

// What a DP fit (and the online steps after it) spent, for logs, manifests and /v1/model.
struct PrivacyReport {
  bool enabled = false;
  double epsilon = 0, delta = 0, noise = 0, clip = 0, sample_rate = 0;
  uint64_t steps = 0, online_steps = 0, users = 0;
  RdpAccountant accountant;  // every step so far (fit and online)
  // Set by the server: every model it has published since its start composed (each refit
  // reads the same users again), epsilon at delta; equal to `epsilon` until a second fit.
  double epsilon_all_versions = 0;

  // A DP fit starts: the schedule and the config's delta and clip; a fresh fit's report
  // starts over (`compose`: a warm refit keeps what the model spent before).
  void begin(const DpConfig& dp, const DpSchedule& schedule, uint64_t n_users, bool compose);
  // The schedule's steps ran: the accountant adds them and epsilon follows.
  void spend(const DpSchedule& schedule);

  // The report's public fields by name, the one schema of every place that shows it
  // (the train manifest, /v1/model): epsilon, delta, noise_multiplier, clip, sample_rate,
  // fit_steps, online_steps, users, epsilon_all_versions.
  std::vector<std::pair<const char*, double>> fields() const {
    return {{"epsilon", epsilon},
            {"delta", delta},
            {"noise_multiplier", noise},
            {"clip", clip},
            {"sample_rate", sample_rate},
            {"fit_steps", static_cast<double>(steps)},
            {"online_steps", static_cast<double>(online_steps)},
            {"users", static_cast<double>(users)},
            {"epsilon_all_versions", epsilon_all_versions}};
  }
};

}  // namespace streamrec::models
