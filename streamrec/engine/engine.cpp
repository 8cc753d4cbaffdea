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

namespace streamrec::engine {

using data::parse_context;
using serve::BatchScorer;
using serve::ItemFilter;
using serve::mmr_order;
using serve::Predicate;

namespace {

// Lowers the calling thread's priority by `nice` and, with `idle`, puts it under SCHED_IDLE
// (Linux: both are per thread). Threads it starts later (libtorch's OpenMP workers) inherit
// them.
void lower_priority(int nice, bool idle) {
  if (nice > 0 && !set_thread_nice(std::min(19, thread_nice() + nice)))
    log::debug("serve: cannot lower a background thread's priority: {}", std::strerror(errno));
  if (idle && !set_thread_sched_idle(true))
    log::debug("serve: cannot put a background thread under SCHED_IDLE: {}", std::strerror(errno));
}

// A model's state as bytes (save), and a model of `spec` loaded from such bytes.
std::string saved_bytes(const models::Recommender& model) {
  std::ostringstream out;
  BinaryWriter w(out);
  model.save(w);
  return std::move(out).str();
}

std::unique_ptr<models::Recommender> loaded_model(const std::string& spec, std::string_view bytes,
                                                  const std::string& what) {
  auto model = models::make_model(spec);
  MemoryIStream in(bytes);
  BinaryReader r(in, what);
  model->load(r);
  return model;
}

constexpr size_t kMaxIdLength = 256;
constexpr size_t kHistoryPoints = 3600;  // one hour of per-second points

}  // namespace

Engine::Engine(EngineOptions options)
    : options_((check_options(options), std::move(options))),
      pipeline_options_{options_.rank_pool, options_.context_weight, options_.fresh_seconds},
      log_((std::filesystem::create_directories(options_.data_dir), options_.data_dir + "/events"),
           store::EventLogOptions{options_.sync}),
      catalog_(options_.data_dir + "/catalog", options_.sync),
      queue_(log_, options_.max_queue, options_.micro_batch),
      users_(options_.max_history),
      query_batches_([](std::span<QueryJob* const> batch) {
        // One retrieval_queries call per model copy in the batch (a publish in between
        // can leave two).
        std::vector<QueryJob*> left(batch.begin(), batch.end());
        while (!left.empty()) {
          const auto* model = left.front()->model;
          std::vector<uint32_t> users;
          for (const auto* j : left)
            if (j->model == model) users.push_back(j->user);
          auto queries = model->retrieval_queries(users);
          size_t k = 0;
          std::erase_if(left, [&](QueryJob* j) {
            if (j->model != model) return false;
            j->query = std::move(queries[k++]);
            return true;
          });
        }
      }) {
  start_ms_ = unix_ms();
  if (options_.blas_threads > 0) set_blas_threads(options_.blas_threads);
  quality_ = QualityWindow(options_.quality_margin, std::max<uint64_t>(1, options_.quality_checks));
  std::unique_ptr<models::Artifact> artifact;
  if (!options_.model_dir.empty()) {
    artifact = std::make_unique<models::Artifact>(models::read_artifact_dir(options_.model_dir));
    options_.model = artifact->spec;
  }
  model_ = models::make_model(options_.model);  // a bad spec fails here
  ranker_ = std::make_unique<models::FusionRanker>();
  auto start = read_checkpoint();
  if (!start && artifact) {
    log::info("serve: starting from the model in '{}' ({}, {} users, {} items)", options_.model_dir,
              artifact->spec, artifact->users.size(), artifact->items.size());
    start = std::move(artifact);
  }
  refit_from_log("start", std::move(start));
  learner_ = std::thread([this] { learner_loop(); });
  sampler_ = std::thread([this] { sampler_loop(); });
  ann_thread_ = std::thread([this] { ann_loop(); });
}

Engine::~Engine() {
  stopping_ = true;
  queue_.stop();
  if (retrainer_.joinable()) retrainer_.join();
  sampler_cv_.notify_all();
  {
    std::lock_guard a(ann_mutex_);
    ann_cv_.notify_all();
  }
  learner_.join();
  sampler_.join();
  ann_thread_.join();
}

data::Interaction Engine::to_interaction(uint32_t user, uint32_t item,
                                         const store::LoggedEvent& e) const {
  data::Interaction x;
  x.user = user;
  x.item = item;
  x.value = e.value;
  x.type = e.type;
  x.timestamp = e.timestamp;
  return x;
}

Engine::Rebuilt Engine::rebuild_state(uint64_t covered_seq) {
  std::vector<store::LoggedEvent> logged;
  std::vector<uint64_t> seqs;
  log_.scan(1, [&](uint64_t seq, const store::LoggedEvent& e) {
    logged.push_back(e);
    seqs.push_back(seq);
    return true;
  });
  std::vector<size_t> order(logged.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return logged[a].timestamp < logged[b].timestamp; });
  // The state (ids, histories, counters) takes every logged event, in time order; the model
  // the ones it covers: all of them, or (resuming) those up to the checkpoint. The learner
  // learns the later ones (`replayed`: their state is counted here).
  std::vector<data::Interaction> events;
  std::vector<data::Interaction> all(logged.size());
  std::vector<train::Queued> to_learn;
  const auto now = std::chrono::steady_clock::now();
  for (size_t x : order) {
    const uint32_t u = users_.users().insert(logged[x].user),
                   i = users_.items().insert(logged[x].item);
    all[x] = to_interaction(u, i, logged[x]);
    if (seqs[x] > covered_seq)
      to_learn.push_back({u, logged[x], now, seqs[x], /*replayed=*/true});
    else
      events.push_back(all[x]);
  }
  // Catalog items without events get ids after those with events.
  catalog_.scan_items([&](const store::ItemRecord& r) {
    const uint32_t i = users_.items().insert(r.id);
    item_stats_.ensure(i);
    item_stats_.set_record(i, r);
  });
  for (size_t x : order) {
    const auto& e = all[x];
    users_.ensure_user(e.user);
    item_stats_.count_event(e.item, logged[x].timestamp, logged[x].context);
    item_stats_.count_transitions(e.item, users_.last_items(e.user, 3));
    users_.add(e.user, e.item, std::move(logged[x]));
  }
  // The learner takes them in log order.
  std::sort(to_learn.begin(), to_learn.end(),
            [](const train::Queued& a, const train::Queued& b) { return a.seq < b.seq; });
  return {std::move(events), std::move(to_learn)};
}

