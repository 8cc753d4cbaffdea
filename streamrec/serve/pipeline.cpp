#include "streamrec/serve/pipeline.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <unordered_map>

#include "streamrec/core/error.h"
#include "streamrec/core/simd.h"
#include "streamrec/models/calibration.h"
#include "streamrec/serve/ranker_features.h"
#include "streamrec/serve/rerank.h"

namespace streamrec::serve {
namespace {

enum class Source { kModel, kItemCf, kPopular };
constexpr const char* kSourceName[] = {"model", "itemcf", "popular"};

struct Candidate {
  uint32_t item;
  float score;
  Source source;
};

// One request on its way through the stages. Candidates are item indices (ids and
// explanation parts are built for the answer only), each with a relevance: 1 - rank / pool
// size for the model's (so sources combine by rank), popular fill below every model
// candidate.
struct Pass {
  Pass(const ServingView& view, const RecommendRequest& request, int64_t at)
      : v(view), r(request), now(at) {}
  const ServingView& v;
  const RecommendRequest& r;
  int64_t now;
  uint32_t user = IdMap::kMissing;
  std::vector<uint32_t> exclude;  // sorted
  ItemOk ok;
  size_t n_explore = 0, n_main = 0, n_pool = 0;
  std::vector<Candidate> pool;
  std::vector<float> relevance;
  std::vector<float> scores;     // every item's model score (exact path only)
  std::vector<uint32_t> recent;  // the user's last 50 items (with a ranker)
  // The excluded items and the pool so far, sorted: what a further source must skip.
  std::vector<uint32_t> skip_pool() const {
    std::vector<uint32_t> skip = exclude;
    for (const auto& c : pool) skip.push_back(c.item);
    std::sort(skip.begin(), skip.end());
    return skip;
  }
};

void start(Pass& p) {
  const auto& items = p.v.items;
  const auto& ids = p.v.users.items();
  for (const auto& id : p.r.exclude)
    if (uint32_t i = ids.find(id); i != IdMap::kMissing) p.exclude.push_back(i);
  p.user = p.v.users.users().find(p.r.user);
  if (p.user != IdMap::kMissing && p.r.exclude_seen) {
    const auto& seen = p.v.users.seen(p.user);
    p.exclude.insert(p.exclude.end(), seen.begin(), seen.end());
  }
  std::sort(p.exclude.begin(), p.exclude.end());
  p.exclude.erase(std::unique(p.exclude.begin(), p.exclude.end()), p.exclude.end());
  const size_t n_ids = ids.size();
  const int64_t now = p.now;
  const ItemFilter& filter = p.r.filter;
  p.ok = [&items, &filter, n_ids, now](uint32_t i) {
    return i < n_ids && items.recommendable(i, now) && filter.accepts(items.record(i));
  };
  const auto& r = p.r;
  p.n_explore = r.explore > 0 ? std::clamp<size_t>(std::lround(r.n * r.explore), 1, r.n) : 0;
  p.n_main = r.n - p.n_explore;
  const bool rerank = r.diversity > 0 || !r.context.empty() || p.v.ranker ||
                      r.calibrate.value_or(p.v.options.calibrate) > 0 ||
                      r.max_category_share.value_or(p.v.options.max_category_share) < 1;
  p.n_pool = rerank ? std::min<size_t>(
                          std::max(p.n_main * 5, p.v.ranker ? p.v.options.rank_pool : 0), 1000)
                    : p.n_main;
}

// The model's candidates: from the ANN index, else by scoring every item.
void model_candidates(Pass& p) {
  if (p.user == IdMap::kMissing || p.n_pool == 0) return;
  if (!p.r.exact && p.v.ann)
    if (auto found = p.v.ann(p.user, p.n_pool, p.exclude, p.ok))
      for (const auto& s : *found) p.pool.push_back({s.item, s.score, Source::kModel});
  if (!p.pool.empty() || p.v.model.num_items() == 0) return;
  p.scores.assign(p.v.model.num_items(), 0.0f);
  p.v.score_all(p.user, p.scores);
  // A user the (published) model does not know yet scores every item the same. (Stops at
  // the first score that differs: a min/max over every item was ~7% of a request.)
  if (std::adjacent_find(p.scores.begin(), p.scores.end(), std::not_equal_to<>()) != p.scores.end())
    for (const auto& s : pick(p.scores, p.n_pool, p.exclude, p.ok))
      p.pool.push_back({s.item, s.score, Source::kModel});
}

// Item-CF candidates (next to the user's recent items in other users' streams) join the
// model's for the ranker to order; popular items fill what is left of the pool.
void more_candidates(Pass& p) {
  for (size_t x = 0; x < p.pool.size(); ++x) p.relevance.push_back(1.0f - float(x) / p.n_pool);
  if (p.v.ranker && p.user != IdMap::kMissing) p.recent = p.v.users.last_items(p.user, 50);
  if (p.v.ranker && !p.pool.empty()) {
    const auto skip = p.skip_pool();
    for (const auto& [c, w] :
         p.v.items.itemcf_candidates(p.recent, p.v.options.rank_pool / 2, skip, p.ok)) {
      p.pool.push_back({c, c < p.scores.size() ? p.scores[c] : 0.0f, Source::kItemCf});
      p.relevance.push_back(0.0f);
    }
  }
  if (p.pool.size() >= p.n_pool) return;
  const size_t want = p.n_pool - p.pool.size();
  const auto& weights = p.v.items.popular().weights();
  const auto top = pick_weights(weights, want, p.skip_pool(), p.ok);
  const float base = p.pool.empty() ? 1.0f : 0.0f;
  for (size_t x = 0; x < top.size(); ++x) {
    p.pool.push_back({top[x].item, static_cast<float>(weights[top[x].item]), Source::kPopular});
    p.relevance.push_back(base - float(x) / want);
  }
}

// The fusion ranker orders the model's and item-CF's candidates (popular fill stays below
// them); without it, the context's log-lift of the item's categories is added to the rank
// relevance. Returns the name of the adjustment ("fusion", "context" or null) and its
// value per candidate (NaN where it has none).
const char* rank(Pass& p, std::vector<float>& adjusted) {
  adjusted.assign(p.pool.size(), std::numeric_limits<float>::quiet_NaN());
  size_t ranked = 0;  // a prefix of the pool
  while (ranked < p.pool.size() && p.pool[ranked].source != Source::kPopular) ++ranked;
  if (p.v.ranker && ranked > 0) {
    std::vector<uint32_t> items;
    std::vector<float> base;
    std::vector<char> from_model;
    for (size_t x = 0; x < ranked; ++x) {
      items.push_back(p.pool[x].item);
      base.push_back(p.pool[x].score);
      from_model.push_back(p.pool[x].source == Source::kModel);
    }
    const auto logits = p.v.ranker->score(
        ranker_features(p.v.model, p.v.items, items, base, from_model, p.recent, p.r.context));
    const float low = *std::min_element(logits.begin(), logits.end());
    for (size_t x = 0; x < p.pool.size(); ++x) {
      if (x < ranked) {
        p.relevance[x] = adjusted[x] = logits[x];
      } else {
        p.relevance[x] += low - 2.0f;
      }
    }
    return "fusion";
  }
  if (p.r.context.empty()) return nullptr;
  for (size_t x = 0; x < p.pool.size(); ++x)
    if (const auto* rec = p.v.items.record(p.pool[x].item)) {
      const auto lift = static_cast<float>(
          p.v.options.context_weight *
          std::clamp(p.v.items.context().boost(p.r.context, rec->attrs.categories), -2.0, 2.0));
      p.relevance[x] += lift;
      adjusted[x] = lift;
    }
  return "context";
}

// Shared categories of two items (Jaccard), the similarity without item vectors.
float category_overlap(const store::ItemRecord* a, const store::ItemRecord* b) {
  if (!a || !b) return 0.0f;
  size_t common = 0;
  for (const auto& c : a->attrs.categories)
    common += std::count(b->attrs.categories.begin(), b->attrs.categories.end(), c);
  const size_t all = a->attrs.categories.size() + b->attrs.categories.size() - common;
  return all > 0 ? float(common) / all : 0.0f;
}

// Positions in the pool of the best `n`: by relevance, or by MMR with the request's
// diversity (cosine of the model's item vectors, else shared categories).
std::vector<size_t> relevance_order(const Pass& p, size_t n) {
  std::vector<size_t> order;
  if (p.r.diversity > 0) {
    size_t dim = 0;
    const auto vectors = p.v.model.item_vectors(dim);
    const size_t rows = dim > 0 ? vectors.size() / dim : 0;
    return mmr_order(p.relevance, n, p.r.diversity, [&](size_t a, size_t b) {
      const uint32_t i = p.pool[a].item, j = p.pool[b].item;
      if (i < rows && j < rows) return cosine(&vectors[i * dim], &vectors[j * dim], dim);
      return category_overlap(p.v.items.record(i), p.v.items.record(j));
    });
  }
  order.resize(p.pool.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return p.relevance[a] > p.relevance[b]; });
  if (order.size() > n) order.resize(n);
  return order;
}

// Calibration and the category cap: the pool's categories and the user's history mix,
// then Steck's greedy order (calibrate > 0) or the relevance order, capped by category.
std::vector<size_t> fair_order(const Pass& p, double lambda, double share) {
  std::unordered_map<std::string, uint32_t> index;
  auto cats_of = [&](uint32_t item) {
    std::vector<uint32_t> out;
    if (const auto* rec = p.v.items.record(item))
      for (const auto& c : rec->attrs.categories)
        out.push_back(index.emplace(c, static_cast<uint32_t>(index.size())).first->second);
    return out;
  };
  std::vector<std::vector<uint32_t>> pool_cats, history_cats;
  for (const auto& c : p.pool) pool_cats.push_back(cats_of(c.item));
  if (p.user != IdMap::kMissing)
    for (const auto& e : p.v.users.history(p.user))
      history_cats.push_back(cats_of(p.v.users.items().find(e.item)));
  const auto target = models::category_mix(history_cats, index.size());
  // With a cap, the whole pool in order, for the cap to walk past what it skips.
  const size_t n = share < 1 ? p.pool.size() : p.n_main;
  const auto ordered = lambda > 0
                           ? models::calibrated_order(p.relevance, pool_cats, target, n, lambda)
                           : relevance_order(p, n);
  return models::cap_category_share(ordered, pool_cats, p.n_main, share);
}

// Positions in the pool of the n_main items to return, calibrated and capped by category
// when the request (or the server's default) asks.
std::vector<size_t> order(const Pass& p) {
  const double lambda = p.r.calibrate.value_or(p.v.options.calibrate);
  const double share = p.r.max_category_share.value_or(p.v.options.max_category_share);
  if (lambda > 0 || share < 1) return fair_order(p, lambda, share);
  return relevance_order(p, p.n_main);
}

// Fresh items in evenly spread exploration slots; they also fill what the other sources
// could not.
void add_fresh(const Pass& p, std::vector<Recommendation>& out,
               const std::vector<uint32_t>& out_items) {
  std::vector<uint32_t> skip = p.exclude;
  skip.insert(skip.end(), out_items.begin(), out_items.end());
  std::sort(skip.begin(), skip.end());
  const auto fresh = fresh_items(p.v.users, p.v.items, p.v.options.fresh_seconds,
                                 p.r.n - out.size(), skip, p.r.filter, p.r.user, p.now);
  const size_t slots = std::min(fresh.size(), p.n_explore);
  for (size_t k = 0; k < fresh.size(); ++k) {
    const size_t at = k < slots ? std::min(out.size(), (k + 1) * p.r.n / (slots + 1)) : out.size();
    out.insert(out.begin() + at, fresh[k]);
  }
}

// Each recommended item's three most similar items among the user's last 50, and for the
// model's items the encoder's attention over the history (models that have one).
void explain(const Pass& p, std::vector<Recommendation>& out) {
  if (p.user != IdMap::kMissing) {
    std::vector<std::pair<std::string, float>> attention;
    for (const auto& [i, w] : p.v.model.attention(p.user))
      attention.emplace_back(p.v.users.items().id(i), w);
    for (auto& rec : out)
      if (rec.source == "model") rec.attention = attention;
  }
  size_t dim = 0;
  const auto vectors = p.v.model.item_vectors(dim);
  const size_t rows = dim > 0 ? vectors.size() / dim : 0;
  if (rows == 0 || p.user == IdMap::kMissing) return;
  const auto last = p.recent.empty() ? p.v.users.last_items(p.user, 50) : p.recent;
  const auto& ids = p.v.users.items();
  for (auto& rec : out) {
    const uint32_t i = ids.find(rec.item);
    if (i >= rows) continue;
    std::vector<std::pair<float, uint32_t>> near;
    for (const uint32_t j : last)
      if (j < rows && j != i &&
          std::none_of(near.begin(), near.end(), [&](const auto& x) { return x.second == j; }))
        near.emplace_back(cosine(&vectors[i * dim], &vectors[j * dim], dim), j);
    std::stable_sort(near.begin(), near.end(),
                     [](const auto& a, const auto& b) { return a.first > b.first; });
    for (size_t k = 0; k < near.size() && k < 3; ++k) rec.because.push_back(ids.id(near[k].second));
  }
}

}  // namespace

