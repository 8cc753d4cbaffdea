// The engine's metrics, declared once (module engine). EngineStats holds one reading; the
// table kMetrics names each field once, with its type, help text, Prometheus name and
// history column. /v1/stats, /metrics, /v1/stats/history and the dashboard read the table,
// and a test holds docs/openapi.yaml to it: a new metric is one field and one row.
// Thread-safety: plain values and a constant table.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <variant>
#include <vector>

namespace streamrec::engine {

// One reading of every metric (Engine::stats). Meanings: kMetrics' help texts.
struct EngineStats {
  std::string model;
  uint64_t events_ingested = 0, events_learned = 0, events_logged = 0, learn_steps = 0;
  uint64_t users = 0, items = 0, queue = 0, queue_in_log = 0, events_via_log = 0;
  uint64_t state_expired = 0;
  double freshness_p50_ms = 0, freshness_p99_ms = 0;
  double live_hr10 = 0, live_ndcg10 = 0;
  double live_ndcg10_cold = 0, live_ndcg10_medium = 0, live_ndcg10_heavy = 0;
  uint64_t live_scored = 0;
  double ranked_hr10 = 0, ranked_ndcg10 = 0;
  uint64_t ranker_steps = 0;
  bool ranker_in_use = false;
  uint64_t requests = 0, http_requests = 0, http_errors = 0;
  double latency_p50_ms = 0, latency_p99_ms = 0;
  uint64_t model_version = 0, rollbacks = 0, publishes_delta = 0, publishes_full = 0;
  double last_publish_ms = 0;
  double online_loss = 0;
  uint64_t model_rows = 0, model_bytes = 0;
  double dp_epsilon = 0;  // NaN: the model has no differential privacy
  uint64_t dp_online_steps = 0;
  uint64_t ann_items = 0, ann_updates = 0;
  bool ann_current = false;
  uint64_t query_jobs = 0, query_batches = 0;
  std::string role = "leader";
  uint64_t replication_publish = 0, behind_publishes = 0, replicas = 0;
  double lag_ms = 0;
  bool stale = false;
};

using MetricValue = std::variant<uint64_t, double, bool, std::string>;

enum class MetricType { kCounter, kGauge, kInfo };

// How a metric enters the per-second history: not at all, as its value times `scale`, or
// as its rate per second since the previous point.
enum class History { kNone, kValue, kRate };

struct Metric {
  const char* key;  // in /v1/stats
  MetricType type;
  const char* help;
  const char* prometheus;  // name in /metrics, or nullptr
  History history;
  const char* column;  // history column (kValue, kRate), or nullptr
  double scale;        // kValue: the column is value * scale
  MetricValue (*get)(const EngineStats&);
};

// Every metric, in the order /v1/stats lists them.
std::span<const Metric> metrics();

// A metric's value as a number (bool 0/1; text NaN).
double as_number(const MetricValue& v);

// One point of the per-second history: the columns of history_columns(), in order.
struct MetricsPoint {
  int64_t time_ms = 0;  // wall clock, Unix milliseconds
  std::vector<double> values;
};
// The metrics that have a history column, in table order.
const std::vector<const Metric*>& history_columns();
// The point at `time_ms` from two readings `seconds` apart.
MetricsPoint history_point(int64_t time_ms, const EngineStats& now, const EngineStats& before,
                           double seconds);

// The Prometheus text of `s` (# HELP, # TYPE and the value of every exported metric).
std::string prometheus_text(const EngineStats& s);

// The OpenAPI components `Stats` and `StatsHistory` (YAML, indented for
// docs/openapi.yaml's `components: schemas:`), as `streamrec metrics --openapi` prints them.
std::string openapi_schemas();

}  // namespace streamrec::engine
