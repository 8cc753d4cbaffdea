#include "streamrec/eval/evaluator.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <numeric>

#include <fmt/format.h>

#include "streamrec/core/parallel.h"
#include "streamrec/eval/metrics.h"
#include "streamrec/models/calibration.h"
#include "streamrec/models/privacy.h"

namespace streamrec::eval {
namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

const char* kRankMetrics[] = {"precision", "recall", "f1", "ndcg", "hr", "mrr", "map"};

// NDCG@k per activity tercile of the evaluated users (by their number of fit events; ties
// by index): cold, medium, heavy, and the gap between the best and the worst.
void group_metrics(std::span<const uint32_t> users, std::span<const UserMetrics> at_k,
                   std::span<const data::Interaction> fit_events, uint32_t n_users, size_t k,
                   std::map<std::string, double>& out) {
  std::vector<uint32_t> activity(n_users, 0);
  for (const auto& e : fit_events) ++activity[e.user];
  std::vector<size_t> order(users.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return activity[users[a]] < activity[users[b]]; });
  const char* names[] = {"cold", "medium", "heavy"};
  GroupGap gap;
  for (size_t g = 0; g < 3; ++g) {
    const size_t b = order.size() * g / 3, e = order.size() * (g + 1) / 3;
    double sum = 0;
    for (size_t x = b; x < e; ++x) sum += at_k[order[x]].ndcg;
    const double mean = e > b ? sum / (e - b) : 0;
    out[fmt::format("ndcg@{}_{}", k, names[g])] = mean;
    gap.add(mean);
  }
  out[fmt::format("ndcg@{}_gap", k)] = gap.gap();
}

// NDCG@k per value of each user attribute the data has (users.csv: categorical fields with at
// most 20 values among the evaluated users; numeric `age` in bands <25, 25-34, 35-44, 45+):
// `ndcg@k_<field>=<value>` and the gap between the best and worst group,
// `ndcg@k_<field>_gap`. Users without the attribute are in no group of it.
void attribute_metrics(const data::Dataset& ds, std::span<const uint32_t> users,
                       std::span<const UserMetrics> at_k, size_t k,
                       std::map<std::string, double>& out) {
  std::map<std::string, std::map<std::string, std::pair<double, size_t>>> groups;
  for (size_t x = 0; x < users.size(); ++x) {
    if (users[x] >= ds.user_attrs.size()) continue;
    const auto& a = ds.user_attrs[users[x]];
    auto add = [&](const std::string& field, const std::string& value) {
      auto& g = groups[field][value];
      g.first += at_k[x].ndcg;
      ++g.second;
    };
    for (const auto& [field, value] : a.fields) add(field, value);
    if (const auto age = a.numeric.find("age"); age != a.numeric.end()) {
      const double v = age->second;
      add("age", v < 25 ? "<25" : v < 35 ? "25-34" : v < 45 ? "35-44" : "45+");
    }
  }
  constexpr size_t kMaxValues = 20;  // beyond that (ids, zip codes) groups say little
  for (const auto& [field, values] : groups) {
    if (values.size() < 2 || values.size() > kMaxValues) continue;
    GroupGap gap;
    for (const auto& [value, g] : values) {
      const double mean = g.first / static_cast<double>(g.second);
      out[fmt::format("ndcg@{}_{}={}", k, field, value)] = mean;
      gap.add(mean);
    }
    out[fmt::format("ndcg@{}_{}_gap", k, field)] = gap.gap();
  }
}

// The long tail's share of the lists (outside the most popular fifth of the items with
// events) and, with item categories, the mean miscalibration of a list against the user's
// history (Steck 2018).
void exposure_metrics(const data::Dataset& ds, std::span<const uint32_t> users,
                      const std::vector<std::vector<uint32_t>>& cut,
                      std::span<const uint32_t> popularity, const models::TrainData& train,
                      size_t k, std::map<std::string, double>& out) {
  std::vector<uint32_t> by_pop;
  for (uint32_t i = 0; i < popularity.size(); ++i)
    if (popularity[i] > 0) by_pop.push_back(i);
  std::stable_sort(by_pop.begin(), by_pop.end(),
                   [&](uint32_t a, uint32_t b) { return popularity[a] > popularity[b]; });
  std::vector<char> head(popularity.size(), 0);
  for (size_t r = 0; r < by_pop.size() / 5; ++r) head[by_pop[r]] = 1;
  out[fmt::format("longtail@{}", k)] = long_tail_share(cut, head);
  if (ds.item_attrs.size() < popularity.size()) return;
  std::map<std::string, size_t> index;
  for (const auto& a : ds.item_attrs)
    for (const auto& c : a.categories) index.emplace(c, index.size());
  if (index.empty()) return;
  auto mix = [&](auto&& items) {
    std::vector<double> m(index.size(), 0.0);
    double total = 0;
    for (const uint32_t i : items) {
      const auto& cats = ds.item_attrs[i].categories;
      for (const auto& c : cats) m[index.at(c)] += 1.0 / cats.size();
      total += cats.empty() ? 0 : 1;
    }
    if (total > 0)
      for (auto& v : m) v /= total;
    return std::make_pair(m, total);
  };
  double sum = 0;
  size_t n = 0;
  for (size_t x = 0; x < users.size(); ++x) {
    const auto [p, hp] = mix(train.items_of(users[x]));
    const auto [q, hq] = mix(cut[x]);
    if (hp == 0 || hq == 0) continue;
    sum += models::calibration_kl(p, q);
    ++n;
  }
  if (n > 0) out[fmt::format("calibration_kl@{}", k)] = sum / n;
}

