#include "streamrec/serve/candidates.h"

#include <algorithm>
#include <cmath>

namespace streamrec::serve {

// The best `k` items by decayed count (weights above 0, skipping the sorted `exclude`),
// best first, each scored by its weight's log (a float score that keeps the order where
// weights far below the newest would underflow in float). The doubles are compared
// themselves: a log over the whole catalog (100,000 of them) cost ~0.5 ms on each request
// that fell back to popular items.
std::vector<models::ScoredItem> top_weights(const std::vector<double>& weights, size_t k,
                                            std::span<const uint32_t> exclude) {
  using Entry = std::pair<double, uint32_t>;  // weight, item
  // "Better": heavier, then the lower index; the heap keeps the worst of the best k on top.
  const auto better = [](const Entry& a, const Entry& b) {
    return a.first > b.first || (a.first == b.first && a.second < b.second);
  };
  std::vector<Entry> heap;
  heap.reserve(std::min(k, weights.size()) + 1);
  // An item enters when heavier than `floor`: 0 until the heap is full, then its lightest
  // (an equal weight comes later, at a higher index: worse).
  double floor = 0;
  size_t ex = 0;
  const auto n_items = static_cast<uint32_t>(weights.size());
  for (uint32_t i = 0; i < n_items; ++i) {
    if ((i & 7) == 0 && i + 8 <= n_items) {  // most blocks of 8 hold no candidate
      bool any = false;
      for (uint32_t l = 0; l < 8; ++l) any |= weights[i + l] > floor;
      if (!any) {
        i += 7;
        continue;
      }
    }
    if (!(weights[i] > floor)) continue;
    while (ex < exclude.size() && exclude[ex] < i) ++ex;
    if (ex < exclude.size() && exclude[ex] == i) continue;
    heap.emplace_back(weights[i], i);
    std::push_heap(heap.begin(), heap.end(), better);
    if (heap.size() > k) {
      std::pop_heap(heap.begin(), heap.end(), better);
      heap.pop_back();
    }
    if (heap.size() == k) floor = heap.front().first;
  }
  std::sort_heap(heap.begin(), heap.end(), better);
  std::vector<models::ScoredItem> out;
  out.reserve(heap.size());
  for (const auto& [w, i] : heap) out.push_back({i, static_cast<float>(std::log(w))});
  return out;
}

// The best `n` candidates that `ok` accepts, from top(k) (the best k, best first): asks for
// more until enough pass or none are left.
std::vector<models::ScoredItem> pick_from(
    const std::function<std::vector<models::ScoredItem>(size_t)>& top, size_t n, const ItemOk& ok) {
  std::vector<models::ScoredItem> out;
  for (size_t k = std::max<size_t>(n * 2, 16);; k *= 4) {
    const auto best = top(k);
    out.clear();
    for (const auto& s : best)
      if (ok(s.item)) {
        out.push_back(s);
        if (out.size() == n) return out;
      }
    if (best.size() < k) return out;
  }
}

// By `scores` (skipping the sorted `exclude`).
std::vector<models::ScoredItem> pick(std::span<const float> scores, size_t n,
                                     std::span<const uint32_t> exclude, const ItemOk& ok) {
  return pick_from([&](size_t k) { return models::top_k(scores, k, exclude); }, n, ok);
}

// By decayed counts (top_weights).
std::vector<models::ScoredItem> pick_weights(const std::vector<double>& weights, size_t n,
                                             std::span<const uint32_t> exclude, const ItemOk& ok) {
  return pick_from([&](size_t k) { return top_weights(weights, k, exclude); }, n, ok);
}

}  // namespace streamrec::serve
