#include "streamrec/eval/split.h"

#include <algorithm>
#include <numeric>
#include <random>

#include "streamrec/core/error.h"
#include "streamrec/core/text.h"

namespace streamrec::eval {
namespace {

// Indices of events in time order, ties by input position.
std::vector<uint32_t> time_order(const std::vector<data::Interaction>& events) {
  std::vector<uint32_t> order(events.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
    return events[a].timestamp < events[b].timestamp;
  });
  return order;
}

void sort_by_time(std::vector<data::Interaction>& v) {
  std::stable_sort(v.begin(), v.end(),
                   [](const auto& a, const auto& b) { return a.timestamp < b.timestamp; });
}

}  // namespace

const std::vector<std::string>& protocol_names() {
  static const std::vector<std::string> names = {"loo", "temporal", "random"};
  return names;
}

std::vector<data::Interaction> Split::fit_for_test() const {
  std::vector<data::Interaction> all = train;
  all.insert(all.end(), validation.begin(), validation.end());
  // Merge by time; train precedes validation on ties (it came first in each user's order).
  std::stable_sort(all.begin(), all.end(),
                   [](const auto& a, const auto& b) { return a.timestamp < b.timestamp; });
  return all;
}

Split split_events(const data::Dataset& ds, const SplitOptions& o) {
  const auto& events = ds.events;
  const auto order = time_order(events);
  Split s;
  if (o.protocol == "loo") {
    // Per user: positions of their events in time order.
    std::vector<uint32_t> count(ds.num_users(), 0), seen(ds.num_users(), 0);
    for (const auto& e : events) ++count[e.user];
    for (uint32_t idx : order) {
      const auto& e = events[idx];
      const uint32_t pos = seen[e.user]++;
      const uint32_t n = count[e.user];
      if (n >= 2 && pos == n - 1)
        s.test.push_back(e);
      else if (n >= 3 && pos == n - 2)
        s.validation.push_back(e);
      else
        s.train.push_back(e);
    }
    return s;
  }
  SR_INPUT_CHECK(o.train_ratio > 0 && o.valid_ratio >= 0 && o.train_ratio + o.valid_ratio < 1,
                 "split ratios must satisfy 0 < train, 0 <= valid, train + valid < 1 (got {} "
                 "and {})",
                 o.train_ratio, o.valid_ratio);
  if (o.protocol == "temporal") {
    const size_t n = order.size();
    const size_t cut1 = static_cast<size_t>(n * o.train_ratio);
    const size_t cut2 = static_cast<size_t>(n * (o.train_ratio + o.valid_ratio));
    for (size_t k = 0; k < n; ++k)
      (k < cut1 ? s.train : k < cut2 ? s.validation : s.test).push_back(events[order[k]]);
    return s;
  }
  if (o.protocol == "random") {
    std::vector<std::vector<uint32_t>> by_user(ds.num_users());
    for (uint32_t idx : order) by_user[events[idx].user].push_back(idx);
    std::mt19937_64 rng(o.seed);
    for (auto& list : by_user) {
      std::shuffle(list.begin(), list.end(), rng);
      const size_t n = list.size();
      const size_t cut1 = static_cast<size_t>(std::ceil(n * o.train_ratio));
      const size_t cut2 =
          std::min(n, static_cast<size_t>(std::ceil(n * (o.train_ratio + o.valid_ratio))));
      for (size_t k = 0; k < n; ++k)
        (k < cut1 ? s.train : k < cut2 ? s.validation : s.test).push_back(events[list[k]]);
    }
    sort_by_time(s.train);
    sort_by_time(s.validation);
    sort_by_time(s.test);
    return s;
  }
  throw_error(ErrorKind::kInvalidInput,
              fmt::format("unknown protocol {} (loo, temporal, random)", text::quote(o.protocol)));
}

}  // namespace streamrec::eval
