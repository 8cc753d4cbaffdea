#include "streamrec/models/popular.h"

#include <cmath>

#include "streamrec/core/serialize.h"

namespace streamrec::models {

Popular::Popular(Params params)
    : params_(std::move(params)), half_life_s_(params_.real("half_life_days") * 86400.0) {}

Params Popular::declare_params() {
  return Params("popular", {ParamSpec::real("half_life_days", 0.0, 0.0, 1e6,
                                            "half-life of an event's weight in days; 0 = no decay"),
                            ParamSpec::choice("weight", "count", {"count", "value"},
                                              "each event counts 1, or its value")});
}

void Popular::add(uint32_t item, int64_t timestamp, float weight) {
  if (item >= score_.size()) score_.resize(item + 1, 0.0);
  const double w = params_.str("weight") == "value" ? weight : 1.0;
  if (half_life_s_ <= 0) {
    score_[item] += w;
    return;
  }
  if (!has_ref_) {
    ref_time_ = timestamp;
    has_ref_ = true;
  }
  double exponent = (timestamp - ref_time_) / half_life_s_;
  if (exponent > 60) {  // rescale so that 2^exponent stays far from overflow
    const double shift = std::exp2(-exponent);
    for (auto& s : score_) s *= shift;
    ref_time_ = timestamp;
    exponent = 0;
  }
  score_[item] += w * std::exp2(exponent);
}

void Popular::fit(const TrainData& data) {
  score_.assign(data.num_items(), 0.0);
  has_ref_ = false;
  for (const auto& e : data.events()) add(e.item, e.timestamp, e.value);
}

void Popular::observe(const data::Interaction& e) { add(e.item, e.timestamp, e.value); }

void Popular::score_all(uint32_t, std::span<float> scores) const {
  for (size_t i = 0; i < scores.size(); ++i)
    scores[i] = i < score_.size() ? static_cast<float>(score_[i]) : 0.0f;
}

void Popular::save(BinaryWriter& out) const {
  out.i64(ref_time_);
  out.u8(has_ref_);
  out.u64(score_.size());
  out.bytes(score_.data(), score_.size() * sizeof(double));
}

void Popular::load(BinaryReader& in) {
  ref_time_ = in.i64();
  has_ref_ = in.u8() != 0;
  score_.resize(in.count(uint64_t{1} << 34));
  in.bytes(score_.data(), score_.size() * sizeof(double));
}

}  // namespace streamrec::models