void Engine::refit_from_log(const std::string& reason, std::unique_ptr<models::Artifact> resume) {
  // Rebuilds ids, histories and popularity from the log and fits a fresh model on it; or,
  // resuming, takes the checkpoint's model and ids, rebuilds the state of the events it
  // covers and queues the later ones for the learner.
  std::lock_guard learner(learner_mutex_);
  std::unique_lock lock(state_mutex_);
  // Ids are rebuilt: older versions' snapshots no longer match them (and after a deletion
  // they would hold the deleted user's data), nor does the ANN index.
  versions_.clear();
  {
    std::lock_guard a(ann_mutex_);
    ++ids_epoch_;
  }
  if (resume)
    users_.reset(resume->users, resume->items);
  else
    users_.reset({}, {});
  item_stats_.clear();
  auto [events, to_learn] = rebuild_state(resume ? resume->covered_seq : UINT64_MAX);
  std::unique_ptr<models::Recommender> fresh;
  if (resume) {
    fresh = std::move(resume->model);
    give_attributes(*fresh);
  }
  const auto n_events = events.size();
  learned_events_ = events;
  good_snapshot_.clear();  // the guards' fallback: a refit on these events
  good_learned_ = learned_events_.size();
  healthy_is_live_ = false;
  healthy_learned_ = good_learned_;
  if (!resume)
    fresh =
        train::fit_fresh(options_.model, users_.users().size(), users_.items().size(),
                         std::move(events), 0, [&](models::Recommender& m) { give_attributes(m); })
            .model;
  model_ = std::move(fresh);
  covered_seq_ = resume ? resume->covered_seq : log_.last_seq();
  learned_ahead_.clear();
  const auto bytes = snapshot();
  start_quality_window(/*rebaseline=*/true, learned_events_.size());
  const std::string why = resume ? fmt::format("{}: checkpoint of {} events + {} from the log",
                                               reason, n_events, to_learn.size())
                                 : reason;
  publish_version(why, learned_events_.size(), bytes);
  publish_serving(bytes);
  if (resume) {
    last_checkpoint_ = std::chrono::steady_clock::now();
    log::info(
        "serve: model {} resumed from its checkpoint of {} logged events; {} logged after it "
        "are learned now ({} users, {} items)",
        options_.model, n_events, to_learn.size(), users_.users().size(), users_.items().size());
    queue_.restart(n_events, std::move(to_learn));
  } else {
    queue_.restart(n_events, {});
    log::info("serve: model {} fitted on {} logged events ({} users, {} items)", options_.model,
              n_events, users_.users().size(), users_.items().size());
    lock.unlock();  // (write_checkpoint reads the ids under the state lock)
    erasing_ = false;
    write_checkpoint();
  }
  if (!model_->supports_online())
    log::warn(
        "serve: model {} does not learn online: it changes only with retrains "
        "(--retrain-every or POST /v1/model/retrain)",
        options_.model);
}

namespace {

// What an item tower reads of a catalog record: its attributes, with the string fields
// (brand=acme) as tags, as the data readers do with extra text columns.
data::ItemAttributes tower_attributes(const store::ItemRecord& r) {
  data::ItemAttributes a = r.attrs;
  for (const auto& [k, v] : r.fields) a.tags.push_back(k + "=" + v);
  return a;
}

}  // namespace

void Engine::give_attributes(models::Recommender& model) const {
  std::vector<uint32_t> items;
  std::vector<data::ItemAttributes> attrs;
  for (uint32_t i = 0; i < item_stats_.size(); ++i)
    if (const auto* r = item_stats_.record(i)) {
      items.push_back(i);
      attrs.push_back(tower_attributes(*r));
    }
  model.set_item_attributes(items, attrs);
}

void Engine::check_event(const store::LoggedEvent& e, size_t x) {
  SR_INPUT_CHECK(!e.user.empty() && e.user.size() <= kMaxIdLength,
                 "event {}: field 'user' must be 1 to {} characters", x, kMaxIdLength);
  SR_INPUT_CHECK(!e.item.empty() && e.item.size() <= kMaxIdLength,
                 "event {}: field 'item' must be 1 to {} characters", x, kMaxIdLength);
  SR_INPUT_CHECK(std::isfinite(e.value), "event {}: field 'value' is not a finite number", x);
  SR_INPUT_CHECK(e.timestamp >= 0, "event {}: field 'timestamp' {} is negative", x, e.timestamp);
}

size_t Engine::ingest(std::span<const store::LoggedEvent> events) {
  for (size_t x = 0; x < events.size(); ++x) check_event(events[x], x);
  if (events.empty()) return 0;
  const uint64_t first = log_.append(events);  // durable before acknowledged or learned
  queue_.push(first, events);
  return events.size();
}

