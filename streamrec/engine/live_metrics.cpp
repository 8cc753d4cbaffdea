#include "streamrec/engine/live_metrics.h"

#include "streamrec/models/calibration.h"

#include <algorithm>
#include <limits>

namespace streamrec::engine {

void LiveMetrics::record_check(std::pair<float, float> model, std::pair<float, float> ranked,
                               size_t history) {
  std::lock_guard lock(mutex_);
  live_.push(model);
  ranked_.push(ranked);
  group_ndcg_[models::activity_group(history)].push(model.second);
  ++live_scored_;
}

std::pair<double, double> LiveMetrics::means_locked(
    const Ring<std::pair<float, float>>& ring) const {
  if (ring.empty()) return {0.0, 0.0};
  double hr = 0, ndcg = 0;
  for (const auto& [hit, gain] : ring) {
    hr += hit;
    ndcg += gain;
  }
  return {hr / ring.size(), ndcg / ring.size()};
}

std::pair<double, double> LiveMetrics::live_means() const {
  std::lock_guard lock(mutex_);
  return means_locked(live_);
}

size_t LiveMetrics::live_checks() const {
  std::lock_guard lock(mutex_);
  return live_.size();
}

bool LiveMetrics::ranker_wins() const {
  std::lock_guard lock(mutex_);
  if (live_.size() < 200 || ranked_.size() != live_.size()) return false;
  double model = 0, fused = 0;
  for (size_t k = 0; k < live_.size(); ++k) {
    model += live_[k].first;
    fused += ranked_[k].first;
  }
  return fused >= model;
}

void LiveMetrics::record_request(double ms) {
  std::lock_guard lock(mutex_);
  latency_ms_.push(ms);
  ++requests_;
  const auto b = std::lower_bound(kLatencyBuckets.begin(), kLatencyBuckets.end(), ms);
  ++latency_buckets_[b - kLatencyBuckets.begin()];
  latency_sum_ms_ += ms;
}

LiveMetrics::LatencyHistogram LiveMetrics::latency_histogram() const {
  std::lock_guard lock(mutex_);
  return {latency_buckets_, latency_sum_ms_};
}

void LiveMetrics::count_rollback() {
  std::lock_guard lock(mutex_);
  ++rollbacks_;
}

void LiveMetrics::add_point(MetricsPoint point) {
  std::lock_guard lock(mutex_);
  points_.push_back(std::move(point));
  if (points_.size() > kHistoryPoints) points_.pop_front();
}

std::vector<MetricsPoint> LiveMetrics::points() const {
  std::lock_guard lock(mutex_);
  return {points_.begin(), points_.end()};
}

void LiveMetrics::fill(EngineStats& s) const {
  std::lock_guard lock(mutex_);
  std::tie(s.live_hr10, s.live_ndcg10) = means_locked(live_);
  double* group[] = {&s.live_ndcg10_cold, &s.live_ndcg10_medium, &s.live_ndcg10_heavy};
  for (size_t g = 0; g < 3; ++g) {
    double sum = 0;
    for (const float x : group_ndcg_[g]) sum += x;
    *group[g] = group_ndcg_[g].empty() ? std::numeric_limits<double>::quiet_NaN()
                                       : sum / static_cast<double>(group_ndcg_[g].size());
  }
  std::tie(s.ranked_hr10, s.ranked_ndcg10) = means_locked(ranked_);
  s.live_scored = live_scored_;
  s.requests = requests_;
  s.http_requests = http_requests_;
  s.http_errors = http_errors_;
  s.rollbacks = rollbacks_;
  s.latency_p50_ms = percentile(latency_ms_.values(), 50);
  s.latency_p99_ms = percentile(latency_ms_.values(), 99);
}

}  // namespace streamrec::engine
