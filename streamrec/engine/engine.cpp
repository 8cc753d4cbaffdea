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
#include "streamrec/engine/engine_internal.h"
#include "streamrec/models/artifact.h"
#include "streamrec/models/registry.h"
#include "streamrec/models/threads.h"
#include "streamrec/serve/batch_scorer.h"
#include "streamrec/serve/pipeline.h"
#include "streamrec/serve/ranker_features.h"
#include "streamrec/train/fit_fresh.h"

namespace streamrec::engine {

using data::parse_context;
using serve::ItemFilter;
using serve::mmr_order;
using serve::Predicate;

Engine::Engine(EngineOptions options, AdoptModel adopt)
    : options_((check_options(options), std::move(options))),
      limits_{options_.max_future_s, options_.image_root, options_.max_value},
      pipeline_options_{options_.rank_pool, options_.context_weight, options_.fresh_seconds,
                        options_.calibrate, options_.max_category_share},
      log_((std::filesystem::create_directories(options_.data_dir), options_.data_dir + "/events"),
           store::EventLogOptions{options_.sync, options_.accept_data_loss}),
      catalog_(options_.data_dir + "/catalog", options_.sync),
      queue_(log_, options_.max_queue, options_.micro_batch),
      versions_(options_.keep_versions),
      guard_(options_.quality_margin, std::max<uint64_t>(1, options_.quality_checks)),
      users_(options_.max_history),
      snapshot_(options_.batch_scoring, options_.batch_queries),
      ann_(options_.ann, options_.ann_min_items, options_.background_nice,
           options_.background_idle),
      replication_(options_.replication_log_mb << 20) {
  adopt_ = std::move(adopt);
  start_ms_ = unix_ms();
  if (options_.blas_threads > 0) set_blas_threads(options_.blas_threads);
  std::unique_ptr<models::Artifact> artifact;
  if (!options_.model_dir.empty()) {
    artifact = std::make_unique<models::Artifact>(models::read_artifact_dir(options_.model_dir));
    options_.model = artifact->spec;
  }
  model_ = models::make_model(options_.model);  // a bad spec fails here
  publisher_ = std::make_unique<train::Publisher>(
      options_.model, [this](auto copy) { install_serving(std::move(copy)); });
  if (is_replica()) {  // no log, no fit, no learner: the leader's snapshot comes first
    ranker_ = std::make_unique<models::FusionRanker>();
    sampler_ = std::thread([this] { sampler_loop(); });
    return;
  }
  publisher_->set_published([this](bool full, const std::string& b) { on_published(full, b); });
  auto start = read_checkpoint();
  if (!start && artifact) {
    log::info("serve: starting from the model in '{}' ({}, {} users, {} items)", options_.model_dir,
              artifact->spec, artifact->users.size(), artifact->items.size());
    start = std::move(artifact);
  }
  refit_from_log("start", std::move(start));
  learner_ = std::thread([this] { learner_loop(); });
  sampler_ = std::thread([this] { sampler_loop(); });
}

Engine::~Engine() {
  stopping_ = true;
  queue_.stop();
  replication_.stop();
  retrainer_.join();
  sampler_cv_.notify_all();
  if (learner_.joinable()) learner_.join();
  sampler_.join();
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

void Engine::adopt(std::unique_ptr<models::Recommender> fresh) {
  model_ = adopt_ ? adopt_(std::move(fresh), options_.model) : std::move(fresh);
}

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

void Engine::check_event(const store::LoggedEvent& e, size_t x) const {
  engine::check_event(e, x, unix_seconds(), limits_);
}

void Engine::check_leader(std::string_view what) const {
  SR_CHECK(!is_replica(), ErrorKind::kUnsupported,
           "this server is a read replica: send {} to the leader at {}", what, options_.follow);
}

size_t Engine::ingest(std::span<const store::LoggedEvent> events) {
  check_leader("events");
  for (size_t x = 0; x < events.size(); ++x) check_event(events[x], x);
  if (events.empty()) return 0;
  const uint64_t first = log_.append(events);  // durable before acknowledged or learned
  queue_.push(first, events);
  return events.size();
}

void Engine::record_request(double ms) { metrics_.record_request(ms); }

Engine::LatencyHistogram Engine::latency_histogram() const { return metrics_.latency_histogram(); }

std::vector<MetricsPoint> Engine::history_points() const { return metrics_.points(); }

void Engine::prepare_request_thread() { models::use_only_this_thread(); }

uint64_t Engine::model_version() const {
  if (!is_replica()) return versions_.current();
  std::lock_guard learner(learner_mutex_);
  return following_.version;
}

std::shared_ptr<const models::PrivacyReport> Engine::privacy() const {
  std::lock_guard lock(privacy_mutex_);
  return privacy_;
}

RetrainStatus Engine::retrain_status() const { return retrainer_.status(); }

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
  check_leader("catalog changes");
  const int64_t now = unix_seconds();
  std::vector<store::ItemRecord> records(items.begin(), items.end());
  for (size_t x = 0; x < records.size(); ++x) check_item(records[x], x, limits_);
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
      replicate_item(i, r);
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
  check_leader("user records");
  for (size_t x = 0; x < users.size(); ++x) check_user(users[x], x);
  catalog_.put_users(users);
  // After the write: a snapshot meanwhile may hold a record and apply it again (the same).
  for (const auto& r : users) replicate_user(r);
  content_changed_ = true;  // the next publish carries them to replicas
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
  const auto& learned = learned_events_.kept();
  if (learned.empty()) return a;
  int64_t lo = learned.front().timestamp, hi = lo;
  for (const auto& e : learned) {
    lo = std::min(lo, e.timestamp);
    hi = std::max(hi, e.timestamp);
  }
  a.start = lo;
  a.bucket_seconds = std::max<int64_t>(1, (hi - lo + static_cast<int64_t>(buckets)) / buckets);
  for (const auto& e : learned)
    if (e.item == i)
      ++a.counts[std::min<size_t>(buckets - 1, (e.timestamp - lo) / a.bucket_seconds)];
  return a;
}

std::optional<store::UserRecord> Engine::user(const std::string& id) const {
  if (is_replica()) {
    std::shared_lock state(state_mutex_);
    const auto it = replica_users_.find(id);
    return it == replica_users_.end() ? std::nullopt : std::make_optional(it->second);
  }
  return catalog_.user(id);
}

std::vector<Recommendation> Engine::recommend(const RecommendRequest& r) const {
  SR_INPUT_CHECK(r.n > 0 && r.n <= 1000, "field 'n' must be 1 to 1000, got {}", r.n);
  SR_INPUT_CHECK(r.diversity >= 0 && r.diversity <= 1, "field 'diversity' must be 0 to 1, got {}",
                 r.diversity);
  SR_INPUT_CHECK(r.explore >= 0 && r.explore <= 1, "field 'explore' must be 0 to 1, got {}",
                 r.explore);
  SR_INPUT_CHECK(!r.calibrate || (*r.calibrate >= 0 && *r.calibrate <= 1),
                 "field 'calibrate' must be 0 to 1, got {}", r.calibrate.value_or(0));
  SR_INPUT_CHECK(!r.max_category_share || (*r.max_category_share > 0 && *r.max_category_share <= 1),
                 "field 'max_category_share' must be above 0 and at most 1, got {}",
                 r.max_category_share.value_or(1));
  // One read of the snapshot: the model, its ranker and its scorer of the same publish.
  const auto published = snapshot_.view();
  SR_CHECK(published.model || !is_replica(), ErrorKind::kUnsupported,
           "this replica has not loaded the leader's snapshot yet ({})", options_.follow);
  if (published.model) {
    std::shared_lock state(state_mutex_);
    return recommend_with(*published.model, published, r);
  }
  std::lock_guard learner(learner_mutex_);  // a model without snapshots: the learning one
  std::shared_lock state(state_mutex_);
  return recommend_with(*model_, published, r);
}

std::vector<Recommendation> Engine::recommend_with(const models::Recommender& model,
                                                   const serve::ServingSnapshot::View& published,
                                                   const RecommendRequest& r) const {
  // State lock held (shared).
  std::shared_ptr<const models::FusionRanker> ranker;
  const bool use = options_.ranker == "on" || (options_.ranker == "auto" && ranker_ahead_);
  if (r.ranker.value_or(use)) ranker = published.ranker;
  if (ranker && ranker->steps() == 0) ranker = nullptr;  // nothing learned yet
  serve::ServingView view{model, users_, item_stats_, ranker.get(), {}, {}, pipeline_options_};
  view.ann = [&](uint32_t user, size_t n, const std::vector<uint32_t>& exclude,
                 const serve::ItemOk& ok) { return ann_candidates(model, user, n, exclude, ok); };
  view.score_all = [&](uint32_t user, std::span<float> scores) {
    // The scorer holds the vectors of this very copy only.
    const auto& scorer = published.model.get() == &model ? published.scorer : nullptr;
    std::vector<float> query;
    if (scorer && scorer->items() == scores.size() &&
        snapshot_.retrieval_query(model, user, query) && query.size() == scorer->dim())
      scorer->score(query, scores);  // = score_all up to a constant per user
    else
      model.score_all(user, scores);
  };
  return serve::recommend(view, r, unix_seconds());
}

std::vector<Recommendation> Engine::similar(const std::string& item, size_t n) const {
  const auto copy = snapshot_.model();
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
  metrics_.fill(s);
  fill_replication(s);  // (takes the learner lock on a replica: before the state lock)
  s.ranker_in_use = options_.ranker == "on" || (options_.ranker == "auto" && ranker_ahead_);
  s.publishes_delta = publisher_->delta_publishes();
  s.publishes_full = publisher_->full_publishes();
  s.last_publish_ms = publisher_->last_publish_ms();
  std::shared_lock lock(state_mutex_);
  s.users = users_.users().size();
  s.state_expired = state_expired_;
  s.items = users_.items().size();
  if (!is_replica()) {
    s.model = options_.model;
    s.model_version = versions_.current();
  }
  const auto ann = ann_.status();
  s.ann_updates = ann.updates;
  s.online_loss = online_loss_;
  if (const auto p = privacy()) {
    s.dp_epsilon = p->epsilon;
    s.dp_online_steps = p->online_steps;
  } else {
    s.dp_epsilon = std::numeric_limits<double>::quiet_NaN();
  }
  s.ranker_steps = ranker_steps_;
  s.model_rows = model_rows_;
  s.model_bytes = model_bytes_;
  s.ann_items = ann.items;
  s.ann_current = ann.current;
  s.query_jobs = snapshot_.query_jobs();
  s.query_batches = snapshot_.query_batches();
  return s;
}

}  // namespace streamrec::engine
