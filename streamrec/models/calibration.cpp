#include "streamrec/models/calibration.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace streamrec::models {

std::vector<double> category_mix(std::span<const std::vector<uint32_t>> items, size_t categories) {
  std::vector<double> mix(categories, 0.0);
  double total = 0;
  for (const auto& cats : items) {
    for (const uint32_t c : cats)
      if (c < categories) mix[c] += 1.0 / static_cast<double>(cats.size());
    total += cats.empty() ? 0 : 1;
  }
  if (total > 0)
    for (auto& m : mix) m /= total;
  return mix;
}

namespace {

// calibration_kl(p, counts / total) without making the quotient vector (the greedy loop).
double miscalibration(std::span<const double> p, std::span<const double> counts, double total,
                      double a = 0.01) {
  double kl = 0;
  for (size_t c = 0; c < p.size(); ++c)
    if (p[c] > 0) {
      const double q = total > 0 ? counts[c] / total : 0.0;
      kl += p[c] * std::log(p[c] / ((1 - a) * q + a * p[c]));
    }
  return kl;
}

}  // namespace

double calibration_kl(std::span<const double> p, std::span<const double> q, double a) {
  return miscalibration(p, q, 1.0, a);
}

std::vector<size_t> calibrated_order(std::span<const float> relevance,
                                     std::span<const std::vector<uint32_t>> categories,
                                     std::span<const double> target, size_t n, double lambda) {
  const size_t m = relevance.size();
  n = std::min(n, m);
  float lo = m ? *std::min_element(relevance.begin(), relevance.end()) : 0.0f;
  float hi = m ? *std::max_element(relevance.begin(), relevance.end()) : 0.0f;
  const double span = hi > lo ? hi - lo : 1.0;
  std::vector<double> counts(target.size(), 0.0);
  double total = 0, picked_relevance = 0;
  std::vector<char> taken(m, 0);
  std::vector<size_t> out;
  while (out.size() < n) {
    size_t best = m;
    double best_value = -std::numeric_limits<double>::infinity();
    for (size_t x = 0; x < m; ++x) {
      if (taken[x]) continue;
      const auto& cats = categories[x];
      for (const uint32_t c : cats)
        if (c < counts.size()) counts[c] += 1.0 / static_cast<double>(cats.size());
      const double kl = miscalibration(target, counts, total + (cats.empty() ? 0 : 1));
      for (const uint32_t c : cats)
        if (c < counts.size()) counts[c] -= 1.0 / static_cast<double>(cats.size());
      const double value =
          (1 - lambda) * (picked_relevance + (relevance[x] - lo) / span) - lambda * kl;
      if (value > best_value) best_value = value, best = x;
    }
    taken[best] = 1;
    out.push_back(best);
    picked_relevance += (relevance[best] - lo) / span;
    const auto& cats = categories[best];
    for (const uint32_t c : cats)
      if (c < counts.size()) counts[c] += 1.0 / static_cast<double>(cats.size());
    total += cats.empty() ? 0 : 1;
  }
  return out;
}

std::vector<size_t> cap_category_share(std::span<const size_t> order,
                                       std::span<const std::vector<uint32_t>> categories, size_t n,
                                       double share) {
  std::vector<size_t> out;
  if (share >= 1) {
    out.assign(order.begin(), order.begin() + std::min(n, order.size()));
    return out;
  }
  const auto cap = static_cast<size_t>(std::ceil(share * static_cast<double>(n)));
  std::vector<size_t> held;
  for (const size_t x : order) {
    if (out.size() == n) break;
    const auto& cats = categories[x];
    if (std::any_of(cats.begin(), cats.end(),
                    [&](uint32_t c) { return c < held.size() && held[c] >= cap; }))
      continue;
    for (const uint32_t c : cats) {
      if (c >= held.size()) held.resize(c + 1, 0);
      ++held[c];
    }
    out.push_back(x);
  }
  return out;
}

}  // namespace streamrec::models
