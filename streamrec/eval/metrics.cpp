#include "streamrec/eval/metrics.h"

#include <algorithm>
#include <cmath>

#include "streamrec/core/error.h"

namespace streamrec::eval {

UserMetrics user_metrics(std::span<const uint32_t> ranked, std::span<const uint32_t> relevant,
                         size_t k) {
  UserMetrics m;
  if (relevant.empty() || k == 0) return m;
  const size_t n = std::min(k, ranked.size());
  double dcg = 0, ap = 0;
  size_t hits = 0;
  for (size_t r = 0; r < n; ++r) {
    if (!std::binary_search(relevant.begin(), relevant.end(), ranked[r])) continue;
    ++hits;
    dcg += 1.0 / std::log2(r + 2.0);
    ap += static_cast<double>(hits) / (r + 1.0);
    if (hits == 1) m.mrr = 1.0 / (r + 1.0);
  }
  const size_t ideal = std::min(relevant.size(), k);
  double idcg = 0;
  for (size_t r = 0; r < ideal; ++r) idcg += 1.0 / std::log2(r + 2.0);
  m.precision = static_cast<double>(hits) / k;
  m.recall = static_cast<double>(hits) / relevant.size();
  m.f1 = hits ? 2 * m.precision * m.recall / (m.precision + m.recall) : 0.0;
  m.ndcg = dcg / idcg;
  m.hit = hits > 0 ? 1.0 : 0.0;
  m.map = ap / ideal;
  return m;
}

namespace {
std::vector<uint64_t> exposure(const std::vector<std::vector<uint32_t>>& lists, uint32_t n) {
  std::vector<uint64_t> count(n, 0);
  for (const auto& l : lists)
    for (uint32_t i : l)
      if (i < n) ++count[i];
  return count;
}
}  // namespace

double item_coverage(const std::vector<std::vector<uint32_t>>& lists, uint32_t num_items) {
  if (num_items == 0) return 0;
  const auto count = exposure(lists, num_items);
  return static_cast<double>(
             std::count_if(count.begin(), count.end(), [](auto c) { return c > 0; })) /
         num_items;
}

double exposure_gini(const std::vector<std::vector<uint32_t>>& lists, uint32_t num_items) {
  auto count = exposure(lists, num_items);
  std::sort(count.begin(), count.end());
  double total = 0, weighted = 0;
  const double n = static_cast<double>(count.size());
  for (size_t i = 0; i < count.size(); ++i) {
    total += count[i];
    weighted += (i + 1.0) * count[i];
  }
  if (total == 0 || n == 0) return 0;
  return (2.0 * weighted) / (n * total) - (n + 1.0) / n;
}

double average_popularity(const std::vector<std::vector<uint32_t>>& lists,
                          std::span<const uint32_t> popularity) {
  double sum = 0;
  size_t n = 0;
  for (const auto& l : lists)
    for (uint32_t i : l) {
      sum += i < popularity.size() ? popularity[i] : 0;
      ++n;
    }
  return n ? sum / n : 0;
}

double long_tail_share(const std::vector<std::vector<uint32_t>>& lists,
                       std::span<const char> head) {
  size_t tail = 0, n = 0;
  for (const auto& l : lists)
    for (uint32_t i : l) {
      tail += i < head.size() && !head[i];
      ++n;
    }
  return n ? static_cast<double>(tail) / n : 0;
}

double mae(std::span<const float> p, std::span<const float> a) {
  SR_ASSERT(p.size() == a.size());
  if (p.empty()) return 0;
  double s = 0;
  for (size_t i = 0; i < p.size(); ++i) s += std::abs(double{p[i]} - a[i]);
  return s / p.size();
}

double rmse(std::span<const float> p, std::span<const float> a) {
  SR_ASSERT(p.size() == a.size());
  if (p.empty()) return 0;
  double s = 0;
  for (size_t i = 0; i < p.size(); ++i) s += (double{p[i]} - a[i]) * (double{p[i]} - a[i]);
  return std::sqrt(s / p.size());
}

}  // namespace streamrec::eval
