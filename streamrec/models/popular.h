// Popularity with exponential time decay: score(i) = sum over events of i of
// 2^((t_event - t_now) / half_life). half_life_days = 0 means plain counts.
#pragma once

#include "streamrec/models/recommender.h"

namespace streamrec::models {

class Popular final : public Recommender {
 public:
  explicit Popular(Params params);
  static Params declare_params();

  std::string name() const override { return "popular"; }
  const Params& params() const override { return params_; }
  uint32_t num_items() const override { return static_cast<uint32_t>(score_.size()); }
  void fit(const TrainData& data) override;
  void score_all(uint32_t user, std::span<float> scores) const override;
  bool supports_online() const override { return true; }
  void observe(const data::Interaction& event) override;
  void save(BinaryWriter& out) const override;
  void load(BinaryReader& in) override;

 private:
  void add(uint32_t item, int64_t timestamp, float weight);
  Params params_;
  double half_life_s_;
  // Scores are kept relative to `ref_time_`: a weight at time t is 2^((t - ref)/half_life).
  // When that grows large, everything is rescaled to a newer reference.
  int64_t ref_time_ = 0;
  bool has_ref_ = false;
  std::vector<double> score_;
};

}  // namespace streamrec::models
