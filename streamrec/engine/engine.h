// The engine (module engine, no HTTP types): wires store (EventLog, Catalog, UserState,
// ItemStats), train (IngestQueue, Guard, Publisher, Versions, Retrainer, fit_fresh) and serve
// (ServingSnapshot, AnnUpkeep, the pipeline) for one process. It accepts events, makes them
// durable in the event log, learns from them online in a background thread, and answers
// recommendation, popularity and history queries while it learns. Its code is split by
// concern over engine_*.cpp.
//
// Concurrency: the engine itself holds two locks. learner_mutex_ guards the learning model
// and what moves with it (the Guard, the Publisher, the ranker in training), held by the
// learner thread for a whole micro-batch. state_mutex_ (shared) guards the ids, histories,
// item statistics and learned events, which queries read and the learner's short
// bookkeeping writes. Queries read the ServingSnapshot (published copies, made at most
// every publish_ms and only after the guard passed them), so they never wait for a training
// step; models that cannot save are served from the learning model under learner_mutex_.
// Lock order: learner_mutex_, then state_mutex_. The parts' own locks (IngestQueue,
// Versions, Retrainer, LiveMetrics, ServingSnapshot, AnnUpkeep) are innermost: taken under
// these or alone, never taking one of them; so is privacy_mutex_, which guards one pointer.
#pragma once

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <span>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "streamrec/core/id_map.h"
#include "streamrec/core/ring.h"
#include "streamrec/engine/checks.h"
#include "streamrec/engine/live_metrics.h"
#include "streamrec/engine/metrics.h"
#include "streamrec/engine/options.h"
#include "streamrec/engine/types.h"
#include "streamrec/models/artifact.h"
#include "streamrec/models/privacy.h"
#include "streamrec/models/ranker.h"
#include "streamrec/models/recommender.h"
#include "streamrec/serve/ann_upkeep.h"
#include "streamrec/serve/pipeline.h"
#include "streamrec/serve/request.h"
#include "streamrec/serve/rerank.h"
#include "streamrec/serve/snapshot.h"
#include "streamrec/store/catalog.h"
#include "streamrec/store/event_log.h"
#include "streamrec/store/item_stats.h"
#include "streamrec/store/user_state.h"
#include "streamrec/train/guard.h"
#include "streamrec/train/ingest_queue.h"
#include "streamrec/train/learned_events.h"
#include "streamrec/train/publisher.h"
#include "streamrec/train/replication_log.h"
#include "streamrec/train/retrainer.h"
#include "streamrec/train/versions.h"