std::vector<Recommendation> recommend(const ServingView& view, const RecommendRequest& r,
                                      int64_t now) {
  Pass p(view, r, now);
  start(p);
  model_candidates(p);
  more_candidates(p);
  const std::vector<float> rank_relevance = p.relevance;  // the "rank" part of explanations
  std::vector<float> adjusted;
  const char* adjustment = rank(p, adjusted);
  std::vector<Recommendation> out;
  std::vector<uint32_t> out_items;
  for (size_t x : order(p)) {
    const auto& c = p.pool[x];
    Recommendation rec{view.users.items().id(c.item),
                       c.score,
                       kSourceName[static_cast<int>(c.source)],
                       {},
                       {},
                       {}};
    rec.parts = {{c.source == Source::kPopular ? "popularity" : "model", c.score},
                 {"rank", rank_relevance[x]}};
    if (!std::isnan(adjusted[x])) rec.parts.emplace_back(adjustment, adjusted[x]);
    out.push_back(std::move(rec));
    out_items.push_back(c.item);
  }
  if (p.n_explore > 0 || out.size() < r.n) add_fresh(p, out, out_items);
  if (r.explain) explain(p, out);
  return out;
}

std::vector<Recommendation> by_counts(const store::UserState& users, const store::ItemStats& items,
                                      const store::DecayedCounts& counts, size_t n,
                                      const ItemFilter& filter, const char* source, int64_t now) {
  SR_INPUT_CHECK(n > 0 && n <= 1000, "parameter 'n' must be 1 to 1000, got {}", n);
  std::vector<Recommendation> out;
  for (const auto& s : pick_weights(counts.weights(), n, {}, [&](uint32_t i) {
         return items.recommendable(i, now) && filter.accepts(items.record(i));
       }))
    out.push_back({users.items().id(s.item),
                   static_cast<float>(counts.weights()[s.item]),
                   source,
                   {},
                   {},
                   {}});
  return out;
}

