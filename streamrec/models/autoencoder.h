// `autoencoder`: Mult-DAE / Mult-VAE (Liang et al., WWW 2018) over each user's interaction
// vector. The first layer's weights are an item embedding table (a user's input is the
// normalised sum of the rows of their items, after input dropout) and so is the output
// layer (one row per item); both live in dynamic embedding tables trained by their row
// optimizer (Adam), the hidden layers by torch::optim::Adam. Loss: multinomial
// log-likelihood (default) or the seed's squared error on the output logits (a Gaussian
// likelihood; through a sigmoid it learned less than popularity here); Mult-VAE adds the KL
// term, annealed up to `beta`. score(u, i) = the decoder's logit of item i.
//
// With dp_epsilon or dp_noise (privacy.h): user-level DP-SGD as seq does it: Poisson-sampled
// steps (rate batch / users) for `epochs` epochs, each sampled user's gradient (their own
// loss, over both item tables and the dense layers together) clipped to dp_clip, Gaussian
// noise on the sum. A user's scores come from their own history through the private model.
#pragma once

#include <memory>
#include <random>
#include <vector>

#include "streamrec/models/privacy.h"
#include "streamrec/models/recommender.h"

namespace streamrec::models {

class Autoencoder final : public Recommender {
 public:
  explicit Autoencoder(Params params);
  ~Autoencoder() override;
  static Params declare_params();

  std::string name() const override { return "autoencoder"; }
  const Params& params() const override { return params_; }
  uint32_t num_items() const override { return n_items_; }
  void fit(const TrainData& data) override;
  void score_all(uint32_t user, std::span<float> scores) const override;
  const PrivacyReport* privacy() const override { return privacy_.enabled ? &privacy_ : nullptr; }
  // Data-parallel fit (data_parallel.h; module dist runs it on MPI ranks): each batch of
  // users is cut into the world's shares, both item tables are sharded by key during the
  // fit and gathered whole each step (the full softmax), the dense gradients summed; after
  // the fit every process holds the whole model. Not with dp_*.
  bool train_on(DataParallel* world) override {
    world_ = world;
    return true;
  }

 private:
  struct State;
  // fit's parts: the item tables, layers and optimizer; one step on a batch of users
  // (returns its loss); every user's scores after the last epoch.
  void build_network();
  double train_batch(const std::vector<uint32_t>& users, std::mt19937_64& rng, double anneal);
  // train_batch over the world's shares of `users` (the same on every process).
  double train_shares(const std::vector<uint32_t>& users, uint64_t step, double anneal);
  // The DP fit's steps over `users` (Poisson-sampled, clipped, noised).
  void train_private(const std::vector<uint32_t>& users, std::mt19937_64& rng);
  void score_everyone(uint32_t num_users, std::mt19937_64& rng);
  Params params_;
  uint32_t n_items_ = 0;
  std::unique_ptr<State> state_;
  DataParallel* world_ = nullptr;
  PrivacyReport privacy_;
};

}  // namespace streamrec::models
