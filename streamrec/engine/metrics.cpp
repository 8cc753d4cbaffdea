#include "streamrec/engine/metrics.h"

#include <cmath>
#include <limits>

#include <fmt/format.h>

namespace streamrec::engine {
namespace {

// The getter of an EngineStats field.
#define SR_FIELD(f) [](const EngineStats& s) -> MetricValue { return s.f; }

constexpr auto kCounter = MetricType::kCounter;
constexpr auto kGauge = MetricType::kGauge;
constexpr auto kInfo = MetricType::kInfo;
constexpr auto kNone = History::kNone;
constexpr auto kValue = History::kValue;
constexpr auto kRate = History::kRate;

const Metric kMetrics[] = {
    {"model", kInfo, "the model spec", nullptr, kNone, nullptr, 1, SR_FIELD(model)},
    {"events_ingested", kCounter, "events accepted", "streamrec_events_ingested_total", kRate,
     "ingested_per_s", 1, SR_FIELD(events_ingested)},
    {"events_learned", kCounter, "events learned", "streamrec_events_learned_total", kRate,
     "learned_per_s", 1, SR_FIELD(events_learned)},
    {"events_logged", kGauge, "events in the durable log (all runs)", nullptr, kNone, nullptr, 1,
     SR_FIELD(events_logged)},
    {"model_version", kGauge, "+1 at every fit (start, retrain, deletion refit, rollback)", nullptr,
     kNone, nullptr, 1, SR_FIELD(model_version)},
    {"rollbacks", kCounter, "models rolled back by the guard", "streamrec_guard_rollbacks_total",
     kNone, nullptr, 1, SR_FIELD(rollbacks)},
    {"publishes_delta", kCounter, "serving-copy publishes by delta (the standby copy updated)",
     "streamrec_publishes_delta_total", kNone, nullptr, 1, SR_FIELD(publishes_delta)},
    {"publishes_full", kCounter, "serving-copy publishes by a full save and load",
     "streamrec_publishes_full_total", kNone, nullptr, 1, SR_FIELD(publishes_full)},
    {"last_publish_ms", kGauge, "duration of the last publish", "streamrec_last_publish_ms", kNone,
     nullptr, 1, SR_FIELD(last_publish_ms)},
    {"learn_steps", kCounter, "micro-batch steps", "streamrec_learn_steps_total", kNone, nullptr, 1,
     SR_FIELD(learn_steps)},
    {"queue", kGauge, "events waiting to be learned", "streamrec_learn_queue", kValue, "queue", 1,
     SR_FIELD(queue)},
    {"queue_in_log", kGauge, "of queue, those waiting in the log (past max_queue)", nullptr, kNone,
     nullptr, 1, SR_FIELD(queue_in_log)},
    {"events_via_log", kCounter, "events that waited in the log, since the start", nullptr, kNone,
     nullptr, 1, SR_FIELD(events_via_log)},
    {"state_expired", kCounter, "history events forgotten by the state TTL (--state-ttl-s)",
     "streamrec_state_expired_events_total", kNone, nullptr, 1, SR_FIELD(state_expired)},
    {"users", kGauge, "known users", "streamrec_users", kValue, "users", 1, SR_FIELD(users)},
    {"items", kGauge, "known items", "streamrec_items", kValue, "items", 1, SR_FIELD(items)},
    {"freshness_p50_ms", kGauge, "ingest to learned, p50 of the last 1000", nullptr, kValue,
     "freshness_p50_ms", 1, SR_FIELD(freshness_p50_ms)},
    {"freshness_p99_ms", kGauge, "ingest to learned, p99 of the last 1000",
     "streamrec_freshness_p99_ms", kValue, "freshness_p99_ms", 1, SR_FIELD(freshness_p99_ms)},
    {"live_hr10", kGauge, "prequential HR@10 over the last 1000 events", "streamrec_live_hr10",
     kValue, "live_hr10", 1, SR_FIELD(live_hr10)},
    {"live_ndcg10", kGauge, "prequential NDCG@10 over the last 1000 events", nullptr, kValue,
     "live_ndcg10", 1, SR_FIELD(live_ndcg10)},
    {"live_ndcg10_cold", kGauge,
     "live NDCG@10 of users with fewer than 5 items before the event (their last 1000; NaN: "
     "none)",
     "streamrec_live_ndcg10_cold", kValue, "live_ndcg10_cold", 1, SR_FIELD(live_ndcg10_cold)},
    {"live_ndcg10_medium", kGauge, "the same for users with 5 to 49 items",
     "streamrec_live_ndcg10_medium", kValue, "live_ndcg10_medium", 1, SR_FIELD(live_ndcg10_medium)},
    {"live_ndcg10_heavy", kGauge, "the same for users with 50 items or more",
     "streamrec_live_ndcg10_heavy", kValue, "live_ndcg10_heavy", 1, SR_FIELD(live_ndcg10_heavy)},
    {"live_scored", kCounter, "events checked prequentially", nullptr, kNone, nullptr, 1,
     SR_FIELD(live_scored)},
    {"ranked_hr10", kGauge, "the same HR@10 after the fusion ranker re-orders", nullptr, kValue,
     "ranked_hr10", 1, SR_FIELD(ranked_hr10)},
    {"ranked_ndcg10", kGauge, "the same NDCG@10 after the fusion ranker re-orders", nullptr, kNone,
     nullptr, 1, SR_FIELD(ranked_ndcg10)},
    {"ranker_steps", kCounter, "fusion ranker training steps", nullptr, kNone, nullptr, 1,
     SR_FIELD(ranker_steps)},
    {"ranker_in_use", kInfo, "recommendations are ordered by the ranker (by default)", nullptr,
     kNone, nullptr, 1, SR_FIELD(ranker_in_use)},
    {"online_loss", kGauge, "moving average of the online training loss (NaN: none)",
     "streamrec_online_loss", kValue, "online_loss", 1, SR_FIELD(online_loss)},
    {"model_rows", kGauge, "embedding rows of the learning model", "streamrec_model_rows", kValue,
     "model_rows", 1, SR_FIELD(model_rows)},
    {"model_bytes", kGauge, "parameter + optimizer bytes of the model", "streamrec_model_bytes",
     kValue, "model_mb", 1e-6, SR_FIELD(model_bytes)},
    {"dp_epsilon", kGauge,
     "user-level differential privacy: epsilon the model has spent, fit and online steps "
     "(NaN: no DP)",
     "streamrec_dp_epsilon", kValue, "dp_epsilon", 1, SR_FIELD(dp_epsilon)},
    {"dp_online_steps", kCounter, "online DP-SGD steps the model ran within its budget", nullptr,
     kNone, nullptr, 1, SR_FIELD(dp_online_steps)},
    {"ann_items", kGauge, "items in the ANN index (0: not in use)", "streamrec_ann_items", kNone,
     nullptr, 1, SR_FIELD(ann_items)},
    {"ann_updates", kCounter, "rows (re)inserted into the ANN index", nullptr, kNone, nullptr, 1,
     SR_FIELD(ann_updates)},
    {"ann_current", kInfo, "the ANN index holds the newest published copy's vectors", nullptr,
     kNone, nullptr, 1, SR_FIELD(ann_current)},
    {"query_jobs", kCounter, "retrieval queries of requests", nullptr, kNone, nullptr, 1,
     SR_FIELD(query_jobs)},
    {"query_batches", kCounter, "batches those queries were encoded in", nullptr, kNone, nullptr, 1,
     SR_FIELD(query_batches)},
    {"role", kInfo, "leader (learns; --follow: replica, serves the leader's publishes)", nullptr,
     kNone, nullptr, 1, SR_FIELD(role)},
    {"replication_publish", kGauge,
     "leader: the last publish replicas can follow; replica: the last one it applied",
     "streamrec_replication_publish", kNone, nullptr, 1, SR_FIELD(replication_publish)},
    {"behind_publishes", kGauge, "replica: publishes the leader made that it has not applied",
     "streamrec_replica_behind_publishes", kNone, nullptr, 1, SR_FIELD(behind_publishes)},
    {"lag_ms", kGauge,
     "replica: leader's publish to applied here, of the last publish applied; stale: time "
     "since the leader last answered",
     "streamrec_replica_lag_ms", kValue, "lag_ms", 1, SR_FIELD(lag_ms)},
    {"stale", kGauge, "replica: the leader has not answered for 3 s (serving its last publish)",
     "streamrec_replica_stale", kNone, nullptr, 1, SR_FIELD(stale)},
    {"replicas", kGauge, "leader: replicas that polled in the last 10 s", "streamrec_replicas",
     kValue, "replicas", 1, SR_FIELD(replicas)},
    {"recommend_requests", kCounter, "recommendation requests", nullptr, kRate, "requests_per_s", 1,
     SR_FIELD(requests)},
    {"latency_p50_ms", kGauge, "recommendation latency, p50 of the last 1000 requests", nullptr,
     kValue, "latency_p50_ms", 1, SR_FIELD(latency_p50_ms)},
    {"latency_p99_ms", kGauge, "recommendation latency, p99 of the last 1000 requests",
     "streamrec_recommend_latency_p99_ms", kValue, "latency_p99_ms", 1, SR_FIELD(latency_p99_ms)},
    {"requests", kCounter, "API requests", "streamrec_http_requests_total", kNone, nullptr, 1,
     SR_FIELD(http_requests)},
    {"request_errors", kCounter, "API requests answered 4xx/5xx", "streamrec_http_errors_total",
     kNone, nullptr, 1, SR_FIELD(http_errors)},
};

#undef SR_FIELD

const char* type_name(MetricType t) { return t == MetricType::kCounter ? "counter" : "gauge"; }

}  // namespace

std::span<const Metric> metrics() { return kMetrics; }

double as_number(const MetricValue& v) {
  if (const auto* u = std::get_if<uint64_t>(&v)) return static_cast<double>(*u);
  if (const auto* d = std::get_if<double>(&v)) return *d;
  if (const auto* b = std::get_if<bool>(&v)) return *b ? 1 : 0;
  return std::numeric_limits<double>::quiet_NaN();
}

const std::vector<const Metric*>& history_columns() {
  static const std::vector<const Metric*> columns = [] {
    std::vector<const Metric*> out;
    for (const auto& m : kMetrics)
      if (m.history != History::kNone) out.push_back(&m);
    return out;
  }();
  return columns;
}

MetricsPoint history_point(int64_t time_ms, const EngineStats& now, const EngineStats& before,
                           double seconds) {
  MetricsPoint p;
  p.time_ms = time_ms;
  for (const Metric* m : history_columns()) {
    const double v = as_number(m->get(now));
    p.values.push_back(m->history == History::kRate ? (v - as_number(m->get(before))) / seconds
                                                    : v * m->scale);
  }
  return p;
}

std::string prometheus_text(const EngineStats& s) {
  std::string out;
  for (const auto& m : kMetrics) {
    if (!m.prometheus) continue;
    const double v = as_number(m.get(s));
    const std::string value = std::isnan(v) ? "NaN" : fmt::format("{}", v);
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n{} {}\n", m.prometheus, m.help, m.prometheus,
                       type_name(m.type), m.prometheus, value);
  }
  return out;
}

std::string openapi_schemas() {
  static const char* kTypes[] = {"integer", "number", "boolean", "string"};
  std::string out =
      "    Stats:\n"
      "      type: object\n"
      "      description: Generated from engine/metrics.cpp (streamrec metrics --openapi).\n"
      "      properties:\n";
  for (const auto& m : kMetrics)
    out += fmt::format("        {}: {{type: {}, description: \"{}\"}}\n", m.key,
                       kTypes[m.get(EngineStats{}).index()], m.help);
  out +=
      "    StatsHistory:\n"
      "      type: object\n"
      "      description: One array per column, a value per second of the last hour.\n"
      "      properties:\n"
      "        time: {type: array, items: {type: number}, description: \"Unix seconds\"}\n";
  for (const Metric* m : history_columns())
    out +=
        fmt::format("        {}: {{type: array, items: {{type: number}}, description: \"{}{}\"}}\n",
                    m->column, m->help,
                    m->history == History::kRate ? ", per second"
                    : m->scale != 1              ? fmt::format(", times {:g}", m->scale)
                                                 : "");
  return out;
}

}  // namespace streamrec::engine
