// User-user collaborative filtering (the seed's CF): cosine similarity between users'
// item sets, computed at query time through the item -> users index;
// score(u, i) = sum over the k most similar users v who have i of sim(u, v).
// Everything is an index, so online learning is appending the event.
#pragma once

#include "streamrec/models/recommender.h"

namespace streamrec::models {

class UserCf final : public Recommender {
 public:
  explicit UserCf(Params params);
  static Params declare_params();

  std::string name() const override { return "usercf"; }
  const Params& params() const override { return params_; }
  uint32_t num_items() const override { return static_cast<uint32_t>(users_of_.size()); }
  void fit(const TrainData& data) override;
  void score_all(uint32_t user, std::span<float> scores) const override;
  bool supports_online() const override { return true; }
  void observe(const data::Interaction& event) override;

 private:
  Params params_;
  size_t k_;
  float shrink_;
  std::vector<std::vector<uint32_t>> history_;   // user -> distinct items
  std::vector<std::vector<uint32_t>> users_of_;  // item -> users
};

}  // namespace streamrec::models
