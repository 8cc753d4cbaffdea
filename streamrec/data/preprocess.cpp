#include "streamrec/data/preprocess.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <unordered_map>

#include <fmt/format.h>

#include "streamrec/core/error.h"

namespace streamrec::data {
namespace {

template <typename Keep>
uint64_t filter_events(Dataset& ds, Keep&& keep) {
  const size_t before = ds.events.size();
  std::erase_if(ds.events, [&](const Interaction& e) { return !keep(e); });
  return before - ds.events.size();
}

void handle_missing(Dataset& ds, const PreprocessOptions& o, PreprocessReport& r) {
  using M = PreprocessOptions::Missing;
  if (o.missing == M::kDrop) {
    r.missing_dropped =
        filter_events(ds, [](const Interaction& e) { return !std::isnan(e.value); });
    return;
  }
  std::vector<double> sum(ds.num_users(), 0.0);
  std::vector<uint32_t> cnt(ds.num_users(), 0);
  for (const auto& e : ds.events)
    if (!std::isnan(e.value)) sum[e.user] += e.value, ++cnt[e.user];
  for (size_t i = 0; i < ds.events.size(); ++i) {
    auto& e = ds.events[i];
    if (!std::isnan(e.value)) continue;
    SR_INPUT_CHECK(o.missing != M::kFail,
                   "event {} (user '{}', item '{}') has no value; choose missing=drop|fill|"
                   "user_mean",
                   i + 1, ds.users.id(e.user), ds.items.id(e.item));
    e.value = (o.missing == M::kUserMean && cnt[e.user] > 0)
                  ? static_cast<float>(sum[e.user] / cnt[e.user])
                  : o.fill_value;
    ++r.missing_filled;
  }
}

void dedupe(Dataset& ds, bool keep_last, PreprocessReport& r) {
  // Order by (user, item, time, input position); keep the first or last of each pair.
  std::vector<uint32_t> order(ds.events.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
    const auto& x = ds.events[a];
    const auto& y = ds.events[b];
    if (x.user != y.user) return x.user < y.user;
    if (x.item != y.item) return x.item < y.item;
    if (x.timestamp != y.timestamp) return x.timestamp < y.timestamp;
    return a < b;
  });
  std::vector<char> keep(ds.events.size(), 1);
  for (size_t k = 1; k < order.size(); ++k) {
    const auto& x = ds.events[order[k - 1]];
    const auto& y = ds.events[order[k]];
    if (x.user == y.user && x.item == y.item) keep[keep_last ? order[k - 1] : order[k]] = 0;
  }
  size_t out = 0;
  for (size_t i = 0; i < ds.events.size(); ++i)
    if (keep[i]) ds.events[out++] = ds.events[i];
  r.duplicates_dropped = ds.events.size() - out;
  ds.events.resize(out);
}

void normalize(Dataset& ds, PreprocessOptions::Normalize how) {
  if (ds.events.empty()) return;
  if (how == PreprocessOptions::Normalize::kMinMax) {
    auto [lo, hi] = std::minmax_element(ds.events.begin(), ds.events.end(),
                                        [](auto& a, auto& b) { return a.value < b.value; });
    const float min = lo->value, range = hi->value - lo->value;
    for (auto& e : ds.events) e.value = range > 0 ? (e.value - min) / range : 1.0f;
  } else {
    std::vector<double> sum(ds.num_users(), 0.0);
    std::vector<uint32_t> cnt(ds.num_users(), 0);
    for (const auto& e : ds.events) sum[e.user] += e.value, ++cnt[e.user];
    for (auto& e : ds.events) e.value -= static_cast<float>(sum[e.user] / cnt[e.user]);
  }
  ds.explicit_ratings = false;
}

uint64_t kcore(Dataset& ds, uint32_t min_user, uint32_t min_item) {
  uint64_t dropped = 0;
  while (true) {
    std::vector<uint32_t> uc(ds.num_users(), 0), ic(ds.num_items(), 0);
    for (const auto& e : ds.events) ++uc[e.user], ++ic[e.item];
    const uint64_t d = filter_events(
        ds, [&](const Interaction& e) { return uc[e.user] >= min_user && ic[e.item] >= min_item; });
    dropped += d;
    if (d == 0) return dropped;
  }
}

}  // namespace

