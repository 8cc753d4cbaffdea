// The fusion ranker's input (module serve): one row of models::RankerFeatures per
// candidate, from the retrieval model's order and scores, the item statistics, the user's
// recent items and the request's context. Serving scores these rows; the online learner
// trains on the same rows, so both read one definition.
// Thread-safety: reads only; the caller holds the engine's state lock (shared).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "streamrec/data/context.h"
#include "streamrec/models/recommender.h"
#include "streamrec/store/item_stats.h"

namespace streamrec::serve {

// Rows (items.size() x RankerFeatures::kCount) for candidates `items` (best first by the
// retrieval model, `scores` its scores, `from_model` 0 for item-CF candidates).
std::vector<float> ranker_features(const models::Recommender& model, const store::ItemStats& stats,
                                   std::span<const uint32_t> items, std::span<const float> scores,
                                   std::span<const char> from_model,
                                   std::span<const uint32_t> recent, const data::Context& context);

}  // namespace streamrec::serve
