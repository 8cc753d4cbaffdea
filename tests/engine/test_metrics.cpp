// The one metrics table: every /v1/stats key, /metrics name and history column that the
// server had before the engine split is still there under its name (golden lists, taken
// from the routes as they were), the OpenAPI text is the one the table generates, and the
// derived values (rates, scaled columns, Prometheus text) are computed from the readings.
#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include "streamrec/engine/metrics.h"

namespace streamrec::engine {
namespace {

// /v1/stats keys before the split; the split added ann_current and recommend_requests, the
// state TTL state_expired, the trust work dp_* and the live activity groups.
const std::set<std::string> kStatsKeys = {"model",
                                          "live_ndcg10_cold",
                                          "live_ndcg10_medium",
                                          "live_ndcg10_heavy",
                                          "dp_epsilon",
                                          "dp_online_steps",
                                          "events_ingested",
                                          "events_learned",
                                          "events_logged",
                                          "model_version",
                                          "rollbacks",
                                          "publishes_delta",
                                          "publishes_full",
                                          "last_publish_ms",
                                          "learn_steps",
                                          "queue",
                                          "queue_in_log",
                                          "events_via_log",
                                          "users",
                                          "items",
                                          "freshness_p50_ms",
                                          "freshness_p99_ms",
                                          "live_hr10",
                                          "live_ndcg10",
                                          "live_scored",
                                          "ranked_hr10",
                                          "ranked_ndcg10",
                                          "ranker_steps",
                                          "ranker_in_use",
                                          "online_loss",
                                          "model_rows",
                                          "model_bytes",
                                          "ann_items",
                                          "ann_updates",
                                          "query_jobs",
                                          "query_batches",
                                          "role",
                                          "replication_publish",
                                          "behind_publishes",
                                          "lag_ms",
                                          "stale",
                                          "replicas",
                                          "latency_p50_ms",
                                          "latency_p99_ms",
                                          "requests",
                                          "request_errors",
                                          "ann_current",
                                          "recommend_requests",
                                          "state_expired"};

const std::set<std::string> kPrometheusNames = {"streamrec_events_ingested_total",
                                                "streamrec_live_ndcg10_cold",
                                                "streamrec_live_ndcg10_medium",
                                                "streamrec_live_ndcg10_heavy",
                                                "streamrec_dp_epsilon",
                                                "streamrec_events_learned_total",
                                                "streamrec_learn_steps_total",
                                                "streamrec_learn_queue",
                                                "streamrec_users",
                                                "streamrec_items",
                                                "streamrec_freshness_p99_ms",
                                                "streamrec_live_hr10",
                                                "streamrec_online_loss",
                                                "streamrec_ann_items",
                                                "streamrec_model_rows",
                                                "streamrec_model_bytes",
                                                "streamrec_recommend_latency_p99_ms",
                                                "streamrec_guard_rollbacks_total",
                                                "streamrec_publishes_delta_total",
                                                "streamrec_publishes_full_total",
                                                "streamrec_last_publish_ms",
                                                "streamrec_http_requests_total",
                                                "streamrec_http_errors_total",
                                                "streamrec_state_expired_events_total",
                                                "streamrec_replication_publish",
                                                "streamrec_replica_behind_publishes",
                                                "streamrec_replica_lag_ms",
                                                "streamrec_replica_stale",
                                                "streamrec_replicas"};

const std::set<std::string> kHistoryColumns = {"live_ndcg10_cold",
                                               "live_ndcg10_medium",
                                               "live_ndcg10_heavy",
                                               "dp_epsilon",
                                               "ingested_per_s",
                                               "learned_per_s",
                                               "requests_per_s",
                                               "freshness_p50_ms",
                                               "freshness_p99_ms",
                                               "latency_p50_ms",
                                               "latency_p99_ms",
                                               "live_hr10",
                                               "live_ndcg10",
                                               "online_loss",
                                               "ranked_hr10",
                                               "model_rows",
                                               "model_mb",
                                               "users",
                                               "items",
                                               "queue",
                                               "lag_ms",
                                               "replicas"};

TEST(Metrics, StatsKeysPrometheusNamesAndHistoryColumnsMatchTheGoldenLists) {
  std::set<std::string> keys, names, columns;
  for (const auto& m : metrics()) {
    EXPECT_TRUE(keys.insert(m.key).second) << "duplicate key " << m.key;
    if (m.prometheus) EXPECT_TRUE(names.insert(m.prometheus).second) << m.prometheus;
  }
  for (const Metric* m : history_columns()) EXPECT_TRUE(columns.insert(m->column).second);
  EXPECT_EQ(keys, kStatsKeys);
  EXPECT_EQ(names, kPrometheusNames);
  EXPECT_EQ(columns, kHistoryColumns);
}

TEST(Metrics, EachKeyReadsItsOwnField) {
  EngineStats s;
  s.events_ingested = 11;
  s.http_requests = 7;
  s.requests = 3;
  s.model_bytes = 2'000'000;
  s.model = "seq";
  for (const auto& m : metrics()) {
    const std::string key = m.key;
    if (key == "events_ingested") EXPECT_EQ(std::get<uint64_t>(m.get(s)), 11u);
    if (key == "requests") EXPECT_EQ(std::get<uint64_t>(m.get(s)), 7u);
    if (key == "recommend_requests") EXPECT_EQ(std::get<uint64_t>(m.get(s)), 3u);
    if (key == "model") EXPECT_EQ(std::get<std::string>(m.get(s)), "seq");
  }
}

TEST(Metrics, HistoryPointsTakeRatesOfCountersAndScaleValues) {
  EngineStats before, now;
  before.events_ingested = 100;
  now.events_ingested = 400;
  now.model_bytes = 3'000'000;
  now.queue = 5;
  const auto p = history_point(1234, now, before, 2.0);
  EXPECT_EQ(p.time_ms, 1234);
  const auto columns = history_columns();
  ASSERT_EQ(p.values.size(), columns.size());
  for (size_t c = 0; c < columns.size(); ++c) {
    const std::string col = columns[c]->column;
    if (col == "ingested_per_s") {
      EXPECT_DOUBLE_EQ(p.values[c], 150.0);
    } else if (col == "model_mb") {
      EXPECT_DOUBLE_EQ(p.values[c], 3.0);
    } else if (col == "queue") {
      EXPECT_DOUBLE_EQ(p.values[c], 5.0);
    }
  }
}

TEST(Metrics, PrometheusTextHasHelpTypeAndValueOfEachExportedMetric) {
  EngineStats s;
  s.events_learned = 42;
  s.online_loss = std::numeric_limits<double>::quiet_NaN();
  const std::string text = prometheus_text(s);
  EXPECT_NE(text.find("# HELP streamrec_events_learned_total events learned\n"
                      "# TYPE streamrec_events_learned_total counter\n"
                      "streamrec_events_learned_total 42\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("# TYPE streamrec_learn_queue gauge\n"), std::string::npos);
  EXPECT_NE(text.find("streamrec_online_loss NaN\n"), std::string::npos);
  for (const auto& name : kPrometheusNames)
    EXPECT_NE(text.find("\n" + name + " "), std::string::npos) << name;
}

TEST(Metrics, OpenApiTextIsTheOneTheTableGenerates) {
  std::ifstream in(STREAMREC_SOURCE_DIR "/docs/openapi.yaml");
  ASSERT_TRUE(in) << "docs/openapi.yaml is missing";
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_NE(text.str().find(openapi_schemas()), std::string::npos)
      << "docs/openapi.yaml's Stats/StatsHistory schemas are not the table's: paste "
         "`build/apps/streamrec metrics --openapi` under components: schemas:";
}

}  // namespace
}  // namespace streamrec::engine
