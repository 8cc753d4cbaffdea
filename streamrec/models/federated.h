// Federated learning, simulated in one process: the server side of FedAvg (McMahan et al.
// 2017) with the user-level DP of DP-FedAvg (McMahan et al. 2018). The server holds the
// global weights as one flat vector and never sees an event: each round the sampled clients
// start from weights(), train on their own data, and send back an update (their weights
// minus the global ones); the server clips each update to an L2 bound, adds Gaussian noise
// of std noise x clip to their sum when DP is on, divides by the expected number of clients
// per round, and moves the weights by server_lr times that mean.
// Thread-safety: not thread-safe (one round at a time).
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <vector>

namespace streamrec::models {

// What a client sends: its local weights minus the global weights it started from.
struct ClientUpdate {
  std::vector<float> delta;
};

struct FederatedOptions {
  double server_lr = 1.0;
  double clip = 0;   // L2 bound per update (0: none; DP needs one)
  double noise = 0;  // noise multiplier (0: no noise)
  double expected_clients = 1;
  uint64_t seed = 42;
};

class FederatedServer {
 public:
  // Error(kInvalidInput) for noise without a clip, or a non-positive divisor.
  FederatedServer(std::vector<float> weights, FederatedOptions options);
  std::span<const float> weights() const { return weights_; }
  // One round. Error(kInvalidInput) for an update of another size than weights().
  void apply(std::span<const ClientUpdate> updates);
  uint64_t rounds() const { return rounds_; }
  uint64_t updates() const { return updates_; }
  uint64_t clipped() const { return clipped_; }  // updates scaled down to the clip

 private:
  std::vector<float> weights_;
  FederatedOptions options_;
  std::mt19937_64 rng_;
  std::vector<double> sum_;
  uint64_t rounds_ = 0, updates_ = 0, clipped_ = 0;
};

}  // namespace streamrec::models
