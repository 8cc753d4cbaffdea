// The Engine's online learning: the learner thread, a micro-batch's two passes, the live
// checks, the quality window and the publish handshake with the queue.
#include "streamrec/engine/engine.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <functional>
#include <limits>
#include <numeric>
#include <random>
#include <sstream>
#include <thread>
#include <tuple>
#include <unordered_map>

#include "streamrec/core/clock.h"
#include "streamrec/core/error.h"
#include "streamrec/core/log.h"
#include "streamrec/core/parallel.h"
#include "streamrec/core/runtime_env.h"
#include "streamrec/core/serialize.h"
#include "streamrec/core/simd.h"
#include "streamrec/models/artifact.h"
#include "streamrec/models/registry.h"
#include "streamrec/models/threads.h"
#include "streamrec/serve/batch_scorer.h"
#include "streamrec/serve/pipeline.h"
#include "streamrec/serve/ranker_features.h"
#include "streamrec/train/fit_fresh.h"

#include "streamrec/engine/engine_internal.h"

namespace streamrec::engine {

using data::parse_context;

void Engine::learner_loop() {
  lower_thread_priority(options_.background_nice, options_.background_idle);
  std::vector<train::Queued> batch;
  for (;;) {
    if (!queue_.take(batch, std::chrono::milliseconds(options_.flush_ms))) return;
    if (batch.empty()) {
      maybe_publish();  // idle: make what was learned visible once it is due or awaited
      continue;
    }
    try {
      std::lock_guard learner(learner_mutex_);
      learn_batch(batch);
      maybe_expire();
    } catch (const std::exception& e) {
      log::error("serve: learning a micro-batch of {} events failed: {}", batch.size(), e.what());
    }
    queue_.learned(batch, std::chrono::steady_clock::now());
    maybe_publish();
  }
}

Engine::Booked Engine::book_batch(std::vector<train::Queued>& batch) {
  Booked out;
  const int64_t now = unix_seconds();  // counters never take a time past the clock
  std::unique_lock state(state_mutex_);
  const size_t check_every =
      std::max<size_t>(1, batch.size() / std::max<size_t>(1, options_.live_checks));
  for (auto& b : batch) {
    const uint32_t u = users_.users().insert(b.event.user), i = users_.items().insert(b.event.item);
    b.user_index = u;
    if (b.replayed) {
      out.counted.push_back({std::min(b.event.timestamp, now), {}, {}, true});
      out.xs.push_back(to_interaction(u, i, b.event));
      learned_events_.push_back(out.xs.back());
      continue;
    }
    users_.ensure_user(u);
    item_stats_.ensure(i);
    const auto& seen = users_.seen(u);
    // Only new pairs of users with history count (a repeat cannot be recommended).
    if (options_.live_checks > 0 && out.xs.size() % check_every == 0 && !users_.has_seen(u, i) &&
        !seen.empty()) {
      out.checks.push_back({out.xs.size(), seen, users_.last_items(u, 50), b.event.context});
    }
    out.counted.push_back(
        {std::min(b.event.timestamp, now), b.event.context, users_.last_items(u, 3), false});
    replicate_event(u, i, out.counted.back().timestamp, b.event);
    out.xs.push_back(to_interaction(u, i, b.event));
    learned_events_.push_back(out.xs.back());
    users_.add(u, i, std::move(b.event));
  }
  return out;
}

void Engine::learn_batch(std::vector<train::Queued>& batch) {
  // Bookkeeping under the state lock (short); the live checks and learning under the
  // learner lock only. The live quality check scores at most live_checks events of a
  // micro-batch, spread evenly (one score_all each, a forward pass for deep models).
  // Counters (popularity, transitions, context) move event by event here, after the
  // event's check: a check sees nothing of its own event or later ones.
  const Booked booked = book_batch(batch);
  // Replicas see the events before the model learns them.
  replication_.publish(versions_.current(), train::ReplicationLog::Kind::kState, {}, false);
  const auto& xs = booked.xs;
  const bool online = model_->supports_online();
  size_t c = 0;
  for (size_t x = 0; x < xs.size(); ++x) {
    if (c < booked.checks.size() && booked.checks[c].event == x)
      score_before_learning(xs[x].user, xs[x].item, booked.checks[c++]);
    if (const auto& counted = booked.counted[x]; !counted.replayed) {
      std::unique_lock state(state_mutex_);
      item_stats_.count_event(xs[x].item, counted.timestamp, counted.context);
      item_stats_.count_transitions(xs[x].item, counted.previous);
    }
    // Models without online learning change only with retrains (the counters, histories
    // and the ranker above still move with every event).
    if (online) model_->observe(xs[x]);
  }
  if (online) model_->flush();
  for (const auto& b : batch) note_learned(b.seq);
  if (guard_.window_full()) judge_quality();
  if (!ranker_y_.empty()) {
    ranker_->train(ranker_x_, ranker_y_);
    ranker_steps_ = ranker_->steps();
    ranker_ahead_ = metrics_.ranker_wins();
    ranker_x_.clear();
    ranker_y_.clear();
  }
  note_model_state();
  last_user_ = batch.front().user_index;
}

void Engine::note_model_state() {
  online_loss_ = model_->online_loss();
  const auto size = model_->size();
  model_rows_ = size.rows;
  model_bytes_ = size.bytes;
  if (model_.get() != noted_model_) {  // a new model: the last one's spending is final
    if (const auto last = privacy()) privacy_retired_.add(last->accountant);
    noted_model_ = model_.get();
  }
  std::shared_ptr<models::PrivacyReport> report;
  if (const auto* p = model_->privacy()) {
    report = std::make_shared<models::PrivacyReport>(*p);
    auto all = privacy_retired_;
    all.add(p->accountant);
    report->epsilon_all_versions = all.epsilon(p->delta);
  }
  std::lock_guard lock(privacy_mutex_);
  privacy_ = std::move(report);
}

void Engine::maybe_expire() {
  if (options_.state_ttl_s <= 0) return;
  const auto now = std::chrono::steady_clock::now();
  std::vector<uint32_t> emptied, idle_items;
  int64_t before = 0;
  size_t dropped = 0;
  {
    std::unique_lock state(state_mutex_);
    // Every 10 s, or sooner when event time moved on by a tenth of the TTL (a replay).
    before = item_stats_.latest_time() - options_.state_ttl_s;
    if (now - last_expiry_ < std::chrono::seconds(10) &&
        static_cast<double>(before) - static_cast<double>(expired_before_) <
            std::max(1.0, options_.state_ttl_s / 10.0))
      return;
    last_expiry_ = now;
    expired_before_ = before;
    replicate_expiry(before);
    const size_t events = users_.expire(before, emptied);
    state_expired_ += events;
    dropped = events + item_stats_.expire(before, idle_items) + learned_events_.expire(before);
  }
  if (model_->expire(emptied, idle_items) + dropped > 0) content_changed_ = true;  // publish it
}

void Engine::maybe_publish() {
  // Publishing costs a save + load of the whole model: at most every publish_ms, sooner
  // only when someone waits for what was learned to become visible (wait_learned).
  const auto learned = queue_.unpublished(content_changed_);
  if (!learned) return;
  std::lock_guard learner(learner_mutex_);
  const bool due = std::chrono::steady_clock::now() - last_publish_ >=
                   std::chrono::milliseconds(options_.publish_ms);
  if (!due && !queue_.awaited()) return;
  content_changed_ = false;
  try {
    guard_and_publish(last_user_);
  } catch (const std::exception& e) {
    log::error("serve: publishing failed: {}", e.what());
  }
  queue_.published(*learned);
}

void Engine::score_before_learning(uint32_t u, uint32_t i, const Check& check) {
  if (i >= model_->num_items()) return;
  std::vector<float> scores(model_->num_items());
  model_->score_all(u, scores);
  auto gain = [&](const std::vector<uint32_t>& ranked) {
    for (size_t r = 0; r < ranked.size() && r < 10; ++r)
      if (ranked[r] == i) return std::make_pair(1.0f, static_cast<float>(1.0 / std::log2(r + 2.0)));
    return std::make_pair(0.0f, 0.0f);
  };
  // The model's top rank_pool: its top 10 for the live metric, all of them for the ranker
  // (scored before it learns from this event, then trained on it as one list).
  const auto pool = models::top_k(scores, std::max<size_t>(10, options_.rank_pool), check.seen);
  std::vector<uint32_t> items;
  std::vector<float> base;
  for (const auto& p : pool) {
    items.push_back(p.item);
    base.push_back(p.score);
  }
  const auto live = gain(items);
  std::pair<float, float> ranked{0.0f, 0.0f};
  {
    std::vector<float> features;
    std::vector<char> from_model(items.size(), 1);
    {
      std::shared_lock state(state_mutex_);
      // Item-CF candidates join the list (the ranker orders candidates of every source).
      std::vector<uint32_t> skip = check.seen;
      skip.insert(skip.end(), items.begin(), items.end());
      std::sort(skip.begin(), skip.end());
      for (const auto& [c, w] :
           item_stats_.itemcf_candidates(check.recent, options_.rank_pool / 2, skip,
                                         [&](uint32_t c) { return c < scores.size(); })) {
        items.push_back(c);
        base.push_back(scores[c]);
        from_model.push_back(0);
      }
      const auto context = parse_context(check.context, ";");
      features = serve::ranker_features(*model_, item_stats_, items, base, from_model, check.recent,
                                        context);
    }
    const auto logits = ranker_->score(features);
    std::vector<uint32_t> order(items.size());
    std::iota(order.begin(), order.end(), 0u);
    std::stable_sort(order.begin(), order.end(),
                     [&](uint32_t a, uint32_t b) { return logits[a] > logits[b]; });
    for (auto& o : order) o = items[o];
    ranked = gain(order);
    // A list teaches the ranker only when the item taken is among the candidates.
    if (std::find(items.begin(), items.end(), i) != items.end()) {
      ranker_x_.insert(ranker_x_.end(), features.begin(), features.end());
      for (uint32_t c : items) ranker_y_.push_back(c == i ? 1.0f : 0.0f);
    }
  }
  guard_.record(live.first > 0);
  metrics_.record_check(live, ranked, check.seen.size());
}

void Engine::note_learned(uint64_t seq) {
  if (seq <= covered_seq_) return;
  if (seq == covered_seq_ + 1 && learned_ahead_.empty()) {  // in order: the usual case
    ++covered_seq_;
    return;
  }
  learned_ahead_.insert(seq);
  while (!learned_ahead_.empty() && *learned_ahead_.begin() == covered_seq_ + 1) {
    learned_ahead_.erase(learned_ahead_.begin());
    ++covered_seq_;
  }
}

void Engine::judge_quality() {
  if (const auto target = guard_.judge_window()) roll_back_to(*target);
  start_quality_window(/*rebaseline=*/false, learned_count());
}

void Engine::start_quality_window(bool rebaseline, size_t learned) {
  guard_.start_window(rebaseline, guard_.watches_quality() ? snapshot().value_or("") : "", learned);
}

}  // namespace streamrec::engine
