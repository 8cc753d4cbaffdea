// What the engine knows of each item beyond its catalog record (module store): decayed
// popularity and trend, event counts, first-seen times, item-to-item transitions (the
// item-CF signal) and context x category statistics; plus the catalog records by item index
// with a dense "recommendable until" array for filtering.
//
// Thread-safety: none inside. The engine's state lock guards an ItemStats (shared for the
// const members, exclusive for the others). Invariant: every per-item vector has size().
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "streamrec/core/serialize.h"
#include "streamrec/store/catalog.h"

namespace streamrec::store {

// Counts of events per (context key=value, item category): how much a context shifts
// interest between categories. boost() is the log-lift max over the item's categories of
// sum over the request's context pairs of log(P(category | pair) / P(category)), smoothed.
class ContextStats {
 public:
  // `context` is "k=v;k=v" (as logged); the hour of day from `timestamp` counts as "hour=H"
  // when the context has no hour.
  void add(std::string_view context, int64_t timestamp, const std::vector<std::string>& categories);
  double boost(std::span<const std::pair<std::string, std::string>> context,
               const std::vector<std::string>& categories) const;
  void clear();
  uint64_t events() const { return total_; }
  void save(BinaryWriter& w) const;
  void load(BinaryReader& r);

 private:
  std::unordered_map<std::string, std::unordered_map<std::string, double>> pair_category_;
  std::unordered_map<std::string, double> pair_total_, category_total_;
  uint64_t total_ = 0;
};

// Time-decayed counts per item: an event at time t adds 2^((t - ref) / half_life); the
// weights are rescaled to a later reference time when they grow large (order unchanged).
class DecayedCounts {
 public:
  explicit DecayedCounts(double half_life_seconds) : half_life_(half_life_seconds) {}
  void add(uint32_t item, int64_t timestamp);
  void resize(size_t items) {
    if (items > w_.size()) w_.resize(items, 0.0);
  }
  void clear() {
    w_.clear();
    ref_ = 0;
  }
  const std::vector<double>& weights() const { return w_; }
  void save(BinaryWriter& w) const;
  void load(BinaryReader& r);

 private:
  double half_life_;
  int64_t ref_ = 0;
  std::vector<double> w_;
};

class ItemStats {
 public:
  static constexpr double kPopularHalfLife = 7 * 86400.0, kTrendingHalfLife = 6 * 3600.0;
  static constexpr size_t kMaxTransitions = 200;  // kept per item (the strongest 100 on overflow)

  size_t size() const { return first_seen_.size(); }
  // Per-item state sized for item index `i`.
  void ensure(uint32_t i);
  void clear();

  // One event of item `i` at `timestamp` under `context` ("k=v;k=v").
  void count_event(uint32_t i, int64_t timestamp, std::string_view context);
  // Transitions between `i` and `previous` (the user's items just before it), both ways.
  void count_transitions(uint32_t i, std::span<const uint32_t> previous);
  // The items most often next to `recent`'s last five, best first, skipping `skip` (sorted)
  // and what `ok` refuses; (item, summed count). At most n.
  std::vector<std::pair<uint32_t, float>> itemcf_candidates(
      std::span<const uint32_t> recent, size_t n, std::span<const uint32_t> skip,
      const std::function<bool(uint32_t)>& ok) const;
  // Summed transition counts between `item` and `recent`'s last five.
  float itemcf_weight(uint32_t item, std::span<const uint32_t> recent) const;
  // The state TTL: items whose newest event is before `before` go to `idle`, and their
  // transitions are dropped (memory freed); returns how many lists went. Counters stay
  // (fixed size per item).
  size_t expire(int64_t before, std::vector<uint32_t>& idle);

  void set_record(uint32_t i, ItemRecord record);
  const ItemRecord* record(uint32_t i) const {
    return i < records_.size() ? records_[i].get() : nullptr;
  }
  // Not hidden, not expired at `now` (Unix seconds).
  bool recommendable(uint32_t i, int64_t now) const {
    return i >= visible_until_.size() || now < visible_until_[i];
  }

  const DecayedCounts& popular() const { return popular_; }
  const DecayedCounts& trending() const { return trending_; }
  const ContextStats& context() const { return context_; }
  uint64_t events(uint32_t i) const { return item_events_[i]; }
  int64_t first_seen(uint32_t i) const { return first_seen_[i]; }
  int64_t latest_time() const { return latest_time_; }  // newest event or catalog creation

  // Everything as bytes, and back (a replica's snapshot); load replaces everything and
  // throws Error(kCorrupt) on bytes that do not parse.
  void save(BinaryWriter& w) const;
  void load(BinaryReader& r);

 private:
  DecayedCounts popular_{kPopularHalfLife}, trending_{kTrendingHalfLife};
  std::vector<std::unique_ptr<const ItemRecord>> records_;
  std::vector<int64_t> first_seen_;  // event time of its first event or catalog creation
  // Until when (Unix seconds, exclusive) each item may be recommended: INT64_MAX with no
  // expiry, INT64_MIN when hidden. A dense copy of the records' fields, so that filtering
  // candidates does not chase a pointer to each record.
  std::vector<int64_t> visible_until_;
  std::vector<uint64_t> item_events_;
  std::vector<int64_t> last_event_;  // event time of its newest event (0: none)
  int64_t latest_time_ = 0;
  ContextStats context_;
  // Per item, the items that followed or preceded it within three events of the same user,
  // with counts, sorted by item: requests walk and search these, contiguous, instead of
  // hash-map nodes.
  std::vector<std::vector<std::pair<uint32_t, float>>> co_;
};

}  // namespace streamrec::store