// Item categories as indices (empty when the data has none), for the re-ranking.
std::vector<std::vector<uint32_t>> item_categories(const data::Dataset& ds, size_t& count) {
  std::vector<std::vector<uint32_t>> out(ds.item_attrs.size() >= ds.num_items() ? ds.num_items()
                                                                                : 0);
  std::map<std::string, uint32_t> index;
  for (size_t i = 0; i < out.size(); ++i)
    for (const auto& c : ds.item_attrs[i].categories)
      out[i].push_back(index.emplace(c, static_cast<uint32_t>(index.size())).first->second);
  count = index.size();
  return out;
}

// The top `k` of `top` (the model's best, best first) after the fairness re-ranking.
std::vector<uint32_t> fair_list(const std::vector<models::ScoredItem>& top,
                                std::span<const uint32_t> history, size_t k, const EvalOptions& o,
                                const std::vector<std::vector<uint32_t>>& item_cats,
                                size_t n_cats) {
  std::vector<float> relevance;
  std::vector<std::vector<uint32_t>> cats, history_cats;
  for (const auto& s : top) {
    relevance.push_back(s.score);
    cats.push_back(item_cats[s.item]);
  }
  for (const uint32_t i : history) history_cats.push_back(item_cats[i]);
  const auto target = models::category_mix(history_cats, n_cats);
  std::vector<size_t> order(top.size());
  std::iota(order.begin(), order.end(), size_t{0});
  if (o.calibrate > 0)
    order = models::calibrated_order(relevance, cats, target,
                                     o.max_category_share < 1 ? top.size() : k, o.calibrate);
  std::vector<uint32_t> list;
  for (const size_t x : models::cap_category_share(order, cats, k, o.max_category_share))
    list.push_back(top[x].item);
  return list;
}

// Each user's relevant items: their targets without what they have in the fit data, sorted;
// `users` gets the users with at least one.
std::vector<std::vector<uint32_t>> relevant_items(std::span<const data::Interaction> targets,
                                                  const models::TrainData& train,
                                                  std::vector<uint32_t>& users) {
  std::vector<std::vector<uint32_t>> relevant(train.num_users());
  for (const auto& e : targets) relevant[e.user].push_back(e.item);
  for (uint32_t u = 0; u < train.num_users(); ++u) {
    auto& r = relevant[u];
    std::sort(r.begin(), r.end());
    r.erase(std::unique(r.begin(), r.end()), r.end());
    const auto seen = train.items_of(u);
    std::erase_if(r, [&](uint32_t i) { return std::binary_search(seen.begin(), seen.end(), i); });
    if (!r.empty()) users.push_back(u);
  }
  return relevant;
}

// The means over users of the ranking metrics at cut-off K.
void mean_metrics(std::span<const UserMetrics> per_user, size_t K,
                  std::map<std::string, double>& out) {
  UserMetrics sum;
  for (const auto& m : per_user) {
    sum.precision += m.precision;
    sum.recall += m.recall;
    sum.f1 += m.f1;
    sum.ndcg += m.ndcg;
    sum.hit += m.hit;
    sum.mrr += m.mrr;
    sum.map += m.map;
  }
  const double n = std::max<size_t>(1, per_user.size());
  out[fmt::format("precision@{}", K)] = sum.precision / n;
  out[fmt::format("recall@{}", K)] = sum.recall / n;
  out[fmt::format("f1@{}", K)] = sum.f1 / n;
  out[fmt::format("ndcg@{}", K)] = sum.ndcg / n;
  out[fmt::format("hr@{}", K)] = sum.hit / n;
  out[fmt::format("mrr@{}", K)] = sum.mrr / n;
  out[fmt::format("map@{}", K)] = sum.map / n;
}

