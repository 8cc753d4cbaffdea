#include "streamrec/models/federated.h"

#include <algorithm>
#include <cmath>

#include "streamrec/core/error.h"

namespace streamrec::models {

FederatedServer::FederatedServer(std::vector<float> weights, FederatedOptions options)
    : weights_(std::move(weights)), options_(options), rng_(options.seed) {
  SR_INPUT_CHECK(options_.noise == 0 || options_.clip > 0,
                 "federated: noise {} needs a clip (the noise is a multiple of it)",
                 options_.noise);
  SR_INPUT_CHECK(options_.expected_clients > 0, "federated: {} expected clients per round",
                 options_.expected_clients);
}

void FederatedServer::apply(std::span<const ClientUpdate> updates) {
  sum_.assign(weights_.size(), 0.0);
  for (const auto& u : updates) {
    SR_INPUT_CHECK(u.delta.size() == weights_.size(),
                   "federated: an update of {} floats for {} weights", u.delta.size(),
                   weights_.size());
    double sq = 0;
    for (const float x : u.delta) sq += double{x} * x;
    const double norm = std::sqrt(sq);
    double scale = 1;
    if (options_.clip > 0 && norm > options_.clip) {
      scale = options_.clip / norm;
      ++clipped_;
    }
    for (size_t i = 0; i < sum_.size(); ++i) sum_[i] += scale * u.delta[i];
  }
  if (options_.noise > 0) {
    std::normal_distribution<double> gauss(0.0, options_.noise * options_.clip);
    for (double& s : sum_) s += gauss(rng_);
  }
  const double step = options_.server_lr / options_.expected_clients;
  for (size_t i = 0; i < weights_.size(); ++i) weights_[i] += static_cast<float>(step * sum_[i]);
  ++rounds_;
  updates_ += updates.size();
}

}  // namespace streamrec::models