void Engine::learner_loop() {
  lower_priority(options_.background_nice, options_.background_idle);
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
    } catch (const std::exception& e) {
      log::error("serve: learning a micro-batch of {} events failed: {}", batch.size(), e.what());
    }
    queue_.learned(batch, std::chrono::steady_clock::now());
    maybe_publish();
  }
}

Engine::Booked Engine::book_batch(std::vector<train::Queued>& batch) {
  Booked out;
  std::unique_lock state(state_mutex_);
  const size_t check_every =
      std::max<size_t>(1, batch.size() / std::max<size_t>(1, options_.live_checks));
  for (auto& b : batch) {
    const uint32_t u = users_.users().insert(b.event.user), i = users_.items().insert(b.event.item);
    b.user_index = u;
    if (b.replayed) {
      out.counted.push_back({b.event.timestamp, {}, {}, true});
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
    out.counted.push_back({b.event.timestamp, b.event.context, users_.last_items(u, 3), false});
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
  if (options_.quality_margin > 0 && quality_.ready()) judge_quality();
  if (!ranker_y_.empty()) {
    ranker_->train(ranker_x_, ranker_y_);
    ranker_steps_ = ranker_->steps();
    std::lock_guard m(metrics_mutex_);
    ranker_ahead_ = ranker_wins();
    ranker_x_.clear();
    ranker_y_.clear();
  }
  online_loss_ = model_->online_loss();
  const auto size = model_->size();
  model_rows_ = size.rows;
  model_bytes_ = size.bytes;
  last_user_ = batch.front().user_index;
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
  quality_.record(live.first > 0);
  std::lock_guard m(metrics_mutex_);
  live_.push(live);
  ranked_.push(ranked);
  ++live_scored_;
}

bool Engine::ranker_wins() const {
  if (live_.size() < 200 || ranked_.size() != live_.size()) return false;
  double model = 0, fused = 0;
  for (size_t k = 0; k < live_.size(); ++k) {
    model += live_[k].first;
    fused += ranked_[k].first;
  }
  return fused >= model;
}

std::pair<double, double> Engine::live_means() const {
  double hr = 0, ndcg = 0;
  for (const auto& [hit, gain] : live_) {
    hr += hit;
    ndcg += gain;
  }
  if (live_.empty()) return {0.0, 0.0};
  return {hr / live_.size(), ndcg / live_.size()};
}

void Engine::record_request(double ms) {
  std::lock_guard m(metrics_mutex_);
  latency_ms_.push(ms);
  ++requests_;
  const auto b = std::lower_bound(kLatencyBuckets.begin(), kLatencyBuckets.end(), ms);
  ++latency_buckets_[b - kLatencyBuckets.begin()];
  latency_sum_ms_ += ms;
}

Engine::LatencyHistogram Engine::latency_histogram() const {
  std::lock_guard m(metrics_mutex_);
  return {latency_buckets_, latency_sum_ms_};
}

void Engine::sampler_loop() {
  EngineStats last = stats();
  auto last_at = std::chrono::steady_clock::now();
  std::mutex sleep_mutex;
  std::unique_lock sleep_lock(sleep_mutex);
  for (;;) {
    sampler_cv_.wait_for(sleep_lock, std::chrono::seconds(1), [&] { return stopping_.load(); });
    if (stopping_) return;
    const EngineStats now = stats();
    const auto at = std::chrono::steady_clock::now();
    if (options_.retrain_every_s > 0) {
      const auto status = retrain_status();
      const int64_t since_ms = (status.finished_ms > 0 ? status.finished_ms : start_ms_.load()) +
                               options_.retrain_every_s * 1000;
      if (!status.running && now.events_learned > 0 && unix_ms() >= since_ms)
        start_retrain(/*scheduled=*/true);
    }
    const double dt = std::chrono::duration<double>(at - last_at).count();
    auto p = history_point(unix_ms(), now, last, dt);
    {
      std::lock_guard m(metrics_mutex_);
      points_.push_back(std::move(p));
      if (points_.size() > kHistoryPoints) points_.pop_front();
    }
    last = now;
    last_at = at;
  }
}

std::vector<MetricsPoint> Engine::history_points() const {
  std::lock_guard m(metrics_mutex_);
  return {points_.begin(), points_.end()};
}

bool Engine::scores_finite(uint32_t user) const {
  // A few users: the batch's first, and a spread over all known users.
  uint32_t n = 0;
  {
    std::shared_lock state(state_mutex_);
    n = users_.users().size();
  }
  std::vector<float> scores(model_->num_items());
  for (uint32_t k = 0; k < 8 && n > 0; ++k) {
    const uint32_t u = k == 0 ? std::min(user, n - 1) : (k * 2654435761u) % n;
    model_->score_all(u, scores);
    for (float v : scores)
      if (!std::isfinite(v)) return false;
  }
  return true;
}

size_t Engine::learned_count() const {
  std::shared_lock state(state_mutex_);
  return learned_events_.size();
}

std::optional<std::string> Engine::snapshot() {
  if (!can_snapshot_) return std::nullopt;
  try {
    return saved_bytes(*model_);
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::kUnsupported) throw;
    can_snapshot_ = false;
    return std::nullopt;
  }
}

void Engine::publish_serving(const std::optional<std::string>& bytes) {
  // A copy made from the bytes: queries never touch the learning model. Without bytes
  // (the model cannot save), queries use the learning model under the learner lock.
  const auto t0 = std::chrono::steady_clock::now();
  std::shared_ptr<models::Recommender> copy;
  if (bytes) {
    copy = loaded_model(options_.model, *bytes, "serving copy");
    model_->mark_delta();  // the next delta starts at the state of `bytes`
  }
  live_copy_ = copy;
  standby_ = nullptr;
  standby_delta_.clear();
  install_serving(std::move(copy));
  ++publishes_full_;
  last_publish_ms_ =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

bool Engine::publish_delta() {
  if (!live_copy_) return false;
  const auto t0 = std::chrono::steady_clock::now();
  std::string delta;
  {
    std::ostringstream out;
    BinaryWriter w(out);
    if (!model_->save_delta(w)) return false;
    delta = std::move(out).str();
  }
  model_->mark_delta();
  // Free: only this pointer holds it (queries take serving_, the ANN thread its pending
  // copy). The acquire fence orders their last reads of it before the writes below.
  bool applied = false;
  if (standby_ && standby_.use_count() == 1) {
    std::atomic_thread_fence(std::memory_order_acquire);
    try {
      const std::string both[] = {std::move(standby_delta_), delta};
      standby_->apply_deltas(both);
      applied = true;
    } catch (const std::exception& e) {
      log::error("serve: a serving copy failed to apply a delta ({}); publishing in full",
                 e.what());
    }
  }
  if (!applied) {
    auto old_live = live_copy_;
    publish_serving(snapshot());
    standby_ = std::move(old_live);  // the old live state + this delta = the new live state
    standby_delta_ = std::move(delta);
    return true;
  }
  auto next = std::move(standby_);
  standby_ = std::exchange(live_copy_, next);
  standby_delta_ = std::move(delta);
  install_serving(std::move(next));
  ++publishes_delta_;
  last_publish_ms_ =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  return true;
}

void Engine::install_serving(std::shared_ptr<const models::Recommender> copy) {
  {
    std::lock_guard a(ann_mutex_);
    ann_pending_ = copy;
  }
  ann_cv_.notify_one();
  std::shared_ptr<const models::FusionRanker> ranker = ranker_->clone();
  std::shared_ptr<BatchScorer> scorer;
  if (copy && options_.batch_scoring) {
    size_t dim = 0;
    auto rows = copy->retrieval_items(dim);
    if (dim > 0 && rows.size() == size_t{copy->num_items()} * dim)
      scorer = std::make_shared<BatchScorer>(std::move(rows), dim);
  }
  std::lock_guard s(serving_mutex_);
  serving_ = std::move(copy);
  ranker_serving_ = std::move(ranker);
  scorer_ = std::move(scorer);
}

void Engine::ann_loop() {
  lower_priority(options_.background_nice, options_.background_idle);
  for (;;) {
    std::shared_ptr<const models::Recommender> model;
    std::shared_ptr<AnnIndex> index;
    uint64_t epoch = 0;
    {
      std::unique_lock a(ann_mutex_);
      ann_cv_.wait(a, [&] { return stopping_ || ann_pending_ != nullptr; });
      if (stopping_) return;
      model = std::move(ann_pending_);
      ann_pending_ = nullptr;
      ann_busy_ = true;
      index = ann_;
      epoch = ids_epoch_;
      if (epoch != ann_epoch_) index = nullptr;  // ids were rebuilt: start over
    }
    struct Idle {  // ann_busy_ = false on every way out of this iteration
      Engine& s;
      ~Idle() {
        std::lock_guard a(s.ann_mutex_);
        s.ann_busy_ = false;
      }
    } idle{*this};
    if (model->num_items() < options_.ann_min_items) continue;
    try {
      size_t dim = 0;
      const auto rows = model->retrieval_items(dim);
      if (dim == 0) continue;
      const bool fresh = !index || index->dim() != dim;
      if (fresh) index = std::make_shared<AnnIndex>(dim, options_.ann);
      const auto t0 = std::chrono::steady_clock::now();
      const size_t n = index->sync(rows);
      ann_updates_ += n;
      if (fresh) {
        // A new index is used only once it holds every item (a first build takes seconds).
        std::lock_guard a(ann_mutex_);
        ann_ = index;
        ann_epoch_ = epoch;
        log::info("serve: ANN index built over {} items ({} dims) in {:.1f} s", n, dim,
                  std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
      }
    } catch (const std::exception& e) {
      log::error("serve: ANN index update failed: {}", e.what());
    }
  }
}

std::optional<std::vector<models::ScoredItem>> Engine::ann_candidates(
    const models::Recommender& model, uint32_t user, size_t n, const std::vector<uint32_t>& exclude,
    const serve::ItemOk& ok) const {
  if (model.num_items() < options_.ann_min_items) return std::nullopt;
  std::shared_ptr<AnnIndex> index;
  {
    std::lock_guard a(ann_mutex_);
    if (ann_epoch_ == ids_epoch_) index = ann_;
  }
  std::vector<float> query;
  if (!index || !retrieval_query(model, user, query) || query.size() != index->dim())
    return std::nullopt;
  // Ask for more until enough pass the exclusions and filters (or the index is exhausted).
  const size_t size = index->size();
  std::vector<models::ScoredItem> out;
  for (size_t k = std::min(size, std::max<size_t>(2 * n + exclude.size(), 64));;
       k = std::min(size, k * 4)) {
    out.clear();
    for (const auto& s : index->search(query, k))
      if (s.item < model.num_items() &&
          !std::binary_search(exclude.begin(), exclude.end(), s.item) && ok(s.item)) {
        out.push_back(s);
        if (out.size() == n) return out;
      }
    if (k >= size) return out;
  }
}

bool Engine::retrieval_query(const models::Recommender& model, uint32_t user,
                             std::vector<float>& query) const {
  if (!options_.batch_queries) return model.retrieval_query(user, query);
  QueryJob job{&model, user, {}};
  query_batches_.submit(job);
  query = std::move(job.query);
  return !query.empty();
}

std::shared_ptr<const models::Recommender> Engine::serving() const {
  std::lock_guard s(serving_mutex_);
  return serving_;
}

void Engine::guard_and_publish(uint32_t user) {
  // Learner lock held. A model whose scores are not all finite is rolled back to the last
  // published healthy state, the live serving copy (or refitted on the learned events before
  // it if there is none); a healthy one is published, by delta when the model makes them.
  // So a broken model is never published. (The quality guard judges windows after
  // micro-batches, see judge_quality.)
  last_publish_ = std::chrono::steady_clock::now();
  if (!scores_finite(user)) {
    const std::string target = healthy_is_live_ && live_copy_ ? saved_bytes(*live_copy_) : "";
    return roll_back_to(fmt::format("the model produced non-finite scores after {} learned events",
                                    learned_count()),
                        target, healthy_learned_);
  }
  if (!publish_delta()) {
    const auto bytes = snapshot();
    if (!bytes) return;
    publish_serving(bytes);
  }
  healthy_is_live_ = true;
  healthy_learned_ = learned_count();
  if (options_.checkpoint_s > 0 && std::chrono::steady_clock::now() - last_checkpoint_ >=
                                       std::chrono::duration<double>(options_.checkpoint_s)) {
    write_checkpoint();
  }
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

void Engine::write_checkpoint() {
  last_checkpoint_ = std::chrono::steady_clock::now();
  if (options_.checkpoint_s <= 0 || erasing_) return;
  try {
    if (!can_snapshot_) return;
    std::vector<std::string> users, items;
    {
      std::shared_lock state(state_mutex_);
      users = users_.users().ids();
      items = users_.items().ids();
    }
    models::write_artifact(checkpoint_path(), options_.model, *model_, users, items, covered_seq_);
  } catch (const Error& e) {
    if (e.kind() == ErrorKind::kUnsupported) {
      can_snapshot_ = false;
      return;
    }
    log::error("serve: writing the model checkpoint '{}' failed: {}", checkpoint_path(), e.what());
  } catch (const std::exception& e) {
    log::error("serve: writing the model checkpoint '{}' failed: {}", checkpoint_path(), e.what());
  }
}

std::unique_ptr<models::Artifact> Engine::read_checkpoint() const {
  const std::string path = checkpoint_path();
  if (options_.checkpoint_s <= 0 || !std::filesystem::exists(path)) return nullptr;
  try {
    auto c = std::make_unique<models::Artifact>(models::read_artifact(path));
    if (c->spec != options_.model) {
      log::warn("serve: checkpoint '{}' is of model {}, not {}: not resuming from it", path,
                c->spec, options_.model);
      return nullptr;
    }
    SR_CHECK(c->covered_seq <= log_.last_seq(), ErrorKind::kCorrupt,
             "it covers event {}, past the log's last ({})", c->covered_seq, log_.last_seq());
    if (!c->model->supports_online() && c->covered_seq < log_.last_seq()) {
      log::info(
          "serve: model {} does not learn online: refitting on the log, not resuming "
          "from checkpoint '{}' (events were logged after it)",
          c->spec, path);
      return nullptr;
    }
    return c;
  } catch (const std::exception& e) {
    log::warn("serve: checkpoint '{}' not used ({}): refitting on the log", path, e.what());
    return nullptr;
  }
}

void Engine::judge_quality() {
  if (quality_.judge() == QualityWindow::Verdict::kFail) {
    roll_back_to(fmt::format("live HR@10 {:.4f} over the last {} checks fell below {:.0f}% of "
                             "the window before",
                             quality_.last_hr(), quality_.last_checks(),
                             100 * (1 - options_.quality_margin)),
                 good_snapshot_, good_learned_);
  } else if (!window_snapshot_.empty()) {
    good_snapshot_ = std::move(window_snapshot_);
    good_learned_ = window_learned_;
  }
  start_quality_window(/*rebaseline=*/false, learned_count());
}

void Engine::start_quality_window(bool rebaseline, size_t learned) {
  quality_.reset(rebaseline);
  window_snapshot_ = options_.quality_margin > 0 ? snapshot().value_or("") : "";
  window_learned_ = learned;
}

void Engine::roll_back_to(const std::string& why, const std::string& target, size_t learned) {
  std::unique_ptr<models::Recommender> fresh;
  std::string how;
  {
    std::shared_lock state(state_mutex_);
    // The catalog as it is now, not as it was then.
    const auto prepare = [&](models::Recommender& m) { give_attributes(m); };
    if (!target.empty()) {
      fresh = loaded_model(options_.model, target, "guard snapshot");
      prepare(*fresh);
      how = fmt::format("the snapshot after {} events", learned);
    } else {
      std::vector<data::Interaction> events(learned_events_.begin(),
                                            learned_events_.begin() + learned);
      fresh = train::fit_fresh(options_.model, users_.users().size(), users_.items().size(),
                               std::move(events), 0, prepare)
                  .model;
      how = fmt::format("a refit on the first {} events", learned);
    }
  }
  model_ = std::move(fresh);
  const auto bytes = snapshot();
  publish_version("guard rollback", learned_count(), bytes);
  publish_serving(bytes);
  {
    std::lock_guard m(metrics_mutex_);
    ++rollbacks_;
  }
  log::error("serve: guard: {}; rolled back to {} (now version {})", why, how,
             model_version_.load());
}

void Engine::publish_version(const std::string& reason, size_t events_learned,
                             const std::optional<std::string>& bytes) {
  // Learner lock held. Records the new version with its snapshot, if the model can save.
  VersionInfo v;
  v.version = ++model_version_;
  v.created_ms = unix_ms();
  v.reason = reason;
  v.events_learned = events_learned;
  {
    std::lock_guard m(metrics_mutex_);
    v.live_hr10 = live_means().first;
  }
  v.restorable = bytes.has_value();
  versions_.push_back({v, bytes.value_or("")});
  while (versions_.size() > options_.keep_versions) versions_.pop_front();
}

std::vector<VersionInfo> Engine::versions() const {
  std::lock_guard learner(learner_mutex_);
  std::vector<VersionInfo> out;
  for (const auto& [info, bytes] : versions_) out.push_back(info);
  return out;
}

uint64_t Engine::rollback_to(uint64_t version) {
  std::lock_guard learner(learner_mutex_);
  auto it = std::find_if(versions_.begin(), versions_.end(),
                         [&](const auto& v) { return v.first.version == version; });
  SR_INPUT_CHECK(it != versions_.end(), "version {} is not kept (see /v1/model/versions)", version);
  SR_CHECK(it->first.restorable, ErrorKind::kUnsupported,
           "version {} has no snapshot: model {} cannot save its state", version, options_.model);
  auto fresh = loaded_model(options_.model, it->second, fmt::format("version {}", version));
  {
    std::shared_lock state(state_mutex_);
    give_attributes(*fresh);  // the catalog as it is now, not as it was then
  }
  model_ = std::move(fresh);
  const auto bytes = snapshot();
  publish_version(fmt::format("rollback to {}", version), learned_count(), bytes);
  publish_serving(bytes);
  start_quality_window(/*rebaseline=*/true, learned_count());
  log::info("serve: rolled back to version {}, now version {}", version, model_version_.load());
  return model_version_;
}

bool Engine::start_retrain(bool scheduled) {
  std::lock_guard r(retrain_mutex_);
  if (retrain_.running) return false;
  if (retrainer_.joinable()) retrainer_.join();
  retrain_ = RetrainStatus{};
  retrain_.running = true;
  retrain_.scheduled = scheduled;
  retrain_.started_ms = unix_ms();
  retrainer_ = std::thread([this] { retrain(); });
  return true;
}

size_t Engine::catch_up_and_swap(std::unique_ptr<models::Recommender> fresh, size_t fitted,
                                 uint64_t version) {
  // Catch up on what was learned meanwhile: most of it with only a read lock on the state,
  // the rest under the learner lock, then swap and publish. A new version meanwhile (a
  // deletion, a rollback) voids the result.
  size_t done = fitted;
  for (int pass = 0; pass < 2; ++pass) {
    std::unique_lock<std::mutex> learner(learner_mutex_, std::defer_lock);
    if (pass == 1) learner.lock();
    std::vector<data::Interaction> more;
    {
      std::shared_lock state(state_mutex_);
      SR_CHECK(model_version_ == version, ErrorKind::kInvalidInput,
               "the model was replaced during the retrain; retrain again");
      more.assign(learned_events_.begin() + done, learned_events_.end());
      done = learned_events_.size();
      if (pass == 1) give_attributes(*fresh);  // catalog changes during the retrain
    }
    for (const auto& e : more) fresh->observe(e);
    fresh->flush();
    if (pass == 1) {  // still under the learner lock: swap and publish
      model_ = std::move(fresh);
      const auto bytes = snapshot();
      publish_version("retrain", done, bytes);
      publish_serving(bytes);
      start_quality_window(/*rebaseline=*/true, done);
    }
  }
  return done;
}

void Engine::retrain() {
  lower_priority(options_.background_nice, options_.background_idle);
  // 1. Snapshot (exclusive lock, brief): the events learned so far and the id counts.
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<data::Interaction> events;
  uint32_t n_users = 0, n_items = 0;
  uint64_t version = 0;
  {
    std::lock_guard learner(learner_mutex_);
    std::shared_lock state(state_mutex_);
    events = learned_events_;
    n_users = users_.users().size();
    n_items = users_.items().size();
    version = model_version_;
  }
  const size_t fitted = events.size();
  std::string error;
  bool accepted = false;
  double holdout_hr = 0, live_hr = 0;
  uint64_t holdout_checks = 0;
  try {
    // 2. Fit a fresh model without any lock: serving and online learning go on. The
    //    newest events are held out of the fit, then tested and learned in order.
    auto fit = train::fit_fresh(options_.model, n_users, n_items, std::move(events),
                                std::min(options_.retrain_holdout, fitted / 10),
                                [&](models::Recommender& m) {
                                  std::shared_lock state(state_mutex_);
                                  give_attributes(m);
                                });
    auto fresh = std::move(fit.model);
    holdout_hr = fit.holdout_hr10;
    holdout_checks = fit.holdout_checks;
    {
      std::lock_guard m(metrics_mutex_);
      live_hr = live_means().first;
    }
    accepted = holdout_checks < 30 || holdout_hr >= (1 - options_.retrain_margin) * live_hr;
    if (!accepted)
      log::warn(
          "serve: retrain refused: HR@10 {:.4f} on {} held-out checks is below {:.0f}% of the "
          "live model's {:.4f}; the live model stays",
          holdout_hr, holdout_checks, 100 * (1 - options_.retrain_margin), live_hr);
    const size_t done = accepted ? catch_up_and_swap(std::move(fresh), fitted, version) : fitted;
    std::lock_guard r(retrain_mutex_);
    retrain_.events_fitted = fitted;
    retrain_.events_caught_up = done - fitted;
    retrain_.holdout_hr10 = holdout_hr;
    retrain_.live_hr10 = live_hr;
    retrain_.holdout_checks = holdout_checks;
    retrain_.accepted = accepted;
  } catch (const std::exception& e) {
    error = e.what();
    log::error("serve: retrain failed: {}", error);
  }
  std::lock_guard r(retrain_mutex_);
  retrain_.running = false;
  retrain_.error = error;
  retrain_.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  retrain_.finished_ms = unix_ms();
  if (error.empty() && accepted)
    log::info("serve: retrained {} on {} events in {:.1f} s, caught up {} events, now version {}",
              options_.model, retrain_.events_fitted, retrain_.seconds, retrain_.events_caught_up,
              model_version());
}

void Engine::prepare_request_thread() { models::use_only_this_thread(); }

uint64_t Engine::model_version() const { return model_version_; }

RetrainStatus Engine::retrain_status() const {
  std::lock_guard r(retrain_mutex_);
  return retrain_;
}

void Engine::wait_learned() const { queue_.wait_learned(); }

std::vector<Recommendation> Engine::popular(size_t n, const ItemFilter& filter) const {
  std::shared_lock lock(state_mutex_);
  return serve::by_counts(users_, item_stats_, item_stats_.popular(), n, filter, "popular",
                          unix_seconds());
}

std::vector<Recommendation> Engine::trending(size_t n, const ItemFilter& filter) const {
  std::shared_lock lock(state_mutex_);
  return serve::by_counts(users_, item_stats_, item_stats_.trending(), n, filter, "trending",
                          unix_seconds());
}

void Engine::upsert_items(std::span<const store::ItemRecord> items) {
  const int64_t now = unix_seconds();
  std::vector<store::ItemRecord> records(items.begin(), items.end());
  for (size_t x = 0; x < records.size(); ++x) {
    const auto& r = records[x];
    SR_INPUT_CHECK(!r.id.empty() && r.id.size() <= kMaxIdLength,
                   "item {}: field 'id' must be 1 to {} characters", x, kMaxIdLength);
    for (const auto& [k, v] : r.attrs.numeric)
      SR_INPUT_CHECK(std::isfinite(v), "item {}: attribute '{}' is not a finite number", x, k);
    SR_INPUT_CHECK(r.expires_at >= 0, "item {}: field 'expires_at' {} is negative", x,
                   r.expires_at);
  }
  {
    std::shared_lock state(state_mutex_);
    for (auto& r : records) {
      const uint32_t i = users_.items().find(r.id);
      const auto* old = i == IdMap::kMissing ? nullptr : item_stats_.record(i);
      r.created_at = old ? old->created_at : now;
    }
  }
  catalog_.put_items(records);  // durable before visible or acknowledged
  std::vector<uint32_t> indices;
  std::vector<data::ItemAttributes> attrs;
  {
    std::unique_lock state(state_mutex_);
    for (auto& r : records) {
      const uint32_t i = users_.items().insert(r.id);
      indices.push_back(i);
      attrs.push_back(tower_attributes(r));
      item_stats_.set_record(i, std::move(r));
    }
  }
  // The learning model's item tower takes the new attributes at once (a new item gets a
  // content vector before its first event); the next publish carries them to serving.
  std::lock_guard learner(learner_mutex_);
  model_->set_item_attributes(indices, attrs);
  content_changed_ = true;
}

void Engine::upsert_users(std::span<const store::UserRecord> users) {
  for (size_t x = 0; x < users.size(); ++x) {
    SR_INPUT_CHECK(!users[x].id.empty() && users[x].id.size() <= kMaxIdLength,
                   "user {}: field 'id' must be 1 to {} characters", x, kMaxIdLength);
    for (const auto& [k, v] : users[x].attrs.numeric)
      SR_INPUT_CHECK(std::isfinite(v), "user {}: attribute '{}' is not a finite number", x, k);
  }
  catalog_.put_users(users);
}

std::optional<ItemInfo> Engine::item(const std::string& id) const {
  std::shared_lock state(state_mutex_);
  const uint32_t i = users_.items().find(id);
  if (i == IdMap::kMissing) return std::nullopt;
  ItemInfo info;
  if (const auto* r = item_stats_.record(i)) info.record = *r;
  info.events = item_stats_.events(i);
  info.popularity = item_stats_.popular().weights()[i];
  info.trending = item_stats_.trending().weights()[i];
  info.first_seen = item_stats_.first_seen(i);
  info.recommendable = item_stats_.recommendable(i, unix_seconds());
  return info;
}

Engine::Activity Engine::item_activity(const std::string& id, size_t buckets) const {
  SR_INPUT_CHECK(buckets > 0 && buckets <= 1000, "parameter 'buckets' must be 1 to 1000, got {}",
                 buckets);
  std::shared_lock state(state_mutex_);
  const uint32_t i = users_.items().find(id);
  SR_INPUT_CHECK(i != IdMap::kMissing, "unknown item '{}'", id);
  Activity a;
  a.counts.assign(buckets, 0);
  if (learned_events_.empty()) return a;
  int64_t lo = learned_events_.front().timestamp, hi = lo;
  for (const auto& e : learned_events_) {
    lo = std::min(lo, e.timestamp);
    hi = std::max(hi, e.timestamp);
  }
  a.start = lo;
  a.bucket_seconds = std::max<int64_t>(1, (hi - lo + static_cast<int64_t>(buckets)) / buckets);
  for (const auto& e : learned_events_)
    if (e.item == i)
      ++a.counts[std::min<size_t>(buckets - 1, (e.timestamp - lo) / a.bucket_seconds)];
  return a;
}

std::optional<store::UserRecord> Engine::user(const std::string& id) const {
  return catalog_.user(id);
}

std::vector<Recommendation> Engine::recommend(const RecommendRequest& r) const {
  SR_INPUT_CHECK(r.n > 0 && r.n <= 1000, "field 'n' must be 1 to 1000, got {}", r.n);
  SR_INPUT_CHECK(r.diversity >= 0 && r.diversity <= 1, "field 'diversity' must be 0 to 1, got {}",
                 r.diversity);
  SR_INPUT_CHECK(r.explore >= 0 && r.explore <= 1, "field 'explore' must be 0 to 1, got {}",
                 r.explore);
  if (const auto copy = serving()) {
    std::shared_lock state(state_mutex_);
    return recommend_with(*copy, r);
  }
  std::lock_guard learner(learner_mutex_);  // a model without snapshots: the learning one
  std::shared_lock state(state_mutex_);
  return recommend_with(*model_, r);
}

std::vector<Recommendation> Engine::recommend_with(const models::Recommender& model,
                                                   const RecommendRequest& r) const {
  // State lock held (shared).
  std::shared_ptr<const models::FusionRanker> ranker;
  const bool use = options_.ranker == "on" || (options_.ranker == "auto" && ranker_ahead_);
  if (r.ranker.value_or(use)) {
    std::lock_guard s(serving_mutex_);
    ranker = ranker_serving_;
  }
  if (ranker && ranker->steps() == 0) ranker = nullptr;  // nothing learned yet
  serve::ServingView view{model, users_, item_stats_, ranker.get(), {}, {}, pipeline_options_};
  view.ann = [&](uint32_t user, size_t n, const std::vector<uint32_t>& exclude,
                 const serve::ItemOk& ok) { return ann_candidates(model, user, n, exclude, ok); };
  view.score_all = [&](uint32_t user, std::span<float> scores) {
    std::shared_ptr<BatchScorer> scorer;
    {
      std::lock_guard s(serving_mutex_);
      if (serving_.get() == &model) scorer = scorer_;  // vectors of this very copy
    }
    std::vector<float> query;
    if (scorer && scorer->items() == scores.size() && retrieval_query(model, user, query) &&
        query.size() == scorer->dim())
      scorer->score(query, scores);  // = score_all up to a constant per user
    else
      model.score_all(user, scores);
  };
  return serve::recommend(view, r, unix_seconds());
}

std::vector<Recommendation> Engine::similar(const std::string& item, size_t n) const {
  const auto copy = serving();
  std::unique_lock<std::mutex> learner(learner_mutex_, std::defer_lock);
  if (!copy) learner.lock();
  std::shared_lock state(state_mutex_);
  return serve::similar_items(copy ? *copy : *model_, users_, item_stats_, item, n, unix_seconds());
}

std::vector<store::LoggedEvent> Engine::history(const std::string& user) const {
  std::shared_lock lock(state_mutex_);
  const uint32_t u = users_.users().find(user);
  if (u == IdMap::kMissing) return {};
  return {users_.history(u).begin(), users_.history(u).end()};
}

uint64_t Engine::erase_user(const std::string& user) {
  wait_learned();
  // The checkpoint holds the user's data: gone before the log forgets them (the refit
  // writes a new one).
  erasing_ = true;  // no checkpoint until the refit's (a publish could write the user back)
  std::filesystem::remove(checkpoint_path());
  const uint64_t n = log_.erase_user(user);
  catalog_.erase_user(user);
  refit_from_log("deletion");
  return n;
}

EngineStats Engine::stats() const {
  EngineStats s;
  {
    const auto c = queue_.counts();
    s.events_ingested = c.ingested;
    s.events_learned = c.learned;
    s.learn_steps = c.steps;
    s.queue = c.queue;
    s.queue_in_log = c.queue_in_log;
    s.events_via_log = c.via_log;
    s.events_logged = c.logged;
    s.freshness_p50_ms = c.freshness_p50_ms;
    s.freshness_p99_ms = c.freshness_p99_ms;
  }
  {
    std::lock_guard m(metrics_mutex_);
    std::tie(s.live_hr10, s.live_ndcg10) = live_means();
    s.ranker_in_use = options_.ranker == "on" || (options_.ranker == "auto" && ranker_ahead_);
    for (const auto& [hit, g] : ranked_) {
      s.ranked_hr10 += hit;
      s.ranked_ndcg10 += g;
    }
    if (!ranked_.empty()) {
      s.ranked_hr10 /= ranked_.size();
      s.ranked_ndcg10 /= ranked_.size();
    }
    s.live_scored = live_scored_;
    s.requests = requests_;
    s.http_requests = http_requests_;
    s.http_errors = http_errors_;
    s.rollbacks = rollbacks_;
    s.publishes_delta = publishes_delta_;
    s.publishes_full = publishes_full_;
    s.last_publish_ms = last_publish_ms_;
    s.latency_p50_ms = percentile(latency_ms_.values(), 50);
    s.latency_p99_ms = percentile(latency_ms_.values(), 99);
  }
  std::shared_lock lock(state_mutex_);
  s.users = users_.users().size();
  s.items = users_.items().size();
  s.model = options_.model;
  s.model_version = model_version_;
  s.ann_updates = ann_updates_;
  s.online_loss = online_loss_;
  s.ranker_steps = ranker_steps_;
  s.model_rows = model_rows_;
  s.model_bytes = model_bytes_;
  std::lock_guard a(ann_mutex_);
  s.ann_items = ann_ && ann_epoch_ == ids_epoch_ ? ann_->size() : 0;
  s.ann_current = s.ann_items > 0 && !ann_pending_ && !ann_busy_;
  s.query_jobs = query_batches_.jobs();
  s.query_batches = query_batches_.batches();
  return s;
}

}  // namespace streamrec::engine
