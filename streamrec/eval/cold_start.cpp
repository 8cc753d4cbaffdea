#include "streamrec/eval/cold_start.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <random>

#include "streamrec/core/error.h"
#include "streamrec/embedding/keys.h"

namespace streamrec::eval {
namespace {

// Per-pair ranking of a target among the held-out items, given scores for all items.
struct PairRanker {
  const ColdStartSplit& split;
  const std::vector<size_t>& ks;
  std::map<std::string, double> sums;
  size_t pairs = 0;

  // `own` = the user's held-out items (sorted), excluded except the target itself.
  void rank(const float* scores, uint32_t target, const std::vector<uint32_t>& own) {
    const float t = scores[target];
    // Items ahead of the target. Ties are broken by a hash of the item, not by its index:
    // ids follow first appearance in the data, so index order would smuggle popularity in
    // (a model that scores every cold item the same would look better than random).
    const uint64_t th = embedding::mix64(target);
    size_t rank = 0;
    for (uint32_t i : split.cold_items) {
      if (i == target || std::binary_search(own.begin(), own.end(), i)) continue;
      rank += scores[i] > t || (scores[i] == t && embedding::mix64(i) < th);
    }
    for (size_t k : ks)
      if (rank < k) {
        sums[fmt::format("hr@{}", k)] += 1;
        sums[fmt::format("ndcg@{}", k)] += 1.0 / std::log2(rank + 2.0);
      }
    ++pairs;
  }

  EvalResult result(std::string name) const {
    EvalResult r;
    r.model = std::move(name);
    for (size_t k : ks)
      for (const char* m : {"hr", "ndcg"}) {
        const auto key = fmt::format("{}@{}", m, k);
        auto it = sums.find(key);
        r.metrics[key] = pairs == 0 || it == sums.end() ? 0.0 : it->second / pairs;
      }
    r.users = pairs;
    return r;
  }
};

// Held-out items of each user (sorted), from the targets.
std::vector<std::vector<uint32_t>> cold_by_user(const data::Dataset& ds,
                                                const ColdStartSplit& split) {
  std::vector<std::vector<uint32_t>> own(ds.num_users());
  for (const auto& e : split.targets) own[e.user].push_back(e.item);
  for (auto& v : own) std::sort(v.begin(), v.end());
  return own;
}

}  // namespace

ColdStartSplit split_cold_items(const data::Dataset& ds, const ColdStartOptions& options) {
  SR_INPUT_CHECK(options.share > 0 && options.share < 1,
                 "cold-start share {} must be between 0 and 1", options.share);
  ColdStartSplit s;
  std::vector<char> has_events(ds.num_items(), 0);
  for (const auto& e : ds.events) has_events[e.item] = 1;
  std::vector<uint32_t> items;
  for (uint32_t i = 0; i < ds.num_items(); ++i)
    if (has_events[i]) items.push_back(i);
  std::mt19937_64 rng(options.seed);
  std::shuffle(items.begin(), items.end(), rng);
  items.resize(static_cast<size_t>(std::llround(options.share * items.size())));
  SR_INPUT_CHECK(items.size() >= 2, "cold-start share {} leaves fewer than 2 held-out items",
                 options.share);
  std::sort(items.begin(), items.end());
  s.cold.assign(ds.num_items(), 0);
  for (uint32_t i : items) s.cold[i] = 1;
  s.cold_items = std::move(items);
  std::unordered_set<uint64_t> targeted;  // (user, item): one target per distinct pair
  for (const auto& e : ds.events) {
    if (!s.cold[e.item])
      s.train.push_back(e);
    else if (targeted.insert((uint64_t{e.user} << 32) | e.item).second)
      s.targets.push_back(e);
  }
  std::stable_sort(s.train.begin(), s.train.end(),
                   [](const auto& a, const auto& b) { return a.timestamp < b.timestamp; });
  return s;
}

EvalResult evaluate_cold_start(models::Recommender& model, const data::Dataset& ds,
                               const ColdStartSplit& split, const ColdStartOptions& options,
                               bool fit, const models::ProgressFn& progress) {
  const auto t0 = std::chrono::steady_clock::now();
  if (fit) model.fit(models::TrainData(ds.num_users(), ds.num_items(), split.train, &ds));
  const auto t1 = std::chrono::steady_clock::now();
  const auto own = cold_by_user(ds, split);
  PairRanker ranker{split, options.ks, {}, 0};
  std::vector<float> scores(model.num_items());
  SR_ASSERT(model.num_items() >= ds.num_items());
  size_t done = 0;
  for (uint32_t u = 0; u < ds.num_users(); ++u) {
    if (own[u].empty()) continue;
    model.score_all(u, scores);
    for (uint32_t item : own[u]) ranker.rank(scores.data(), item, own[u]);
    if (progress) progress(++done, ds.num_users());
  }
  auto r = ranker.result(model.name());
  r.params = model.params().summary();
  r.fit_seconds = std::chrono::duration<double>(t1 - t0).count();
  r.eval_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
  return r;
}

std::vector<EvalResult> cold_start_baselines(const data::Dataset& ds, const ColdStartSplit& split,
                                             const ColdStartOptions& options) {
  const auto own = cold_by_user(ds, split);
  // Random: expected hits of a random order; NDCG@k = sum over ranks < k of
  // 1/log2(r+2) / candidates.
  EvalResult random;
  random.model = "random";
  std::vector<double> cat_pop(ds.num_items(), 0), oracle(ds.num_items(), 0);
  std::map<std::string, double> per_category;
  for (const auto& e : split.train)
    for (const auto& c : ds.item_attrs[e.item].categories) per_category[c] += 1;
  for (uint32_t i : split.cold_items) {
    const auto& cats = ds.item_attrs[i].categories;
    for (const auto& c : cats) cat_pop[i] += per_category[c] / static_cast<double>(cats.size());
  }
  for (const auto& e : split.targets) oracle[e.item] += 1;
  std::vector<float> cat_scores(cat_pop.begin(), cat_pop.end());
  std::vector<float> oracle_scores(oracle.begin(), oracle.end());
  PairRanker by_cat{split, options.ks, {}, 0}, by_oracle{split, options.ks, {}, 0};
  std::map<std::string, double> random_sums;
  size_t pairs = 0;
  for (uint32_t u = 0; u < ds.num_users(); ++u)
    for (uint32_t item : own[u]) {
      by_cat.rank(cat_scores.data(), item, own[u]);
      by_oracle.rank(oracle_scores.data(), item, own[u]);
      const double candidates = static_cast<double>(split.cold_items.size() - own[u].size() + 1);
      for (size_t k : options.ks) {
        double ndcg = 0;
        for (size_t r = 0; r < k && r < candidates; ++r) ndcg += 1.0 / std::log2(r + 2.0);
        random_sums[fmt::format("hr@{}", k)] += std::min(1.0, k / candidates);
        random_sums[fmt::format("ndcg@{}", k)] += ndcg / candidates;
      }
      ++pairs;
    }
  for (const auto& [key, sum] : random_sums) random.metrics[key] = pairs ? sum / pairs : 0;
  random.users = pairs;
  return {random, by_cat.result("category-popular"), by_oracle.result("oracle-popular")};
}

}  // namespace streamrec::eval
