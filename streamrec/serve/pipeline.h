// The recommend pipeline (module serve), as stages over one request: candidates (the
// model's best items by ANN or exact scoring, item-CF next to the user's recent items,
// popular items for what those cannot fill), ranking (the fusion ranker, or the context's
// category lift), re-ranking (filters, diversity by MMR), exploration slots for fresh
// items, and explanations. Also the lists that need no model: popular, trending, fresh,
// and items similar to an item.
//
// Thread-safety: pure functions of a ServingView; the caller holds the engine's state lock
// (shared) for the view's users and items while a call runs.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "streamrec/models/ranker.h"
#include "streamrec/models/recommender.h"
#include "streamrec/serve/candidates.h"
#include "streamrec/serve/request.h"
#include "streamrec/store/item_stats.h"
#include "streamrec/store/user_state.h"

namespace streamrec::serve {

struct PipelineOptions {
  size_t rank_pool = 50;        // candidates the fusion ranker orders
  double context_weight = 0.3;  // weight of the context log-lift against rank-scaled relevance
  int64_t fresh_seconds = 3 * 86400;             // items first seen this recently are "fresh"
  double calibrate = 0, max_category_share = 1;  // requests' defaults (RecommendRequest)
};

// What one request reads.
struct ServingView {
  const models::Recommender& model;
  const store::UserState& users;
  const store::ItemStats& items;
  const models::FusionRanker* ranker = nullptr;  // null: no fusion ranking
  // The best `n` model candidates for `user` from the ANN index, or nullopt when the index
  // is not in use (exact scoring then).
  std::function<std::optional<std::vector<models::ScoredItem>>(
      uint32_t user, size_t n, const std::vector<uint32_t>& exclude, const ItemOk& ok)>
      ann;
  // Every item's score for `user` into `scores` (sized model.num_items()).
  std::function<void(uint32_t user, std::span<float> scores)> score_all;
  PipelineOptions options;
};

// The answer to `r` (validated by the caller), at `now` (Unix seconds).
std::vector<Recommendation> recommend(const ServingView& view, const RecommendRequest& r,
                                      int64_t now);

// The best `n` recommendable items by decayed `counts` that `filter` accepts; `source`
// names the list ("popular", "trending"). Error(kInvalidInput) unless 1 <= n <= 1000.
std::vector<Recommendation> by_counts(const store::UserState& users, const store::ItemStats& items,
                                      const store::DecayedCounts& counts, size_t n,
                                      const ItemFilter& filter, const char* source, int64_t now);

// Up to `n` of the 100 newest recommendable items first seen within fresh_seconds, in an
// order drawn per user and minute (so fresh items reach different users), skipping `skip`
// (sorted).
std::vector<Recommendation> fresh_items(const store::UserState& users,
                                        const store::ItemStats& items, int64_t fresh_seconds,
                                        size_t n, std::span<const uint32_t> skip,
                                        const ItemFilter& filter, const std::string& user,
                                        int64_t now);

// The `n` recommendable items most like `item` by cosine of the model's item vectors.
// Error(kInvalidInput) for an unknown item or n outside 1..1000, kUnsupported when the
// model has no item vectors.
std::vector<Recommendation> similar_items(const models::Recommender& model,
                                          const store::UserState& users,
                                          const store::ItemStats& items, const std::string& item,
                                          size_t n, int64_t now);

}  // namespace streamrec::serve
