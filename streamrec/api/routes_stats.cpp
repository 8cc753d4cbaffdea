// Routes: GET /v1/health, /v1/stats, /v1/stats/history, /metrics. Every metric comes from
// the one table of engine/metrics.h.
#include <fmt/format.h>

#include "streamrec/api/http_util.h"
#include "streamrec/engine/engine.h"

namespace streamrec::api {
namespace {

json stats_json(const engine::EngineStats& s) {
  json j = json::object();
  for (const auto& m : engine::metrics())
    std::visit([&](const auto& v) { j[m.key] = v; }, m.get(s));
  return j;
}

// The per-second history as columns (the dashboard's charts take arrays).
json history_json(const std::vector<engine::MetricsPoint>& points) {
  const auto& columns = engine::history_columns();
  json cols = json::object();
  json time = json::array();
  for (const auto& p : points) time.push_back(p.time_ms / 1000.0);
  cols["time"] = std::move(time);
  for (size_t c = 0; c < columns.size(); ++c) {
    json a = json::array();
    for (const auto& p : points) a.push_back(p.values[c]);
    cols[columns[c]->column] = std::move(a);
  }
  return cols;
}

// Recommendation latency as a Prometheus histogram (seconds, cumulative buckets).
std::string latency_histogram_text(const engine::Engine::LatencyHistogram& h) {
  std::string out =
      "# HELP streamrec_recommend_latency_seconds recommendation request latency\n"
      "# TYPE streamrec_recommend_latency_seconds histogram\n";
  uint64_t cumulative = 0;
  for (size_t b = 0; b < h.counts.size(); ++b) {
    cumulative += h.counts[b];
    const auto& bounds = engine::Engine::kLatencyBuckets;
    const std::string le = b < bounds.size() ? fmt::format("{}", bounds[b] / 1000) : "+Inf";
    out +=
        fmt::format("streamrec_recommend_latency_seconds_bucket{{le=\"{}\"}} {}\n", le, cumulative);
  }
  out += fmt::format("streamrec_recommend_latency_seconds_sum {}\n", h.sum_ms / 1000);
  out += fmt::format("streamrec_recommend_latency_seconds_count {}\n", cumulative);
  return out;
}

}  // namespace

void add_stats_routes(RouteTable& t) {
  auto& engine = t.engine;
  t.server.Get("/v1/health", [&engine](const auto&, auto& res) {
    const auto s = engine.stats();
    json out = {{"status", s.stale ? "stale" : "ok"}, {"model", s.model},
                {"events", s.events_ingested},        {"role", s.role},
                {"model_version", s.model_version},   {"publish", s.replication_publish}};
    if (engine.is_replica()) {
      out["leader"] = engine.leader();
      out["lag_ms"] = s.lag_ms;
      out["behind_publishes"] = s.behind_publishes;
    }
    send_json(res, 200, out);
  });
  t.server.Get("/v1/stats", t.route(Role::kRead, [&engine](const auto&, auto& res) {
    send_json(res, 200, stats_json(engine.stats()));
  }));
  t.server.Get("/v1/stats/history", t.route(Role::kRead, [&engine](const auto&, auto& res) {
    send_json(res, 200, history_json(engine.history_points()));
  }));
  t.server.Get("/metrics", t.route(Role::kRead, [&engine](const auto&, auto& res) {
    res.set_content(engine::prometheus_text(engine.stats()) +
                        latency_histogram_text(engine.latency_histogram()),
                    "text/plain; version=0.0.4");
  }));
}

}  // namespace streamrec::api
