#include "streamrec/eval/evaluator.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>

#include <fmt/format.h>

#include "streamrec/core/parallel.h"
#include "streamrec/eval/metrics.h"

namespace streamrec::eval {
namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

const char* kRankMetrics[] = {"precision", "recall", "f1", "ndcg", "hr", "mrr", "map"};

}  // namespace

std::vector<std::string> metric_names(const std::vector<size_t>& ks) {
  std::vector<std::string> names;
  for (size_t k : ks)
    for (const char* m : kRankMetrics) names.push_back(fmt::format("{}@{}", m, k));
  const size_t k = ks.empty() ? 10 : ks.front();
  names.push_back(fmt::format("coverage@{}", k));
  names.push_back(fmt::format("avgpop@{}", k));
  names.push_back(fmt::format("gini@{}", k));
  return names;
}

EvalResult evaluate(models::Recommender& model, const data::Dataset& ds, const Split& split,
                    const EvalOptions& o, bool fit, const models::ProgressFn& progress) {
  EvalResult result;
  result.model = model.name();
  result.params = model.params().summary();
  const uint32_t n_users = ds.num_users(), n_items = ds.num_items();

  const auto fit_events = o.on_validation ? split.train : split.fit_for_test();
  const auto& targets = o.on_validation ? split.validation : split.test;
  const models::TrainData train(n_users, n_items, fit_events, &ds);
  const auto t0 = std::chrono::steady_clock::now();
  if (fit) model.fit(train);
  result.fit_seconds = seconds_since(t0);

  // Non-candidates: items without any event.
  std::vector<char> candidate(n_items, 0);
  for (const auto& e : ds.events) candidate[e.item] = 1;
  std::vector<uint32_t> non_candidates;
  for (uint32_t i = 0; i < n_items; ++i)
    if (!candidate[i]) non_candidates.push_back(i);

  // Relevant items per user.
  std::vector<std::vector<uint32_t>> relevant(n_users);
  for (const auto& e : targets) relevant[e.user].push_back(e.item);
  std::vector<uint32_t> users;
  for (uint32_t u = 0; u < n_users; ++u) {
    auto& r = relevant[u];
    std::sort(r.begin(), r.end());
    r.erase(std::unique(r.begin(), r.end()), r.end());
    const auto seen = train.items_of(u);
    std::erase_if(r, [&](uint32_t i) { return std::binary_search(seen.begin(), seen.end(), i); });
    if (!r.empty()) users.push_back(u);
  }

  const size_t max_k = o.ks.empty() ? 10 : *std::max_element(o.ks.begin(), o.ks.end());
  std::vector<std::vector<uint32_t>> lists(users.size());
  std::vector<std::vector<UserMetrics>> per_k(o.ks.size(), std::vector<UserMetrics>(users.size()));
  const auto t1 = std::chrono::steady_clock::now();
  std::atomic<size_t> done{0};
  parallel_for(
      users.size(),
      [&](size_t b, size_t e, int t) {
        std::vector<float> scores(n_items);
        std::vector<uint32_t> exclude;
        for (size_t x = b; x < e; ++x) {
          const uint32_t u = users[x];
          model.score_all(u, scores);
          const auto seen = train.items_of(u);
          exclude.clear();
          std::merge(seen.begin(), seen.end(), non_candidates.begin(), non_candidates.end(),
                     std::back_inserter(exclude));
          const auto top = models::top_k(scores, max_k, exclude);
          auto& list = lists[x];
          for (const auto& s : top) list.push_back(s.item);
          for (size_t k = 0; k < o.ks.size(); ++k)
            per_k[k][x] = user_metrics(list, relevant[u], o.ks[k]);
        }
        const size_t d = done += (e - b);
        if (progress && t == 0) progress(d, users.size());
      },
      16);
  result.eval_seconds = seconds_since(t1);
  result.users = users.size();

  const double n = std::max<size_t>(1, users.size());
  for (size_t k = 0; k < o.ks.size(); ++k) {
    UserMetrics sum;
    for (const auto& m : per_k[k]) {
      sum.precision += m.precision;
      sum.recall += m.recall;
      sum.f1 += m.f1;
      sum.ndcg += m.ndcg;
      sum.hit += m.hit;
      sum.mrr += m.mrr;
      sum.map += m.map;
    }
    const size_t K = o.ks[k];
    result.metrics[fmt::format("precision@{}", K)] = sum.precision / n;
    result.metrics[fmt::format("recall@{}", K)] = sum.recall / n;
    result.metrics[fmt::format("f1@{}", K)] = sum.f1 / n;
    result.metrics[fmt::format("ndcg@{}", K)] = sum.ndcg / n;
    result.metrics[fmt::format("hr@{}", K)] = sum.hit / n;
    result.metrics[fmt::format("mrr@{}", K)] = sum.mrr / n;
    result.metrics[fmt::format("map@{}", K)] = sum.map / n;
  }
  // Beyond-accuracy metrics on the first cut-off.
  const size_t k0 = o.ks.empty() ? 10 : o.ks.front();
  std::vector<std::vector<uint32_t>> cut(lists.size());
  for (size_t x = 0; x < lists.size(); ++x)
    cut[x].assign(lists[x].begin(), lists[x].begin() + std::min(k0, lists[x].size()));
  const uint32_t n_candidates = n_items - static_cast<uint32_t>(non_candidates.size());
  result.metrics[fmt::format("coverage@{}", k0)] =
      item_coverage(cut, n_items) * n_items / std::max<uint32_t>(1, n_candidates);
  std::vector<uint32_t> popularity(n_items, 0);
  for (const auto& e : fit_events) ++popularity[e.item];
  result.metrics[fmt::format("avgpop@{}", k0)] = average_popularity(cut, popularity);
  result.metrics[fmt::format("gini@{}", k0)] = exposure_gini(cut, n_items);

  if (model.predicts_ratings() && ds.explicit_ratings) {
    std::vector<float> pred, actual;
    for (const auto& e : targets) {
      pred.push_back(model.predict(e.user, e.item));
      actual.push_back(e.value);
    }
    result.metrics["mae"] = mae(pred, actual);
    result.metrics["rmse"] = rmse(pred, actual);
  }
  return result;
}

}  // namespace streamrec::eval
