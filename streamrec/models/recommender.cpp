#include "streamrec/models/recommender.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <numeric>
#include <queue>

#include "streamrec/core/error.h"

namespace streamrec::models {

double Recommender::online_loss() const { return std::numeric_limits<double>::quiet_NaN(); }

TrainData::TrainData(uint32_t num_users, uint32_t num_items, std::vector<data::Interaction> events,
                     const data::Dataset* catalog)
    : num_users_(num_users), num_items_(num_items), events_(std::move(events)), catalog_(catalog) {
  std::vector<uint64_t> count(num_users_ + 1, 0);
  for (const auto& e : events_) {
    SR_ASSERT(e.user < num_users_ && e.item < num_items_);
    ++count[e.user + 1];
  }
  std::partial_sum(count.begin(), count.end(), count.begin());
  std::vector<std::pair<uint32_t, float>> pairs(events_.size());
  std::vector<uint64_t> fill(count.begin(), count.end() - 1);
  for (const auto& e : events_) pairs[fill[e.user]++] = {e.item, e.value};
  ptr_.assign(num_users_ + 1, 0);
  item_degree_.assign(num_items_, 0);
  for (uint32_t u = 0; u < num_users_; ++u) {
    auto b = pairs.begin() + count[u], e = pairs.begin() + count[u + 1];
    std::sort(b, e, [](auto& x, auto& y) { return x.first < y.first; });
    for (auto it = b; it != e; ++it) {
      if (!items_.empty() && ptr_[u] < items_.size() && items_.back() == it->first) {
        values_.back() += it->second;
      } else {
        items_.push_back(it->first);
        values_.push_back(it->second);
        ++item_degree_[it->first];
      }
    }
    ptr_[u + 1] = items_.size();
  }
}

std::span<const uint32_t> TrainData::items_of(uint32_t user) const {
  if (user >= num_users_) return {};
  return {items_.data() + ptr_[user], items_.data() + ptr_[user + 1]};
}

std::span<const float> TrainData::values_of(uint32_t user) const {
  if (user >= num_users_) return {};
  return {values_.data() + ptr_[user], values_.data() + ptr_[user + 1]};
}

void Recommender::observe(const data::Interaction&) {
  throw_error(ErrorKind::kUnsupported, name() + " does not learn online; refit it instead");
}

float Recommender::predict(uint32_t, uint32_t) const {
  throw_error(ErrorKind::kUnsupported, name() + " does not predict ratings");
}

std::vector<std::vector<float>> Recommender::retrieval_queries(
    std::span<const uint32_t> users) const {
  std::vector<std::vector<float>> out(users.size());
  for (size_t k = 0; k < users.size(); ++k)
    if (!retrieval_query(users[k], out[k])) out[k].clear();
  return out;
}

void Recommender::save(BinaryWriter&) const {
  throw_error(ErrorKind::kUnsupported, name() + " cannot be saved");
}

void Recommender::load(BinaryReader&) {
  throw_error(ErrorKind::kUnsupported, name() + " cannot be loaded");
}

void Recommender::apply_deltas(std::span<const std::string>) {
  throw_error(ErrorKind::kUnsupported, name() + " cannot apply deltas");
}

std::vector<ScoredItem> top_k(std::span<const float> scores, size_t k,
                              std::span<const uint32_t> exclude) {
  // Min-heap of the best k: worst on top. "Better" = higher score, then lower index.
  auto better = [](const ScoredItem& a, const ScoredItem& b) {
    return a.score > b.score || (a.score == b.score && a.item < b.item);
  };
  std::priority_queue<ScoredItem, std::vector<ScoredItem>, decltype(better)> heap(better);
  size_t ex = 0;
  const auto n = static_cast<uint32_t>(scores.size());
  using V16 = float __attribute__((vector_size(64)));
  using M16 = int32_t __attribute__((vector_size(64)));
  auto any_of16 = [](M16 m) {
    bool any = false;
    for (int l = 0; l < 16; ++l) any |= m[l] != 0;
    return any;
  };
  // A floor under the k-th best score, from the maxima of blocks of 16: at least k + e
  // blocks reach the (k + e)-th largest maximum, at most e of those maxima are excluded
  // items, so at least k eligible scores reach it. Scores below it can never enter, and
  // blocks wholly below it are skipped from the start, before the heap has filled (filling
  // it from the first items, then replacing its worst over and over, was most of the
  // work on a 100,000-item catalog). Only when the blocks are many against k + e.
  const size_t need = k + exclude.size(), blocks = n / 16;
  float floor = -std::numeric_limits<float>::infinity();
  if (k > 0 && blocks >= 8 * need) {
    std::vector<float> maxima(blocks);
    for (size_t b = 0; b < blocks; ++b) {
      V16 v;
      std::memcpy(&v, scores.data() + b * 16, sizeof v);
      float m = -std::numeric_limits<float>::infinity();
      for (int l = 0; l < 16; ++l) m = v[l] > m ? v[l] : m;  // NaN never wins
      maxima[b] = m;
    }
    std::nth_element(maxima.begin(), maxima.begin() + static_cast<ptrdiff_t>(need - 1),
                     maxima.end(), std::greater<>());
    floor = maxima[need - 1];
  }
  const bool floored = floor > -std::numeric_limits<float>::infinity();
  for (uint32_t i = 0; i < n; ++i) {
    // Once the heap is full, only a score above its worst can enter (equal scores come
    // later, so at a higher index: worse); none below the floor ever can. Skip blocks of
    // 16 with no such score at once: most of a large catalog is below both.
    if ((i & 15) == 0 && i + 16 <= n) {
      V16 v;
      std::memcpy(&v, scores.data() + i, sizeof v);
      // NaN compares false: it never enters.
      const bool skip = (floored && !any_of16(v >= floor)) ||
                        (heap.size() == k && k > 0 && !any_of16(v > heap.top().score));
      if (skip) {
        i += 15;
        continue;
      }
    }
    if (floored && !(scores[i] >= floor)) continue;
    while (ex < exclude.size() && exclude[ex] < i) ++ex;
    if (ex < exclude.size() && exclude[ex] == i) continue;
    const float s = std::isnan(scores[i]) ? -std::numeric_limits<float>::infinity() : scores[i];
    const ScoredItem cand{i, s};
    if (heap.size() < k) {
      heap.push(cand);
    } else if (k > 0 && better(cand, heap.top())) {
      heap.pop();
      heap.push(cand);
    }
  }
  std::vector<ScoredItem> out(heap.size());
  for (size_t i = out.size(); i-- > 0;) {
    out[i] = heap.top();
    heap.pop();
  }
  return out;
}

std::vector<ScoredItem> Recommender::recommend(uint32_t user, size_t k,
                                               std::span<const uint32_t> exclude) const {
  std::vector<float> scores(num_items(), 0.0f);
  score_all(user, scores);
  return top_k(scores, k, exclude);
}

}  // namespace streamrec::models