Params PreprocessOptions::params() {
  return Params(
      "preprocess",
      {ParamSpec::choice("missing", "fail", {"fail", "drop", "fill", "user_mean"},
                         "an event without a value: error, drop it, fill_value, user's mean"),
       ParamSpec::real("fill_value", 1.0, -1e9, 1e9, "value used by missing=fill"),
       ParamSpec::choice("dedupe", "none", {"none", "first", "last"},
                         "repeated (user, item) pairs: keep all, the first or the last"),
       ParamSpec::real("threshold", -1e300, -1e300, 1e300,
                       "keep events with value >= threshold as implicit positives"),
       ParamSpec::choice("normalize", "none", {"none", "minmax", "user_mean"},
                         "rating normalization"),
       ParamSpec::integer("min_user", 0, 0, 1000000, "k-core: minimum events per user"),
       ParamSpec::integer("min_item", 0, 0, 1000000, "k-core: minimum events per item"),
       ParamSpec::choice("sort", "time", {"time", "none"}, "stable sort by timestamp")});
}

PreprocessOptions PreprocessOptions::from_params(const Params& p) {
  PreprocessOptions o;
  const auto& m = p.str("missing");
  o.missing = m == "drop"        ? Missing::kDrop
              : m == "fill"      ? Missing::kFill
              : m == "user_mean" ? Missing::kUserMean
                                 : Missing::kFail;
  o.fill_value = static_cast<float>(p.real("fill_value"));
  const auto& d = p.str("dedupe");
  o.dedupe = d == "first" ? Dedupe::kKeepFirst : d == "last" ? Dedupe::kKeepLast : Dedupe::kNone;
  if (p.real("threshold") > -1e299) o.implicit_threshold = static_cast<float>(p.real("threshold"));
  const auto& n = p.str("normalize");
  o.normalize = n == "minmax"      ? Normalize::kMinMax
                : n == "user_mean" ? Normalize::kUserMean
                                   : Normalize::kNone;
  o.min_user_events = static_cast<uint32_t>(p.integer("min_user"));
  o.min_item_events = static_cast<uint32_t>(p.integer("min_item"));
  o.sort_by_time = p.str("sort") == "time";
  return o;
}

std::string PreprocessReport::summary() const {
  return fmt::format(
      "missing dropped {}, missing filled {}, duplicates dropped {}, below threshold dropped {}, "
      "k-core dropped {}",
      missing_dropped, missing_filled, duplicates_dropped, below_threshold_dropped, kcore_dropped);
}

PreprocessReport preprocess(Dataset& ds, const PreprocessOptions& o) {
  PreprocessReport r;
  handle_missing(ds, o, r);
  if (o.sort_by_time)
    std::stable_sort(ds.events.begin(), ds.events.end(),
                     [](const auto& a, const auto& b) { return a.timestamp < b.timestamp; });
  if (o.dedupe != PreprocessOptions::Dedupe::kNone)
    dedupe(ds, o.dedupe == PreprocessOptions::Dedupe::kKeepLast, r);
  if (o.implicit_threshold) {
    const float t = *o.implicit_threshold;
    r.below_threshold_dropped =
        filter_events(ds, [t](const Interaction& e) { return e.value >= t; });
    for (auto& e : ds.events) e.value = 1.0f;
    ds.explicit_ratings = false;
  }
  if (o.normalize != PreprocessOptions::Normalize::kNone) normalize(ds, o.normalize);
  if (o.min_user_events > 0 || o.min_item_events > 0)
    r.kcore_dropped = kcore(ds, o.min_user_events, o.min_item_events);
  return r;
}

}  // namespace streamrec::data