// MAE and RMSE of the model's predicted ratings of the targets.
void rating_metrics(const models::Recommender& model, std::span<const data::Interaction> targets,
                    std::map<std::string, double>& out) {
  std::vector<float> pred, actual;
  for (const auto& e : targets) {
    pred.push_back(model.predict(e.user, e.item));
    actual.push_back(e.value);
  }
  out["mae"] = mae(pred, actual);
  out["rmse"] = rmse(pred, actual);
}

}  // namespace

std::vector<std::string> metric_names(const std::vector<size_t>& ks) {
  std::vector<std::string> names;
  for (size_t k : ks)
    for (const char* m : kRankMetrics) names.push_back(fmt::format("{}@{}", m, k));
  const size_t k = ks.empty() ? 10 : ks.front();
  names.push_back(fmt::format("coverage@{}", k));
  names.push_back(fmt::format("avgpop@{}", k));
  names.push_back(fmt::format("gini@{}", k));
  names.push_back(fmt::format("longtail@{}", k));
  names.push_back(fmt::format("calibration_kl@{}", k));
  for (const char* g : {"cold", "medium", "heavy", "gap"})
    names.push_back(fmt::format("ndcg@{}_{}", k, g));
  return names;
}

models::TrainData fit_data(const data::Dataset& ds, const Split& split, const EvalOptions& o) {
  return models::TrainData(ds.num_users(), ds.num_items(),
                           o.on_validation ? split.train : split.fit_for_test(), &ds);
}

EvalResult evaluate(models::Recommender& model, const data::Dataset& ds, const Split& split,
                    const EvalOptions& o, bool fit, const models::ProgressFn& progress) {
  EvalResult result;
  result.model = model.name();
  result.params = model.params().summary();
  const uint32_t n_users = ds.num_users(), n_items = ds.num_items();

  const auto& targets = o.on_validation ? split.validation : split.test;
  const models::TrainData train = fit_data(ds, split, o);
  const auto t0 = std::chrono::steady_clock::now();
  if (fit) model.fit(train);
  result.fit_seconds = seconds_since(t0);
  if (const auto* p = model.privacy()) result.metrics["dp_epsilon"] = p->epsilon;

  // Non-candidates: items without any event.
  std::vector<char> candidate(n_items, 0);
  for (const auto& e : ds.events) candidate[e.item] = 1;
  std::vector<uint32_t> non_candidates;
  for (uint32_t i = 0; i < n_items; ++i)
    if (!candidate[i]) non_candidates.push_back(i);
  std::vector<uint32_t> users;
  const auto relevant = relevant_items(targets, train, users);

  const size_t max_k = o.ks.empty() ? 10 : *std::max_element(o.ks.begin(), o.ks.end());
  size_t n_cats = 0;
  const auto item_cats = item_categories(ds, n_cats);
  const bool rerank = n_cats > 0 && (o.calibrate > 0 || o.max_category_share < 1);
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
          const auto top = models::top_k(scores, rerank ? 5 * max_k : max_k, exclude);
          auto& list = lists[x];
          if (rerank)
            list = fair_list(top, seen, max_k, o, item_cats, n_cats);
          else
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

  for (size_t k = 0; k < o.ks.size(); ++k) mean_metrics(per_k[k], o.ks[k], result.metrics);
  // Beyond-accuracy metrics on the first cut-off.
  const size_t k0 = o.ks.empty() ? 10 : o.ks.front();
  std::vector<std::vector<uint32_t>> cut(lists.size());
  for (size_t x = 0; x < lists.size(); ++x)
    cut[x].assign(lists[x].begin(), lists[x].begin() + std::min(k0, lists[x].size()));
  const uint32_t n_candidates = n_items - static_cast<uint32_t>(non_candidates.size());
  result.metrics[fmt::format("coverage@{}", k0)] =
      item_coverage(cut, n_items) * n_items / std::max<uint32_t>(1, n_candidates);
  std::vector<uint32_t> popularity(n_items, 0);
  for (const auto& e : train.events()) ++popularity[e.item];
  result.metrics[fmt::format("avgpop@{}", k0)] = average_popularity(cut, popularity);
  result.metrics[fmt::format("gini@{}", k0)] = exposure_gini(cut, n_items);
  exposure_metrics(ds, users, cut, popularity, train, k0, result.metrics);
  if (!o.ks.empty()) {
    group_metrics(users, per_k[0], train.events(), n_users, k0, result.metrics);
    attribute_metrics(ds, users, per_k[0], k0, result.metrics);
  }

  if (model.predicts_ratings() && ds.explicit_ratings)
    rating_metrics(model, targets, result.metrics);
  return result;
}

}  // namespace streamrec::eval
