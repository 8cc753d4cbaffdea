// Picking the best candidates (module serve): the best k items by score or by decayed count,
// best first, skipping a sorted exclusion list, with more asked for until enough pass a
// filter. Pure functions; no locks.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "streamrec/models/recommender.h"

namespace streamrec::serve {

// The accepted items: not excluded by filters, catalog state or the request.
using ItemOk = std::function<bool(uint32_t)>;

// The best `k` items by `weights` (above 0, skipping the sorted `exclude`), best first,
// each scored by its weight's log.
std::vector<models::ScoredItem> top_weights(const std::vector<double>& weights, size_t k,
                                            std::span<const uint32_t> exclude);
// The best `n` candidates that `ok` accepts, from top(k) (the best k, best first): asks for
// more until enough pass or none are left.
std::vector<models::ScoredItem> pick_from(
    const std::function<std::vector<models::ScoredItem>(size_t)>& top, size_t n, const ItemOk& ok);
// By `scores` (skipping the sorted `exclude`).
std::vector<models::ScoredItem> pick(std::span<const float> scores, size_t n,
                                     std::span<const uint32_t> exclude, const ItemOk& ok);
// By decayed counts (top_weights).
std::vector<models::ScoredItem> pick_weights(const std::vector<double>& weights, size_t n,
                                             std::span<const uint32_t> exclude, const ItemOk& ok);

}  // namespace streamrec::serve
