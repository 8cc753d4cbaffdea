#include "streamrec/store/item_stats.h"

#include <algorithm>
#include <cmath>

#include "streamrec/core/error.h"
#include "streamrec/data/context.h"

namespace streamrec::store {
namespace {

// The entry for `item` in a transition list (sorted by item), or where it would go.
template <typename List>
auto find_transition(List& list, uint32_t item) {
  return std::lower_bound(list.begin(), list.end(), item,
                          [](const auto& e, uint32_t x) { return e.first < x; });
}

}  // namespace

void ContextStats::add(std::string_view context, int64_t timestamp,
                       const std::vector<std::string>& categories) {
  if (categories.empty()) return;
  auto pairs = data::parse_context(context, ";");
  if (std::none_of(pairs.begin(), pairs.end(), [](const auto& p) { return p.first == "hour"; }))
    pairs.emplace_back("hour", std::to_string(((timestamp % 86400) + 86400) % 86400 / 3600));
  ++total_;
  for (const auto& c : categories) category_total_[c] += 1;
  for (const auto& [k, v] : pairs) {
    const std::string key = k + "=" + v;
    pair_total_[key] += 1;
    auto& per = pair_category_[key];
    for (const auto& c : categories) per[c] += 1;
  }
}

double ContextStats::boost(std::span<const std::pair<std::string, std::string>> context,
                           const std::vector<std::string>& categories) const {
  if (total_ == 0 || context.empty() || categories.empty()) return 0;
  constexpr double kPrior = 5;  // pseudo-events pulling a rare pair's estimate to the base rate
  double best = -std::numeric_limits<double>::infinity();
  for (const auto& c : categories) {
    const auto ct = category_total_.find(c);
    const double base = ((ct == category_total_.end() ? 0.0 : ct->second) + 1) / (total_ + 1.0);
    double lift = 0;
    for (const auto& [k, v] : context) {
      const std::string key = k + "=" + v;
      const auto pt = pair_total_.find(key);
      if (pt == pair_total_.end()) continue;
      double n = 0;
      if (const auto pc = pair_category_.find(key); pc != pair_category_.end())
        if (const auto x = pc->second.find(c); x != pc->second.end()) n = x->second;
      lift += std::log((n + kPrior * base) / (pt->second + kPrior) / base);
    }
    best = std::max(best, lift);
  }
  return best;
}

void ContextStats::clear() {
  pair_category_.clear();
  pair_total_.clear();
  category_total_.clear();
  total_ = 0;
}

void DecayedCounts::add(uint32_t item, int64_t timestamp) {
  if (ref_ == 0) ref_ = timestamp;
  // Weights stay finite: past 2^300 above the reference, everything is rescaled to this
  // event's time (older weights may round to 0: they are negligible against it).
  const double exponent = static_cast<double>(timestamp - ref_) / half_life_;
  double w = std::exp2(std::min(exponent, 1000.0));
  if (exponent > 300) {
    const double scale = std::exp2(-std::min(exponent, 2000.0));
    for (auto& x : w_) x *= scale;
    ref_ = timestamp;
    w = 1;
  }
  resize(item + 1);
  w_[item] += w;
}

void ItemStats::ensure(uint32_t i) {
  if (i < first_seen_.size()) return;
  popular_.resize(i + 1);
  trending_.resize(i + 1);
  records_.resize(i + 1);
  visible_until_.resize(i + 1, std::numeric_limits<int64_t>::max());
  first_seen_.resize(i + 1, 0);
  item_events_.resize(i + 1, 0);
  last_event_.resize(i + 1, 0);
  co_.resize(i + 1);
}

void ItemStats::clear() {
  popular_.clear();
  trending_.clear();
  records_.clear();
  visible_until_.clear();
  first_seen_.clear();
  item_events_.clear();
  last_event_.clear();
  co_.clear();
  latest_time_ = 0;
  context_.clear();
}

size_t ItemStats::expire(int64_t before, std::vector<uint32_t>& idle) {
  size_t n = 0;
  for (uint32_t i = 0; i < co_.size(); ++i) {
    if (item_events_[i] == 0 || last_event_[i] >= before) continue;
    idle.push_back(i);
    if (co_[i].empty()) continue;
    std::vector<std::pair<uint32_t, float>>().swap(co_[i]);
    ++n;
  }
  return n;
}

void ItemStats::count_transitions(uint32_t i, std::span<const uint32_t> previous) {
  for (const uint32_t j : previous) {
    if (j == i || j >= co_.size() || i >= co_.size()) continue;
    for (auto [a, b] : {std::pair{j, i}, std::pair{i, j}}) {
      auto& m = co_[a];
      const auto it = find_transition(m, b);
      if (it != m.end() && it->first == b)
        it->second += 1;
      else
        m.insert(it, {b, 1.0f});
      if (m.size() >
          kMaxTransitions) {  // keep the 100 strongest (ties: the lower item), by item again
        std::nth_element(m.begin(), m.begin() + 100, m.end(), [](const auto& x, const auto& y) {
          return x.second > y.second || (x.second == y.second && x.first < y.first);
        });
        m.resize(100);
        std::sort(m.begin(), m.end());
      }
    }
  }
}

std::vector<std::pair<uint32_t, float>> ItemStats::itemcf_candidates(
    std::span<const uint32_t> recent, size_t n, std::span<const uint32_t> skip,
    const std::function<bool(uint32_t)>& ok) const {
  // The neighbours of the last five items (at most 200 each), summed per item: sorted and
  // merged in one vector (a hash map here cost a node allocation per neighbour, ~9% of a
  // request's CPU in a load profile).
  std::vector<std::pair<uint32_t, float>> all;
  for (size_t r = recent.size() > 5 ? recent.size() - 5 : 0; r < recent.size(); ++r)
    if (recent[r] < co_.size()) all.insert(all.end(), co_[recent[r]].begin(), co_[recent[r]].end());
  std::stable_sort(all.begin(), all.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<std::pair<uint32_t, float>> out;
  for (size_t x = 0; x < all.size();) {
    const uint32_t item = all[x].first;
    float w = 0;
    for (; x < all.size() && all[x].first == item; ++x) w += all[x].second;
    if (!std::binary_search(skip.begin(), skip.end(), item) && ok(item)) out.emplace_back(item, w);
  }
  const size_t keep = std::min(n, out.size());
  std::partial_sort(out.begin(), out.begin() + keep, out.end(), [](const auto& a, const auto& b) {
    return a.second > b.second || (a.second == b.second && a.first < b.first);
  });
  out.resize(keep);
  return out;
}

float ItemStats::itemcf_weight(uint32_t item, std::span<const uint32_t> recent) const {
  float w = 0;
  for (size_t r = recent.size() > 5 ? recent.size() - 5 : 0; r < recent.size(); ++r)
    if (recent[r] < co_.size()) {
      const auto& m = co_[recent[r]];
      const auto it = find_transition(m, item);
      if (it != m.end() && it->first == item) w += it->second;
    }
  return w;
}

void ItemStats::count_event(uint32_t i, int64_t timestamp, std::string_view context) {
  ensure(i);
  popular_.add(i, timestamp);
  trending_.add(i, timestamp);
  if (item_events_[i]++ == 0 && (first_seen_[i] == 0 || timestamp < first_seen_[i]))
    first_seen_[i] = timestamp;
  last_event_[i] = std::max(last_event_[i], timestamp);
  latest_time_ = std::max(latest_time_, timestamp);
  if (const auto* r = record(i)) context_.add(context, timestamp, r->attrs.categories);
}

void ItemStats::set_record(uint32_t i, ItemRecord r) {
  ensure(i);
  if (first_seen_[i] == 0 || r.created_at < first_seen_[i]) first_seen_[i] = r.created_at;
  latest_time_ = std::max(latest_time_, r.created_at);
  visible_until_[i] = r.hidden            ? std::numeric_limits<int64_t>::min()
                      : r.expires_at == 0 ? std::numeric_limits<int64_t>::max()
                                          : r.expires_at;
  records_[i] = std::make_unique<const ItemRecord>(std::move(r));
}

namespace {

constexpr uint64_t kMaxCount = uint64_t{1} << 32;

void save_f64s(BinaryWriter& w, const std::vector<double>& v) {
  w.u64(v.size());
  for (double x : v) w.f64(x);
}

// Every loader grows its vectors as the data is read, never by a count read from it: a
// damaged count runs out of data (Error(kCorrupt)) before it can allocate much.
std::vector<double> load_f64s(BinaryReader& r) {
  std::vector<double> v;
  for (uint64_t n = r.count(kMaxCount); n > 0; --n) v.push_back(r.f64());
  return v;
}

template <typename Int>
void save_i64s(BinaryWriter& w, const std::vector<Int>& v) {
  w.u64(v.size());
  for (auto x : v) w.i64(static_cast<int64_t>(x));
}

template <typename Int>
std::vector<Int> load_i64s(BinaryReader& r, size_t n) {
  SR_CHECK(r.u64() == n, ErrorKind::kCorrupt, "item stats: a per-item array is not of {} items", n);
  std::vector<Int> v;
  for (size_t k = 0; k < n; ++k) v.push_back(static_cast<Int>(r.i64()));
  return v;
}

void save_counts(BinaryWriter& w, const std::unordered_map<std::string, double>& m) {
  w.u64(m.size());
  for (const auto& [k, v] : m) {
    w.str(k);
    w.f64(v);
  }
}

std::unordered_map<std::string, double> load_counts(BinaryReader& r) {
  std::unordered_map<std::string, double> m;
  for (uint64_t n = r.count(kMaxCount); n > 0; --n) {
    std::string k = r.str();
    m[std::move(k)] = r.f64();
  }
  return m;
}

}  // namespace

void ContextStats::save(BinaryWriter& w) const {
  w.u64(total_);
  save_counts(w, pair_total_);
  save_counts(w, category_total_);
  w.u64(pair_category_.size());
  for (const auto& [k, m] : pair_category_) {
    w.str(k);
    save_counts(w, m);
  }
}

void ContextStats::load(BinaryReader& r) {
  total_ = r.u64();
  pair_total_ = load_counts(r);
  category_total_ = load_counts(r);
  pair_category_.clear();
  for (uint64_t n = r.count(kMaxCount); n > 0; --n) {
    std::string k = r.str();
    pair_category_[std::move(k)] = load_counts(r);
  }
}

void DecayedCounts::save(BinaryWriter& w) const {
  w.i64(ref_);
  save_f64s(w, w_);
}

void DecayedCounts::load(BinaryReader& r) {
  ref_ = r.i64();
  w_ = load_f64s(r);
}

void ItemStats::save(BinaryWriter& w) const {
  w.u64(size());
  popular_.save(w);
  trending_.save(w);
  for (const auto& r : records_) {
    w.u8(r ? 1 : 0);
    if (!r) continue;
    w.str(r->id);
    w.str(Catalog::encode(*r));
  }
  save_i64s(w, first_seen_);
  save_i64s(w, visible_until_);
  save_i64s(w, item_events_);
  save_i64s(w, last_event_);
  w.i64(latest_time_);
  context_.save(w);
  for (const auto& list : co_) {
    w.u64(list.size());
    for (const auto& [j, c] : list) {
      w.u32(j);
      w.f32(c);
    }
  }
}

void ItemStats::load(BinaryReader& r) {
  clear();
  const size_t n = r.count(kMaxCount);
  popular_.load(r);
  trending_.load(r);
  SR_CHECK(popular_.weights().size() <= n && trending_.weights().size() <= n, ErrorKind::kCorrupt,
           "item stats: counts for more than {} items", n);
  for (size_t i = 0; i < n; ++i) {
    records_.emplace_back();
    if (!r.u8()) continue;
    const std::string id = r.str();
    records_.back() = std::make_unique<const ItemRecord>(Catalog::decode_item(r.str(), id));
  }
  popular_.resize(n);  // (n records were read: the count is real)
  trending_.resize(n);
  first_seen_ = load_i64s<int64_t>(r, n);
  visible_until_ = load_i64s<int64_t>(r, n);
  item_events_ = load_i64s<uint64_t>(r, n);
  last_event_ = load_i64s<int64_t>(r, n);
  latest_time_ = r.i64();
  context_.load(r);
  co_.resize(n);
  for (auto& list : co_) {
    list.resize(r.count(kMaxTransitions));
    for (auto& [j, c] : list) {
      j = r.u32();
      c = r.f32();
      SR_CHECK(j < n, ErrorKind::kCorrupt, "item stats: transition to item {} of {}", j, n);
    }
  }
}

}  // namespace streamrec::store
