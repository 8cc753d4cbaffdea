// Re-ranking for fairness (module models: both the serving path and offline evaluation use
// it): Steck's (2018) calibrated recommendations, and a cap on any category's share of a
// list; and the users' activity groups the live and replay fairness readings share. Items are given
// by their categories (indices into the category mix). Pure functions; thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace streamrec::models {

// A user's activity group at an event by the distinct items they had before it: 0 cold
// (fewer than 5), 1 medium (5-49), 2 heavy (50 or more). (Offline `eval` splits its users
// into terciles instead: it knows them all in advance.)
inline constexpr const char* kActivityGroups[] = {"cold", "medium", "heavy"};
inline size_t activity_group(size_t history) { return history >= 50 ? 2 : history >= 5 ? 1 : 0; }

// A category mix: each item counts 1, split evenly over its categories; items without
// categories count nothing. Sums to 1 (or is all zeros when no item has a category).
std::vector<double> category_mix(std::span<const std::vector<uint32_t>> items, size_t categories);

// Steck's (2018) miscalibration of a list: KL(p || (1 - a) q + a p) of the user's category
// mix in their history `p` against the list's `q` (over the same categories; `a` keeps it
// finite where q is 0). 0 = the list mirrors the history.
double calibration_kl(std::span<const double> p, std::span<const double> q, double a = 0.01);

// Greedy calibrated re-ranking: picks `n` of the candidates, each time the one maximising
// (1 - lambda) * (sum of picked relevance, min-max normalised to 0..1) - lambda *
// KL(target || (1 - a) q + a target), q the mix of the picked list (a = 0.01). lambda 0 is
// the relevance order. Returns candidate positions in pick order.
std::vector<size_t> calibrated_order(std::span<const float> relevance,
                                     std::span<const std::vector<uint32_t>> categories,
                                     std::span<const double> target, size_t n, double lambda);

// Walks `order` (candidate positions, best first) and keeps up to n of them such that no
// category holds more than ceil(share * n) of the kept items; an item over the cap is
// skipped (fewer than n come back when the candidates cannot fill the list otherwise).
// share >= 1 keeps the first n.
std::vector<size_t> cap_category_share(std::span<const size_t> order,
                                       std::span<const std::vector<uint32_t>> categories, size_t n,
                                       double share);

}  // namespace streamrec::models
