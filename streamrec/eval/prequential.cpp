#include "streamrec/eval/prequential.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <thread>

#include "streamrec/core/error.h"
#include "streamrec/models/calibration.h"

namespace streamrec::eval {

PrequentialResult prequential(models::Recommender& model, const data::Dataset& ds,
                              const PrequentialOptions& o, const models::ProgressFn& progress) {
  SR_INPUT_CHECK(o.warmup_share >= 0 && o.warmup_share < 1, "warmup share must be in [0, 1)");
  SR_INPUT_CHECK(o.k > 0 && o.window > 0, "k and window must be positive");
  std::vector<data::Interaction> events = ds.events;
  std::stable_sort(events.begin(), events.end(),
                   [](const auto& a, const auto& b) { return a.timestamp < b.timestamp; });
  PrequentialResult r;
  r.model = model.name();
  r.online = model.supports_online() && o.learn;
  SR_INPUT_CHECK(o.speed >= 0, "replay speed must be >= 0, got {}", o.speed);
  SR_INPUT_CHECK(o.retrain_every >= 0, "retrain interval must be >= 0, got {}", o.retrain_every);
  if (events.empty()) return r;
  const int64_t t0 = events.front().timestamp, t1 = events.back().timestamp;
  const int64_t cut = t0 + static_cast<int64_t>(std::floor((t1 - t0) * o.warmup_share));
  size_t split = 0;
  while (split < events.size() && events[split].timestamp < cut) ++split;
  r.warmup_events = split;

  const auto start = std::chrono::steady_clock::now();
  std::vector<data::Interaction> warm(events.begin(), events.begin() + split);
  models::TrainData train(ds.num_users(), ds.num_items(), std::move(warm), &ds);
  model.fit(train);
  r.fit_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  std::vector<std::vector<uint32_t>> seen(ds.num_users());  // sorted
  for (uint32_t u = 0; u < ds.num_users(); ++u) {
    const auto items = train.items_of(u);
    seen[u].assign(items.begin(), items.end());
  }
  std::vector<char> candidate(ds.num_items(), 0);
  for (const auto& e : ds.events) candidate[e.item] = 1;
  std::vector<uint32_t> non_candidates;
  for (uint32_t i = 0; i < ds.num_items(); ++i)
    if (!candidate[i]) non_candidates.push_back(i);

  std::vector<float> scores(ds.num_items());
  std::vector<uint32_t> exclude;
  int64_t next_retrain = o.retrain_every > 0 ? cut + o.retrain_every : INT64_MAX;
  double retrain_seconds = 0;
  double win_hr = 0, win_ndcg = 0, all_hr = 0, all_ndcg = 0;
  size_t in_window = 0;
  const auto replay_start = std::chrono::steady_clock::now();
  for (size_t x = split; x < events.size(); ++x) {
    const auto& e = events[x];
    if (o.speed > 0)
      std::this_thread::sleep_until(
          replay_start +
          std::chrono::duration_cast<std::chrono::steady_clock::duration>(
              std::chrono::duration<double>((e.timestamp - cut) / o.speed + retrain_seconds)));
    if (e.timestamp >= next_retrain) {
      const auto t = std::chrono::steady_clock::now();
      model.flush();
      models::TrainData so_far(ds.num_users(), ds.num_items(),
                               std::vector<data::Interaction>(events.begin(), events.begin() + x),
                               &ds);
      model.fit(so_far);
      ++r.retrains;
      while (next_retrain <= e.timestamp) next_retrain += o.retrain_every;
      retrain_seconds +=
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
    }
    auto& s = seen[e.user];
    auto pos = std::lower_bound(s.begin(), s.end(), e.item);
    const bool repeat = pos != s.end() && *pos == e.item;
    if (!repeat) {
      if (o.score) {
        model.score_all(e.user, scores);
        exclude.clear();
        std::merge(s.begin(), s.end(), non_candidates.begin(), non_candidates.end(),
                   std::back_inserter(exclude));
        const auto top = models::top_k(scores, o.k, exclude);
        double hit = 0, ndcg = 0;
        for (size_t rank = 0; rank < top.size(); ++rank)
          if (top[rank].item == e.item) {
            hit = 1;
            ndcg = 1.0 / std::log2(rank + 2.0);
          }
        const size_t group = models::activity_group(s.size());
        r.group_ndcg[group] += ndcg;
        ++r.group_scored[group];
        win_hr += hit;
        win_ndcg += ndcg;
        all_hr += hit;
        all_ndcg += ndcg;
      }
      ++r.scored;  // (counted unscored too: every process stops at the same event)
      if (o.score && ++in_window == o.window) {
        r.curve.push_back({r.scored, e.timestamp, win_hr / in_window, win_ndcg / in_window});
        win_hr = win_ndcg = 0;
        in_window = 0;
      }
      s.insert(pos, e.item);
    }
    if (r.online) model.observe(e);
    if (progress && (x - split) % 256 == 0) progress(x - split, events.size() - split);
    if (o.max_events && r.scored >= o.max_events) break;
  }
  if (in_window > 0)
    r.curve.push_back(
        {r.scored, events.back().timestamp, win_hr / in_window, win_ndcg / in_window});
  r.replay_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - replay_start).count() -
      retrain_seconds;
  r.fit_seconds += retrain_seconds;
  if (r.scored) {
    r.hr = all_hr / r.scored;
    r.ndcg = all_ndcg / r.scored;
  }
  for (size_t g = 0; g < 3; ++g)
    r.group_ndcg[g] = r.group_scored[g] ? r.group_ndcg[g] / static_cast<double>(r.group_scored[g])
                                        : std::numeric_limits<double>::quiet_NaN();
  return r;
}

}  // namespace streamrec::eval
