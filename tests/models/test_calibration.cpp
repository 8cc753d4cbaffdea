// Fairness re-ranking: category mixes, Steck's calibrated order and the category cap.
#include <gtest/gtest.h>

#include "streamrec/models/calibration.h"

namespace streamrec::models {
namespace {

TEST(Calibration, MixesSumToOneAndSplitItemsOverTheirCategories) {
  const std::vector<std::vector<uint32_t>> items = {{0}, {0, 1}, {}, {2}};
  const auto m = category_mix(items, 3);
  EXPECT_DOUBLE_EQ(m[0], 1.5 / 3);
  EXPECT_DOUBLE_EQ(m[1], 0.5 / 3);
  EXPECT_DOUBLE_EQ(m[2], 1.0 / 3);
  EXPECT_EQ(category_mix({}, 2), (std::vector<double>{0, 0}));
}

TEST(Calibration, GreedyOrderFollowsRelevanceAtZeroAndTheHistoryMixAtOne) {
  // The four most relevant candidates are of category 0; the history is half 0, half 1.
  const std::vector<float> relevance = {1.0f, 0.9f, 0.8f, 0.7f, 0.2f, 0.1f};
  const std::vector<std::vector<uint32_t>> cats = {{0}, {0}, {0}, {0}, {1}, {1}};
  const std::vector<double> target = {0.5, 0.5};
  EXPECT_EQ(calibrated_order(relevance, cats, target, 4, 0.0), (std::vector<size_t>{0, 1, 2, 3}));
  const auto calibrated = calibrated_order(relevance, cats, target, 4, 0.99);
  ASSERT_EQ(calibrated.size(), 4u);
  size_t ones = 0;
  for (const size_t x : calibrated) ones += cats[x][0] == 1;
  EXPECT_EQ(ones, 2u);  // two of each: the history's mix
  EXPECT_EQ(calibrated_order(relevance, cats, target, 10, 0.5).size(), 6u);
}

TEST(Calibration, CapKeepsNoCategoryAboveItsShare) {
  const std::vector<std::vector<uint32_t>> cats = {{0}, {0}, {0}, {1}, {1}, {2}};
  const std::vector<size_t> order = {0, 1, 2, 3, 4, 5};
  EXPECT_EQ(cap_category_share(order, cats, 4, 0.5), (std::vector<size_t>{0, 1, 3, 4}));
  EXPECT_EQ(cap_category_share(order, cats, 4, 1.0), (std::vector<size_t>{0, 1, 2, 3}));
  // Too few candidates to fill the list under the cap (2 each): a shorter list.
  EXPECT_EQ(cap_category_share(order, cats, 6, 0.2), (std::vector<size_t>{0, 1, 3, 4, 5}));
}

}  // namespace
}  // namespace streamrec::models