std::vector<Recommendation> fresh_items(const store::UserState& users,
                                        const store::ItemStats& items, int64_t fresh_seconds,
                                        size_t n, std::span<const uint32_t> skip,
                                        const ItemFilter& filter, const std::string& user,
                                        int64_t now) {
  std::vector<std::pair<int64_t, uint32_t>> fresh;
  const int64_t since = items.latest_time() - fresh_seconds;
  for (uint32_t i = 0; i < items.size(); ++i)
    if (items.first_seen(i) > 0 && items.first_seen(i) >= since &&
        !std::binary_search(skip.begin(), skip.end(), i) && items.recommendable(i, now) &&
        filter.accepts(items.record(i)))
      fresh.emplace_back(items.first_seen(i), i);
  const size_t keep = std::min<size_t>(fresh.size(), 100);
  std::partial_sort(fresh.begin(), fresh.begin() + keep, fresh.end(),
                    [](const auto& a, const auto& b) { return a.first > b.first; });
  fresh.resize(keep);
  std::mt19937_64 rng(std::hash<std::string>{}(user) ^ static_cast<uint64_t>(now / 60));
  std::shuffle(fresh.begin(), fresh.end(), rng);
  std::vector<Recommendation> out;
  for (size_t x = 0; x < fresh.size() && x < n; ++x)
    out.push_back({users.items().id(fresh[x].second), 0.0f, "fresh", {}, {}, {}});
  return out;
}

