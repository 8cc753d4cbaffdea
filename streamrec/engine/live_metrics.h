// The engine's live readings (module engine): prequential quality of the model and of the
// fusion ranker over the last 1,000 live checks (and the model's NDCG@10 per user activity
// group over each group's last 1,000: the fairness gap, live), request counts and latency (a ring
// for percentiles and a Prometheus histogram), guard rollbacks, and the last hour of per-second
// history points. fill() copies them into an EngineStats reading.
//
// Thread-safety: every member may be called from any thread; one lock guards it all
// (the HTTP counters are atomics). It takes no other lock.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <mutex>
#include <utility>
#include <vector>

#include "streamrec/core/ring.h"
#include "streamrec/engine/metrics.h"

namespace streamrec::engine {

class LiveMetrics {
 public:
  // Upper bounds (ms) of the request latency histogram's buckets (Prometheus style).
  static constexpr std::array<double, 12> kLatencyBuckets = {0.25, 0.5, 1,   2.5, 5,    10,
                                                             25,   50,  100, 250, 1000, 5000};
  struct LatencyHistogram {
    std::vector<uint64_t> counts;  // per bucket, the last one above every bound (not cumulative)
    double sum_ms = 0;
  };
  static constexpr size_t kHistoryPoints = 3600;  // one hour of per-second points

  // One live check: (hit, NDCG@10) of the model's top 10 and of the ranker's order, for a
  // user who had `history` distinct items before the event (models::activity_group).
  void record_check(std::pair<float, float> model, std::pair<float, float> ranked,
                    size_t history = 0);
  // Mean (HR@10, NDCG@10) of the model's checks held, and how many are held.
  std::pair<double, double> live_means() const;
  size_t live_checks() const;
  // Whether the ranker's HR@10 matches or beats the model's over at least 200 checks.
  bool ranker_wins() const;

  void record_request(double milliseconds);  // one recommendation request
  LatencyHistogram latency_histogram() const;
  void count_http_request() { ++http_requests_; }
  void count_http_error() { ++http_errors_; }
  void count_rollback();

  void add_point(MetricsPoint point);  // the oldest goes beyond kHistoryPoints
  std::vector<MetricsPoint> points() const;

  // Sets the fields of `s` these readings hold: live and ranked quality (per activity group:
  // NaN for a group without checks), live_scored,
  // requests, http_requests, http_errors, rollbacks, latency percentiles.
  void fill(EngineStats& s) const;

 private:
  std::pair<double, double> means_locked(const Ring<std::pair<float, float>>& ring) const;

  mutable std::mutex mutex_;
  Ring<std::pair<float, float>> live_;     // (hit, ndcg) of the last 1,000
  Ring<std::pair<float, float>> ranked_;   // the same after the ranker (pushed in step)
  std::array<Ring<float>, 3> group_ndcg_;  // the model's NDCG@10 per activity group
  uint64_t live_scored_ = 0;
  Ring<double> latency_ms_;
  uint64_t requests_ = 0, rollbacks_ = 0;
  std::vector<uint64_t> latency_buckets_ = std::vector<uint64_t>(kLatencyBuckets.size() + 1, 0);
  double latency_sum_ms_ = 0;
  std::deque<MetricsPoint> points_;
  std::atomic<uint64_t> http_requests_{0}, http_errors_{0};
};

}  // namespace streamrec::engine
