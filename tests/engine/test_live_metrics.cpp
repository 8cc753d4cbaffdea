// The engine's live readings without an engine: quality means over the last 1,000 checks,
// the ranker's verdict needs 200 checks, latency lands in its histogram bucket, the
// history keeps one hour of points, fill() copies every reading into EngineStats, and the
// model's NDCG@10 per user activity group.
#include <gtest/gtest.h>

#include <cmath>

#include "streamrec/engine/live_metrics.h"

namespace streamrec::engine {
namespace {

TEST(LiveMetrics, QualityMeansAndTheRankersVerdict) {
  LiveMetrics m;
  EXPECT_EQ(m.live_means(), std::make_pair(0.0, 0.0));
  for (int k = 0; k < 199; ++k) m.record_check({k % 4 == 0, 0.5f}, {k % 2 == 0, 0.25f});
  EXPECT_FALSE(m.ranker_wins()) << "fewer than 200 checks";
  m.record_check({0, 0}, {1, 1});
  EXPECT_TRUE(m.ranker_wins());
  EXPECT_NEAR(m.live_means().first, 50.0 / 200, 1e-9);
  for (int k = 0; k < 1000; ++k) m.record_check({1, 1}, {0, 0});  // the ring keeps 1,000
  EXPECT_EQ(m.live_means(), std::make_pair(1.0, 1.0));
  EXPECT_FALSE(m.ranker_wins());
  EngineStats s;
  m.count_rollback();
  m.fill(s);
  EXPECT_EQ(s.live_scored, 1200u);
  EXPECT_DOUBLE_EQ(s.live_hr10, 1.0);
  EXPECT_DOUBLE_EQ(s.ranked_hr10, 0.0);
  EXPECT_EQ(s.rollbacks, 1u);
}

TEST(LiveMetrics, NdcgPerActivityGroup) {
  LiveMetrics m;
  EngineStats s;
  m.fill(s);
  EXPECT_TRUE(std::isnan(s.live_ndcg10_cold));  // no checks yet
  m.record_check({1, 1.0f}, {0, 0}, 0);
  m.record_check({1, 0.5f}, {0, 0}, 4);
  m.record_check({1, 0.25f}, {0, 0}, 5);
  m.record_check({0, 0.0f}, {0, 0}, 50);
  m.record_check({1, 0.5f}, {0, 0}, 10000);
  m.fill(s);
  EXPECT_DOUBLE_EQ(s.live_ndcg10_cold, 0.75);
  EXPECT_DOUBLE_EQ(s.live_ndcg10_medium, 0.25);
  EXPECT_DOUBLE_EQ(s.live_ndcg10_heavy, 0.25);
  EXPECT_DOUBLE_EQ(s.live_ndcg10, 2.25 / 5);
}

TEST(LiveMetrics, RequestsLandInTheirLatencyBucket) {
  LiveMetrics m;
  m.record_request(0.1);   // <= 0.25
  m.record_request(3);     // <= 5
  m.record_request(9000);  // above every bound
  m.count_http_request();
  m.count_http_request();
  m.count_http_error();
  const auto h = m.latency_histogram();
  ASSERT_EQ(h.counts.size(), LiveMetrics::kLatencyBuckets.size() + 1);
  EXPECT_EQ(h.counts[0], 1u);
  EXPECT_EQ(h.counts[4], 1u);
  EXPECT_EQ(h.counts.back(), 1u);
  EXPECT_DOUBLE_EQ(h.sum_ms, 9003.1);
  EngineStats s;
  m.fill(s);
  EXPECT_EQ(s.requests, 3u);
  EXPECT_EQ(s.http_requests, 2u);
  EXPECT_EQ(s.http_errors, 1u);
  EXPECT_DOUBLE_EQ(s.latency_p50_ms, 3);
}

TEST(LiveMetrics, HistoryKeepsTheLastHour) {
  LiveMetrics m;
  for (int64_t t = 0; t < int64_t{LiveMetrics::kHistoryPoints} + 5; ++t) m.add_point({t, {1.0}});
  const auto points = m.points();
  ASSERT_EQ(points.size(), LiveMetrics::kHistoryPoints);
  EXPECT_EQ(points.front().time_ms, 5);
  EXPECT_EQ(points.back().time_ms, int64_t{LiveMetrics::kHistoryPoints} + 4);
}

}  // namespace
}  // namespace streamrec::engine
