#include "streamrec/models/itemknn.h"

#include <algorithm>
#include <atomic>
#include <cmath>

#include "streamrec/core/parallel.h"

namespace streamrec::models {

ItemKnn::ItemKnn(Params params)
    : params_(std::move(params)),
      k_(static_cast<size_t>(params_.integer("k"))),
      shrink_(static_cast<float>(params_.real("shrink"))) {}

Params ItemKnn::declare_params() {
  return Params("itemknn",
                {ParamSpec::integer("k", 100, 1, 100000, "neighbours kept per item"),
                 ParamSpec::real("shrink", 0.0, 0.0, 1e6,
                                 "added to the cosine denominator (damps rare co-occurrences)")});
}

float ItemKnn::similarity(float co, uint32_t a, uint32_t b) const {
  const float norm = std::sqrt(static_cast<float>(users_of_[a].size())) *
                     std::sqrt(static_cast<float>(users_of_[b].size()));
  return co / (norm + shrink_);
}

std::vector<ItemKnn::Neighbour> ItemKnn::compute_row(uint32_t item, std::vector<float>& co,
                                                     std::vector<uint32_t>& touched) const {
  touched.clear();
  for (uint32_t u : users_of_[item])
    for (uint32_t j : history_[u]) {
      if (co[j] == 0.0f) touched.push_back(j);
      co[j] += 1.0f;
    }
  std::vector<Neighbour> row;
  row.reserve(touched.size());
  for (uint32_t j : touched) {
    if (j != item) row.push_back({j, similarity(co[j], item, j)});
    co[j] = 0.0f;
  }
  auto better = [](const Neighbour& a, const Neighbour& b) {
    return a.sim > b.sim || (a.sim == b.sim && a.item < b.item);
  };
  if (row.size() > k_) {
    std::nth_element(row.begin(), row.begin() + k_, row.end(), better);
    row.resize(k_);
  }
  std::sort(row.begin(), row.end(), better);
  return row;
}

void ItemKnn::fit(const TrainData& data) {
  history_.assign(data.num_users(), {});
  users_of_.assign(data.num_items(), {});
  for (uint32_t u = 0; u < data.num_users(); ++u) {
    const auto items = data.items_of(u);
    history_[u].assign(items.begin(), items.end());
    for (uint32_t i : items) users_of_[i].push_back(u);
  }
  neighbours_.assign(data.num_items(), {});
  std::vector<std::vector<float>> co(num_threads(), std::vector<float>(data.num_items(), 0.0f));
  std::vector<std::vector<uint32_t>> touched(num_threads());
  std::atomic<uint64_t> done{0};
  parallel_for(data.num_items(), [&](size_t b, size_t e, int t) {
    for (size_t i = b; i < e; ++i)
      neighbours_[i] = compute_row(static_cast<uint32_t>(i), co[t], touched[t]);
    const uint64_t d = done += (e - b);
    if (t == 0) report_progress(d, data.num_items());
  });
}

void ItemKnn::score_all(uint32_t user, std::span<float> scores) const {
  std::fill(scores.begin(), scores.end(), 0.0f);
  if (user >= history_.size()) return;
  for (uint32_t j : history_[user])
    for (const auto& n : neighbours_[j])
      if (n.item < scores.size()) scores[n.item] += n.sim;
}

void ItemKnn::observe(const data::Interaction& e) {
  if (e.user >= history_.size()) history_.resize(e.user + 1);
  if (e.item >= users_of_.size()) {
    users_of_.resize(e.item + 1);
    neighbours_.resize(e.item + 1);
  }
  auto& h = history_[e.user];
  if (std::find(h.begin(), h.end(), e.item) != h.end()) return;  // binary matrix: no change
  h.push_back(e.item);
  users_of_[e.item].push_back(e.user);
  std::vector<float> co(users_of_.size(), 0.0f);
  std::vector<uint32_t> touched;
  neighbours_[e.item] = compute_row(e.item, co, touched);
  // The new co-occurrences are (e.item, j) for j in the user's history: patch j's list.
  for (const auto& n : neighbours_[e.item]) co[n.item] = n.sim;
  for (uint32_t j : h) {
    if (j == e.item) continue;
    float sim = co[j];
    if (sim == 0.0f) {  // not among e.item's top k: compute the pair directly
      float c = 0;
      for (uint32_t u : users_of_[j])
        c += std::find(history_[u].begin(), history_[u].end(), e.item) != history_[u].end();
      sim = similarity(c, j, e.item);
    }
    auto& row = neighbours_[j];
    auto it = std::find_if(row.begin(), row.end(), [&](auto& n) { return n.item == e.item; });
    if (it != row.end()) {
      it->sim = sim;
    } else if (row.size() < k_) {
      row.push_back({e.item, sim});
    } else if (!row.empty() && sim > row.back().sim) {
      row.back() = {e.item, sim};
    } else {
      continue;
    }
    std::sort(row.begin(), row.end(), [](auto& a, auto& b) { return a.sim > b.sim; });
  }
}

}  // namespace streamrec::models
