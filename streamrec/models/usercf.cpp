#include "streamrec/models/usercf.h"

#include <algorithm>
#include <cmath>

namespace streamrec::models {

UserCf::UserCf(Params params)
    : params_(std::move(params)),
      k_(static_cast<size_t>(params_.integer("k"))),
      shrink_(static_cast<float>(params_.real("shrink"))) {}

Params UserCf::declare_params() {
  return Params("usercf",
                {ParamSpec::integer("k", 50, 1, 100000, "most similar users used"),
                 ParamSpec::real("shrink", 0.0, 0.0, 1e6, "added to the cosine denominator")});
}

void UserCf::fit(const TrainData& data) {
  history_.assign(data.num_users(), {});
  users_of_.assign(data.num_items(), {});
  for (uint32_t u = 0; u < data.num_users(); ++u) {
    const auto items = data.items_of(u);
    history_[u].assign(items.begin(), items.end());
    for (uint32_t i : items) users_of_[i].push_back(u);
  }
}

void UserCf::score_all(uint32_t user, std::span<float> scores) const {
  std::fill(scores.begin(), scores.end(), 0.0f);
  if (user >= history_.size() || history_[user].empty()) return;
  std::vector<float> co(history_.size(), 0.0f);
  std::vector<uint32_t> touched;
  for (uint32_t j : history_[user])
    for (uint32_t v : users_of_[j]) {
      if (v == user) continue;
      if (co[v] == 0.0f) touched.push_back(v);
      co[v] += 1.0f;
    }
  struct Sim {
    uint32_t user;
    float sim;
  };
  std::vector<Sim> sims;
  sims.reserve(touched.size());
  const float own = std::sqrt(static_cast<float>(history_[user].size()));
  for (uint32_t v : touched)
    sims.push_back(
        {v, co[v] / (own * std::sqrt(static_cast<float>(history_[v].size())) + shrink_)});
  auto better = [](const Sim& a, const Sim& b) {
    return a.sim > b.sim || (a.sim == b.sim && a.user < b.user);
  };
  if (sims.size() > k_) {
    std::nth_element(sims.begin(), sims.begin() + k_, sims.end(), better);
    sims.resize(k_);
  }
  for (const auto& s : sims)
    for (uint32_t i : history_[s.user])
      if (i < scores.size()) scores[i] += s.sim;
}

void UserCf::observe(const data::Interaction& e) {
  if (e.user >= history_.size()) history_.resize(e.user + 1);
  if (e.item >= users_of_.size()) users_of_.resize(e.item + 1);
  auto& h = history_[e.user];
  if (std::find(h.begin(), h.end(), e.item) != h.end()) return;
  h.push_back(e.item);
  users_of_[e.item].push_back(e.user);
}

}  // namespace streamrec::models
