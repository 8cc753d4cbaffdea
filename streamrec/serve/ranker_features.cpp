#include "streamrec/serve/ranker_features.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <unordered_map>

#include "streamrec/core/simd.h"
#include "streamrec/models/ranker.h"

namespace streamrec::serve {
namespace {

// The user's share of each category over their recent items.
std::unordered_map<std::string, double> category_shares(const store::ItemStats& stats,
                                                        std::span<const uint32_t> recent) {
  std::unordered_map<std::string, double> share;
  for (uint32_t j : recent)
    if (const auto* r = stats.record(j))
      for (const auto& c : r->attrs.categories) share[c] += 1.0 / recent.size();
  return share;
}

// The features of one item that do not depend on its place in the list.
void item_features(const store::ItemStats& stats, uint32_t i, models::RankerFeatures& f) {
  const auto& popular = stats.popular().weights();
  const auto& trending = stats.trending().weights();
  f.popularity = i < popular.size() ? std::log1p(popular[i]) : 0.0f;
  f.trend = i < trending.size() ? std::log1p(trending[i]) : 0.0f;
  if (i < stats.size() && stats.first_seen(i) > 0)
    f.age = std::log1p(std::max<int64_t>(0, stats.latest_time() - stats.first_seen(i)) / 3600.0);
  f.events = i < stats.size() ? std::log1p(stats.events(i)) : 0.0f;
}

}  // namespace

std::vector<float> ranker_features(const models::Recommender& model, const store::ItemStats& stats,
                                   std::span<const uint32_t> items, std::span<const float> scores,
                                   std::span<const char> from_model,
                                   std::span<const uint32_t> recent, const data::Context& context) {
  constexpr int64_t F = models::RankerFeatures::kCount;
  const size_t n = items.size();
  std::vector<float> out(n * F, 0.0f);
  double mean = 0, var = 0;
  for (float s : scores) mean += s;
  mean /= std::max<size_t>(1, n);
  for (float s : scores) var += (s - mean) * (s - mean);
  const double sd = std::sqrt(var / std::max<size_t>(1, n)) + 1e-6;
  size_t dim = 0;
  const auto vectors = model.item_vectors(dim);
  const size_t rows = dim > 0 ? vectors.size() / dim : 0;
  const auto share = category_shares(stats, recent);
  for (size_t k = 0; k < n; ++k) {
    const uint32_t i = items[k];
    models::RankerFeatures f;
    f.rank = 1.0f - float(k) / n;
    f.score = static_cast<float>((scores[k] - mean) / sd);
    item_features(stats, i, f);
    if (const auto* rec = stats.record(i)) {
      if (!context.empty())
        f.context_lift = static_cast<float>(
            std::clamp(stats.context().boost(context, rec->attrs.categories), -2.0, 2.0));
      for (const auto& c : rec->attrs.categories)
        if (const auto it = share.find(c); it != share.end())
          f.category_share = std::max(f.category_share, static_cast<float>(it->second));
    }
    if (i < rows)  // similarity to the last five items (item-to-item, the CF signal)
      for (size_t r = recent.size() > 5 ? recent.size() - 5 : 0; r < recent.size(); ++r)
        if (recent[r] < rows && recent[r] != i)
          f.similarity =
              std::max(f.similarity, cosine(&vectors[i * dim], &vectors[recent[r] * dim], dim));
    f.from_model = from_model[k] ? 1.0f : 0.0f;
    f.itemcf = std::log1p(stats.itemcf_weight(i, recent));
    f.write(&out[k * F]);
  }
  return out;
}

}  // namespace streamrec::serve