std::vector<Recommendation> similar_items(const models::Recommender& model,
                                          const store::UserState& users,
                                          const store::ItemStats& items, const std::string& item,
                                          size_t n, int64_t now) {
  SR_INPUT_CHECK(n > 0 && n <= 1000, "parameter 'n' must be 1 to 1000, got {}", n);
  const uint32_t i = users.items().find(item);
  SR_INPUT_CHECK(i != IdMap::kMissing, "unknown item '{}'", item);
  size_t dim = 0;
  const auto vectors = model.item_vectors(dim);
  SR_CHECK(dim > 0, ErrorKind::kUnsupported, "model {} has no item vectors", model.name());
  const size_t rows = vectors.size() / dim;
  SR_INPUT_CHECK(i < rows, "item '{}' is not in the published model yet", item);
  std::vector<float> scores(rows);
  for (size_t j = 0; j < rows; ++j) scores[j] = cosine(&vectors[i * dim], &vectors[j * dim], dim);
  const uint32_t self[] = {i};
  std::vector<Recommendation> out;
  for (const auto& s : pick(scores, n, self, [&](uint32_t j) {
         return j < users.items().size() && items.recommendable(j, now);
       }))
    out.push_back({users.items().id(s.item), s.score, "similar", {}, {}, {}});
  return out;
}

}  // namespace streamrec::serve
