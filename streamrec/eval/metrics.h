// Ranking and rating metrics. Per-user functions take the ranked list (best first, already
// cut to K or longer) and the user's relevant items; aggregate ones take all lists.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace streamrec::eval {

// Accuracy of one user's top-K list against a set of relevant items (sorted ascending).
struct UserMetrics {
  double precision = 0, recall = 0, f1 = 0, ndcg = 0, hit = 0, mrr = 0, map = 0;
};

// Uses the first k entries of `ranked`. Binary relevance; NDCG's ideal DCG places
// min(|relevant|, k) hits at the top; MAP@K divides by min(|relevant|, k).
UserMetrics user_metrics(std::span<const uint32_t> ranked, std::span<const uint32_t> relevant,
                         size_t k);

// Share of `num_items` that appear in at least one list.
double item_coverage(const std::vector<std::vector<uint32_t>>& lists, uint32_t num_items);
// Gini coefficient of how often each of `num_items` items is recommended (0 = equal
// exposure, 1 = one item takes everything).
double exposure_gini(const std::vector<std::vector<uint32_t>>& lists, uint32_t num_items);
// Mean of popularity[item] over all recommended items.
double average_popularity(const std::vector<std::vector<uint32_t>>& lists,
                          std::span<const uint32_t> popularity);

// Fairness on the item side. Share of recommended items that are not `head` items (the
// popular ones: head[i] != 0), the long tail's share of exposure.
double long_tail_share(const std::vector<std::vector<uint32_t>>& lists, std::span<const char> head);
// (Calibration KL: models::calibration_kl, shared with the re-ranking.)

// Fairness gap of group means: the best group's minus the worst's (0 before any group).
struct GroupGap {
  double lo = 1e300, hi = -1e300;
  void add(double mean) {
    lo = mean < lo ? mean : lo;
    hi = mean > hi ? mean : hi;
  }
  bool empty() const { return hi < lo; }
  double gap() const { return empty() ? 0.0 : hi - lo; }
};

double mae(std::span<const float> predicted, std::span<const float> actual);
double rmse(std::span<const float> predicted, std::span<const float> actual);

}  // namespace streamrec::eval
