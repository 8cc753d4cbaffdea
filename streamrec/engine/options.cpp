#include "streamrec/engine/options.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include <fmt/ranges.h>

#include "streamrec/core/error.h"

namespace streamrec::engine {
namespace {

#define SR_FIELD(f) [](EngineOptions& o) -> OptionRef { return &o.f; }

constexpr double kAny = std::numeric_limits<double>::max();

const std::vector<EngineOption>& table() {
  static const std::vector<EngineOption> options = {
      {"--model", "model spec (see `streamrec models`)", SR_FIELD(model), 0, 0, {}},
      {"--model-dir",
       "start from the model `streamrec train --out DIR` wrote (no fit) and learn online from "
       "there; its spec replaces --model, and a newer checkpoint in --data-dir wins",
       SR_FIELD(model_dir),
       0,
       0,
       {}},
      {"--data-dir",
       "durable state: event log, catalog, model checkpoint",
       SR_FIELD(data_dir),
       0,
       0,
       {}},
      {"--max-future-s",
       "events more than this many seconds ahead of the server's clock are refused (400)",
       SR_FIELD(max_future_s),
       0,
       10 * 365 * 86400.0,
       {}},
      {"--accept-data-loss",
       "start even when the event log lost acknowledged events (a damaged write-ahead log), "
       "keeping those before the damage; without it such a start fails saying so",
       SR_FIELD(accept_data_loss),
       0,
       1,
       {}},
      {"--max-value",
       "largest event value: a rating is -max..max, an implicit event's weight 0..max (400)",
       SR_FIELD(max_value),
       1e-6,
       std::numeric_limits<float>::max(),
       {}},
      {"--image-root",
       "directory item images may come from: an item's 'image' is a path relative to it (no "
       "'..', no link out of it, a regular file); empty: the API takes no image paths",
       SR_FIELD(image_root),
       0,
       0,
       {}},
      {"--micro-batch",
       "events per online learning step at most",
       SR_FIELD(micro_batch),
       1,
       1e6,
       {}},
      // About 150 bytes an event: the default bounds the queue near 150 MB under a burst.
      {"--max-queue",
       "events the learner's queue holds in memory; more wait in the log",
       SR_FIELD(max_queue),
       1,
       kAny,
       {}},
      {"--flush-ms",
       "a partial micro-batch is learned after this many milliseconds",
       SR_FIELD(flush_ms),
       1,
       60000,
       {}},
      {"--max-history",
       "recent events kept per user for queries",
       SR_FIELD(max_history),
       1,
       1e6,
       {}},
      {"--state-ttl-s",
       "forget in-memory state older than this many seconds of event time before the newest "
       "event, checked every 10 s: user histories and seen items (a user with none left is "
       "served as new), item-to-item transitions, the retrain window, seq's item rows and "
       "sequences; the log keeps every event (0: keep all)",
       SR_FIELD(state_ttl_s),
       0,
       kAny,
       {}},
      {"--live-checks",
       "live prequential checks per micro-batch at most (0: none)",
       SR_FIELD(live_checks),
       0,
       1e6,
       {}},
      {"--follow",
       "be a read replica of the leader at this URL (http://host:port): serve its published "
       "model and state, kept current from its deltas; writes are redirected to it (307)",
       SR_FIELD(follow),
       0,
       0,
       {}},
      {"--replication-log-mb",
       "a leader keeps its last publishes (deltas and state changes) up to this many MB for "
       "replicas to follow; one further behind reloads a full snapshot",
       SR_FIELD(replication_log_mb),
       1,
       1e6,
       {}},
      {"--publish-ms",
       "guard check + serving-copy publish interval in milliseconds (0: every micro-batch)",
       SR_FIELD(publish_ms),
       0,
       3.6e6,
       {}},
      {"--checkpoint-every",
       "seconds between model checkpoints in the data dir; a restart resumes from the last one "
       "plus the events logged after it (0: none, a restart refits)",
       SR_FIELD(checkpoint_s),
       0,
       kAny,
       {}},
      {"--keep-versions",
       "model versions kept (with snapshots) for rollback",
       SR_FIELD(keep_versions),
       1,
       1000,
       {}},
      {"--fresh-seconds",
       "items first seen this recently are fresh (exploration slots)",
       SR_FIELD(fresh_seconds),
       0,
       kAny,
       {}},
      {"--context-weight",
       "weight of the context log-lift against rank-scaled relevance",
       SR_FIELD(context_weight),
       0,
       100,
       {}},
      {"--calibrate",
       "default of the recommend parameter calibrate: pull each list's category mix toward the "
       "user's history (Steck 2018), 0 (off) to 1",
       SR_FIELD(calibrate),
       0,
       1,
       {}},
      {"--max-category-share",
       "default of the recommend parameter max_category_share: no category above this share "
       "of a list (1: no cap)",
       SR_FIELD(max_category_share),
       0.01,
       1,
       {}},
      {"--ann-min-items",
       "retrieve candidates from an HNSW index once the model has this many items (models with "
       "retrieval vectors: mf, seq)",
       SR_FIELD(ann_min_items),
       0,
       kAny,
       {}},
      {"--ann-ef", "HNSW search list size (recall vs speed)", SR_FIELD(ann.ef_search), 1, 1e5, {}},
      {"--retrain-every",
       "background retrain every this many seconds (0: only POST /v1/model/retrain)",
       SR_FIELD(retrain_every_s),
       0,
       kAny,
       {}},
      {"--retrain-margin",
       "a retrain replaces the live model only if its held-out HR@10 is at least (1 - margin) x "
       "the live HR@10",
       SR_FIELD(retrain_margin),
       0,
       1,
       {}},
      {"--retrain-holdout",
       "newest events held out of a retrain's fit to test it on",
       SR_FIELD(retrain_holdout),
       0,
       kAny,
       {}},
      {"--quality-margin",
       "roll back when a window's live HR@10 falls below (1 - margin) x the window before "
       "(0: off)",
       SR_FIELD(quality_margin),
       0,
       0.999999,
       {}},
      {"--quality-checks",
       "prequential checks per quality-guard window",
       SR_FIELD(quality_checks),
       1,
       kAny,
       {}},
      {"--ranker",
       "order recommendations with the fusion ranker: auto (when its live HR@10 over the last "
       "1,000 checks matches the model's), on, off",
       SR_FIELD(ranker),
       0,
       0,
       {"auto", "on", "off"}},
      {"--rank-pool", "candidates the fusion ranker orders", SR_FIELD(rank_pool), 1, 1000, {}},
      // Requests win the CPU when they compete with the learner, ANN upkeep and retrains.
      {"--background-nice",
       "niceness added to the learner, ANN and retrain threads",
       SR_FIELD(background_nice),
       0,
       19,
       {}},
      {"--background-idle",
       "run the learner, ANN and retrain threads under SCHED_IDLE (a core only when requests "
       "leave one free)",
       SR_FIELD(background_idle),
       0,
       1,
       {}},
      // OpenBLAS's idle workers spin after each call: with the ranker's small products on
      // every request, a second thread burnt ~20% of two cores.
      {"--blas-threads",
       "OpenBLAS threads in the server (0: the library's default)",
       SR_FIELD(blas_threads),
       0,
       1024,
       {}},
      {"--batch-scoring",
       "score concurrent requests in shared passes over the item matrix (mf, seq)",
       SR_FIELD(batch_scoring),
       0,
       1,
       {}},
      {"--batch-queries",
       "encode concurrent requests' users in one batch (deep models)",
       SR_FIELD(batch_queries),
       0,
       1,
       {}},
  };
  return options;
}

#undef SR_FIELD

void check_one(const EngineOption& o, EngineOptions& options) {
  std::visit(
      [&](auto* value) {
        using T = std::remove_pointer_t<decltype(value)>;
        if constexpr (std::is_same_v<T, std::string>) {
          SR_INPUT_CHECK(
              o.choices.empty() ||
                  std::find(o.choices.begin(), o.choices.end(), *value) != o.choices.end(),
              "{} must be one of {}, got '{}'", o.flag, fmt::join(o.choices, ", "), *value);
        } else if constexpr (!std::is_same_v<T, bool>) {
          const double v = static_cast<double>(*value);
          SR_INPUT_CHECK(std::isfinite(v) && v >= o.min && v <= o.max,
                         "{} must be {} to {}, got {}", o.flag, o.min,
                         o.max == kAny ? std::string("any") : fmt::format("{}", o.max), *value);
        }
      },
      o.field(options));
}

}  // namespace

std::span<const EngineOption> engine_options() { return table(); }

void check_options(EngineOptions& options) {
  for (const auto& o : table()) check_one(o, options);
}

}  // namespace streamrec::engine