namespace streamrec::engine {

using serve::AnnIndex;
using serve::AnnOptions;
using serve::ItemFilter;
using serve::Recommendation;
using serve::RecommendRequest;

// An item as the service knows it: its catalog record (if upserted) and live counters.
struct ItemInfo {
  std::optional<store::ItemRecord> record;
  uint64_t events = 0;
  double popularity = 0, trending = 0;  // time-decayed counts (7-day, 6-hour half-lives)
  int64_t first_seen = 0;               // event time of its first event or catalog creation
  bool recommendable = true;            // not hidden, not expired
};

using train::VersionInfo;

using train::RetrainStatus;

// What the engine makes of each model it learns with from then on (fitted at the start or
// by a retrain, resumed, rolled back), `spec` being the model's: e.g. wrapped so that MPI
// ranks learn with it in lock step (models/lockstep.h). Empty: the model as it is.
using AdoptModel = std::function<std::unique_ptr<models::Recommender>(
    std::unique_ptr<models::Recommender> model, const std::string& spec)>;

class Engine {
 public:
  // Opens the event log and, if it holds events, fits the model on them before serving.
  explicit Engine(EngineOptions options, AdoptModel adopt = {});
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Validates every event (Error(kInvalidInput) naming the index and field, nothing
  // accepted), appends the batch to the log durably, queues it for learning. Returns the
  // number accepted.
  size_t ingest(std::span<const store::LoggedEvent> events);
  // The checks ingest makes of one event (engine/checks.h, with this engine's limits);
  // Error(kInvalidInput) naming `index` and the field.
  void check_event(const store::LoggedEvent& e, size_t index) const;

  std::vector<Recommendation> recommend(const RecommendRequest& request) const;
  // Most interacted items, recent interactions weighted up (7-day half-life of event time),
  // among the recommendable items the filter accepts. trending: the same with a 6-hour
  // half-life, so what is popular right now.
  std::vector<Recommendation> popular(size_t n, const ItemFilter& filter = {}) const;
  std::vector<Recommendation> trending(size_t n, const ItemFilter& filter = {}) const;

  // Catalog: validates every record (Error(kInvalidInput) naming the index and field,
  // nothing written), writes them durably, and makes them visible to queries. An item's
  // created_at is kept from its first upsert.
  void upsert_items(std::span<const store::ItemRecord> items);
  void upsert_users(std::span<const store::UserRecord> users);
  std::optional<ItemInfo> item(const std::string& id) const;
  std::optional<store::UserRecord> user(const std::string& id) const;
  // The item's events over time: `buckets` equal spans of event time from the first learned
  // event to the newest. Error(kInvalidInput) for an unknown item or buckets not 1..1000.
  struct Activity {
    int64_t start = 0, bucket_seconds = 1;
    std::vector<uint32_t> counts;
  };
  Activity item_activity(const std::string& id, size_t buckets) const;
  // Items most like `item` by cosine of the model's item vectors. Error(kInvalidInput) for
  // an unknown item, kUnsupported if the model has no item vectors.
  std::vector<Recommendation> similar(const std::string& item, size_t n) const;
  // The user's most recent events, newest last (empty for unknown users).
  std::vector<store::LoggedEvent> history(const std::string& user) const;
  // Removes the user's events from the log, their record and their history from memory; the
  // model (and the fusion ranker) is refitted on the remaining log so no learned trace of
  // them is left. Returns the number of events removed; nullopt for a user the engine does
  // not know (nothing changes then).
  std::optional<uint64_t> erase_user(const std::string& user);

  // Batch update: fits a fresh model on every event learned so far in a background thread
  // while serving and online learning go on, replays the events learned meanwhile into it,
  // and swaps it in. Returns false if a retrain is already running.
  bool start_retrain(bool scheduled = false);
  RetrainStatus retrain_status() const;
  uint64_t model_version() const;
  const std::string& model_spec() const { return options_.model; }
  // What the live model spent of its differential privacy (null: no DP), and with every
  // model published since the start composed (epsilon_all_versions): /v1/model.
  std::shared_ptr<const models::PrivacyReport> privacy() const;
  // The kept versions, oldest first.
  std::vector<VersionInfo> versions() const;
  // Makes a kept version's snapshot the live model again (as a new version, learning goes
  // on from it). Error(kInvalidInput) for a version not kept, kUnsupported without a
  // snapshot. Returns the new version number.
  uint64_t rollback_to(uint64_t version);

  // Replication, the leader's side (engine_replica.cpp). A replica's full snapshot: the
  // live serving copy with the state queries read (ids, histories, counters, item records)
  // as of one publish. Error(kUnsupported) for a model that cannot save.
  std::string replication_snapshot() const;
  // The publishes after `after` of `epoch`, encoded (waiting up to `wait` for one), or
  // nullopt when that position cannot be followed (the replica takes a snapshot).
  // `follower` (may be empty) names the replica in replicas().
  std::optional<std::string> replication_updates(uint64_t epoch, uint64_t after,
                                                 std::chrono::milliseconds wait,
                                                 const std::string& follower) const;
  // The replicas that polled in the last 10 s.
  std::vector<train::FollowerInfo> replicas() const;

  // Replication, the replica's side (options.follow set): no log, no learning; the state
  // and serving copies come from the leader's snapshot and publishes, in order.
  bool is_replica() const { return !options_.follow.empty(); }
  const std::string& leader() const { return options_.follow; }
  struct FollowPosition {
    bool loaded = false;  // a snapshot was applied
    uint64_t epoch = 0, applied = 0;
  };
  FollowPosition follow_position() const;
  // Replaces the state and serving copy with a snapshot's (Error(kCorrupt) if it does not
  // parse; nothing changes then).
  void follow_snapshot(std::string_view bytes);
  // Applies encoded publishes in order; false when they do not follow what was applied (a
  // gap, another epoch, a delta of another version, ids that disagree): take a snapshot.
  bool follow_updates(std::string_view bytes);
  // The last poll's outcome (ok: the leader answered), for lag_ms and stale.
  void note_leader_contact(bool ok);

  // Blocks until every event ingested so far has been learned and is visible to queries.
  void wait_learned() const;
  EngineStats stats() const;
  // The last hour of per-second metrics, oldest first.
  std::vector<MetricsPoint> history_points() const;
  // Records the latency of one recommendation request (the API layer calls this).
  void record_request(double milliseconds);
  // Call first on each thread that will serve requests: the models' tensor operators run
  // on that thread alone (no OpenMP team per request thread).
  static void prepare_request_thread();
  // Counts one API request, and one answered with an error (4xx/5xx).
  void count_http_request() { metrics_.count_http_request(); }
  void count_http_error() { metrics_.count_http_error(); }
  static constexpr auto kLatencyBuckets = LiveMetrics::kLatencyBuckets;
  using LatencyHistogram = LiveMetrics::LatencyHistogram;
  LatencyHistogram latency_histogram() const;

 private:
  void learner_loop();
  void retrain(train::RetrainStatus& status);  // the Retrainer's job
  // Retrain thread: learns into `fresh` (fitted on the first `fitted` learned events) what
  // was learned since, then swaps it in and publishes it; Error(kInvalidInput) if the model
  // version moved past `version` meanwhile. Returns the learned events it covers.
  size_t catch_up_and_swap(std::unique_ptr<models::Recommender> fresh, size_t fitted,
                           uint64_t version);
  // Whether `model` scores every item finitely for `user` and a spread of the first `users`
  // users (0: every known user).
  bool scores_finite(const models::Recommender& model, uint32_t user, uint32_t users = 0) const;
  // Why a retrain's fresh model (fitted over `users` users, checked on the held-out events
  // in `status`) may not replace the live one, or nullopt when it may.
  std::optional<std::string> retrain_refusal(const train::RetrainStatus& status,
                                             const models::Recommender& fresh,
                                             uint32_t users) const;
  // Learner thread: publishes what was learned when due (publish_ms) or awaited.
  void maybe_publish();
  // Learner lock held: check the model (roll back if broken), publish a healthy one as the
  // serving copy.
  void guard_and_publish(uint32_t user);
  // Learner lock held: replaces the learning model with the guard's target and publishes it.
  void roll_back_to(const train::Guard::Target& target);
  // Learner lock held, after a micro-batch: the guard judges the full quality window (a
  // failure rolls back); either way a new window starts.
  void judge_quality();
  // Learner lock held: a new quality window starts from the current model (and baseline).
  void start_quality_window(bool rebaseline, size_t learned);
  // The learning model's state as bytes, or nullopt if it cannot save.
  std::optional<std::string> snapshot();
  // Publishes the learning model's state `bytes` in full (Publisher::publish_full).
  void publish_serving(const std::optional<std::string>& bytes);
  // The serving copy `copy` (with a copy of the ranker) answers queries from now on.
  void install_serving(std::shared_ptr<const models::Recommender> copy);
  size_t learned_count() const;
  // Learner lock held: `fresh` becomes the learning model (through adopt_).
  void adopt(std::unique_ptr<models::Recommender> fresh);
  // Answers `r` from `model` (the published copy of `published`, or the learning model
  // when nothing is published), with `published`'s ranker and scorer.
  std::vector<Recommendation> recommend_with(const models::Recommender& model,
                                             const serve::ServingSnapshot::View& published,
                                             const RecommendRequest& r) const;
  void sampler_loop();
  // ANN candidates: the best `n` items by inner product that pass `ok` and are not in
  // `exclude`, or nullopt when ANN is not in use for this model or user.
  std::optional<std::vector<models::ScoredItem>> ann_candidates(
      const models::Recommender& model, uint32_t user, size_t n,
      const std::vector<uint32_t>& exclude, const serve::ItemOk& ok) const;
  // Prequential check of one event before it is learned (learner lock held).
  struct Check {
    size_t event = 0;              // index in the micro-batch
    std::vector<uint32_t> seen;    // the user's items before it (sorted)
    std::vector<uint32_t> recent;  // the user's last 50 items before it, oldest first
    std::string context;           // the event's context
  };
  void score_before_learning(uint32_t user, uint32_t item, const Check& check);
  // A micro-batch's bookkeeping pass (takes the state lock): ids, histories and seen sets
  // move; each event's interaction, what its counters need, and the live checks to run
  // (with what was known before each).
  struct Counted {
    int64_t timestamp;
    std::string context;
    std::vector<uint32_t> previous;  // the user's last three items before it
    bool replayed;                   // counted at the start (Queued::replayed)
  };
  struct Booked {
    std::vector<data::Interaction> xs;
    std::vector<Counted> counted;
    std::vector<Check> checks;
  };
  Booked book_batch(std::vector<train::Queued>& batch);
  // Learner lock held: one micro-batch: bookkeeping, live checks, counters, the model's
  // step, the guard's judgement and the ranker's step.
  void learn_batch(std::vector<train::Queued>& batch);
  // The state TTL (--state-ttl-s), every 10 s or each tenth of the TTL of event time: drops
  // what is older from the state
  // and the learning model, which the next publish carries to the serving copy. Learner lock.
  void maybe_expire();

  // With `resume`, the model comes from that checkpoint instead of a fit, and the events
  // logged after it are queued for the learner.
  // State lock held (exclusive), ids reset: replays the log into the state (ids,
  // histories, counters) in time order, with the catalog's records. Returns the events up
  // to `covered_seq` (the model's) and the later ones for the learner, in log order.
  struct Rebuilt {
    std::vector<data::Interaction> events;
    std::vector<train::Queued> to_learn;
  };
  Rebuilt rebuild_state(uint64_t covered_seq);
  // State lock held (exclusive): event `e` of user `u` with item `i` enters the state in one
  // step (the start's rebuild, a replica): the item's counters at `counted`, its
  // transitions with the user's last three items, then the user's history.
  void add_to_state(uint32_t u, uint32_t i, int64_t counted, store::LoggedEvent e);
  void refit_from_log(const std::string& reason,
                      std::unique_ptr<models::Artifact> resume = nullptr);
  std::string checkpoint_path() const { return options_.data_dir + "/" + models::kArtifactFile; }
  // The checkpoint in data_dir if there is a usable one (else null; a warning says why).
  std::unique_ptr<models::Artifact> read_checkpoint() const;
  // Learner lock held: writes the learning model's checkpoint (if the model can save).
  void write_checkpoint();
  // Learner lock held: `seq` was learned; moves covered_seq_ over every event learned in a row.
  void note_learned(uint64_t seq);
  void publish_version(const std::string& reason, size_t events_learned,
                       const std::optional<std::string>& bytes);
  // State lock held (any): hands the catalog's item attributes to `model` (its item tower
  // scores new items from them; models without one ignore them).
  void give_attributes(models::Recommender& model) const;
  data::Interaction to_interaction(uint32_t user, uint32_t item, const store::LoggedEvent& e) const;

  EngineOptions options_;
  InputLimits limits_;  // from options_
  serve::PipelineOptions pipeline_options_;
  store::EventLog log_;
  store::Catalog catalog_;
  train::IngestQueue queue_;  // acknowledged events on their way to the learner

  // The learning model, its versions and the guard's state: learner_mutex_.
  mutable std::mutex learner_mutex_;
  std::unique_ptr<models::Recommender> model_;
  AdoptModel adopt_;
  train::Versions versions_;  // the version number and the kept snapshots (own lock)
  std::chrono::steady_clock::time_point last_publish_{}, last_checkpoint_{}, last_expiry_{};
  // Every logged event up to covered_seq_ is in the learning model; learned_ahead_ holds the
  // later ones learned out of order (concurrent ingests queue in either order).
  uint64_t covered_seq_ = 0;
  std::set<uint64_t> learned_ahead_;
  std::atomic<bool> erasing_{false};  // a user deletion is under way: no checkpoints
  uint32_t last_user_ = 0;            // first user of the last micro-batch (the guard scores it)
  bool can_snapshot_ = true;
  train::Guard guard_;

  // Ids, histories, popularity and the learned events: state_mutex_.
  mutable std::shared_mutex state_mutex_;
  store::UserState users_;  // ids, histories, seen items
  store::ItemStats item_stats_;
  train::LearnedEvents learned_events_;  // in learning order (retrain input)
  uint64_t state_expired_ = 0;           // history events the state TTL dropped
  int64_t expired_before_ = INT64_MIN;   // event time of the last expiry's cut

  // What queries read: the published serving copy (null: serve from the learning model),
  // its ranker and batch scorer (own lock).
  serve::ServingSnapshot snapshot_;
  // Makes serving copies of the learning model (learner lock; made once the spec is known).
  std::unique_ptr<train::Publisher> publisher_;

  // The fusion ranker being trained and its examples of this micro-batch (learner lock).
  std::unique_ptr<models::FusionRanker> ranker_;
  std::vector<float> ranker_x_, ranker_y_;
  std::atomic<uint64_t> ranker_steps_{0};
  std::atomic<bool> ranker_ahead_{false};  // ranker_wins() after the last ranker step
  // Catalog attributes reached the learning model since the last publish (publish even
  // without new events, so new items' content vectors reach the serving copy).
  std::atomic<bool> content_changed_{false};

  std::atomic<bool> stopping_{false};  // the destructor runs: background loops end
  std::thread learner_;

  LiveMetrics metrics_;  // live quality, requests, latency, the history (own lock)
  std::condition_variable_any sampler_cv_;
  std::thread sampler_;

  serve::AnnUpkeep ann_;  // the ANN index kept in step with the serving copies (own lock)
  // The learning model's figures for stats (note_model_state, learner lock held).
  std::atomic<double> online_loss_{0};
  std::atomic<uint64_t> model_rows_{0}, model_bytes_{0};
  // (A mutex, not std::atomic<shared_ptr>: libstdc++ 12's lock bit is invisible to TSan.)
  mutable std::mutex privacy_mutex_;
  std::shared_ptr<const models::PrivacyReport> privacy_;  // privacy_mutex_
  // What the models replaced since the start spent (DP), and the model last noted.
  models::RdpAccountant privacy_retired_;
  const models::Recommender* noted_model_ = nullptr;
  void note_model_state();

  std::atomic<int64_t> start_ms_{0};  // wall clock at start (the retrain schedule's origin)

  // Leader: the publishes replicas follow (own lock); the next publish is a reset (ids
  // were rebuilt; learner lock).
  mutable train::ReplicationLog replication_;
  bool replication_reset_ = true;
  void on_published(bool full, const std::string& bytes);
  // Leader, state lock held (exclusive): a state change replicas must make too.
  void replicate_event(uint32_t u, uint32_t i, int64_t counted_time, const store::LoggedEvent& e);
  void replicate_item(uint32_t i, const store::ItemRecord& r);
  void replicate_expiry(int64_t before);
  void replicate_user(const store::UserRecord& r);
  // Replica: where it stands (learner lock).
  struct Following {
    bool loaded = false;
    uint64_t epoch = 0, applied = 0, version = 0;
    uint64_t head = 0;  // the leader's last publish, as of its last answer
    uint32_t skip = 0;  // ops of record applied+1 already in the snapshot's state
    std::string spec;
    double lag_ms = 0;  // the leader's publish -> applied here, of the last record
  };
  Following following_;
  std::atomic<int64_t> replica_contact_ms_{0};  // wall ms of the last answered poll
  std::unordered_map<std::string, store::UserRecord> replica_users_;  // state lock
  // Replica, both locks held: applies one record's ops (false: ids disagree).
  bool apply_ops(std::string_view ops, uint32_t count, uint32_t skip);
  void fill_replication(EngineStats& s) const;
  // Error(kUnsupported) naming the leader on a replica: `what` goes to the leader.
  void check_leader(std::string_view what) const;
  train::Retrainer retrainer_{[this](train::RetrainStatus& s) { retrain(s); }};
};

}  // namespace streamrec::engine
