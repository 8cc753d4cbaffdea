#include <gtest/gtest.h>

#include <cmath>

#include "streamrec/eval/metrics.h"
#include "streamrec/models/calibration.h"

namespace streamrec::eval {
namespace {

TEST(Metrics, HandComputedRankingCase) {
  // Ranked [5, 3, 9, 1, 7]; relevant {1, 3, 4}; K = 5. Hits at ranks 2 and 4.
  const std::vector<uint32_t> ranked = {5, 3, 9, 1, 7};
  const std::vector<uint32_t> relevant = {1, 3, 4};
  const auto m = user_metrics(ranked, relevant, 5);
  EXPECT_DOUBLE_EQ(m.precision, 2.0 / 5);
  EXPECT_DOUBLE_EQ(m.recall, 2.0 / 3);
  EXPECT_DOUBLE_EQ(m.f1, 2 * (0.4 * (2.0 / 3)) / (0.4 + 2.0 / 3));
  EXPECT_DOUBLE_EQ(m.hit, 1.0);
  EXPECT_DOUBLE_EQ(m.mrr, 0.5);
  const double dcg = 1 / std::log2(3.0) + 1 / std::log2(5.0);
  const double idcg = 1 + 1 / std::log2(3.0) + 1 / std::log2(4.0);
  EXPECT_DOUBLE_EQ(m.ndcg, dcg / idcg);
  EXPECT_DOUBLE_EQ(m.map, (1.0 / 2 + 2.0 / 4) / 3);
}

TEST(Metrics, CutOffAndMisses) {
  const std::vector<uint32_t> ranked = {5, 3, 9, 1, 7};
  const std::vector<uint32_t> relevant = {1};
  const auto at2 = user_metrics(ranked, relevant, 2);
  EXPECT_EQ(at2.hit, 0.0);
  EXPECT_EQ(at2.ndcg, 0.0);
  EXPECT_EQ(at2.mrr, 0.0);
  const auto at4 = user_metrics(ranked, relevant, 4);
  EXPECT_DOUBLE_EQ(at4.ndcg, 1 / std::log2(5.0));  // leave-one-out: 1/log2(rank+1)
  EXPECT_DOUBLE_EQ(at4.mrr, 0.25);
  EXPECT_DOUBLE_EQ(at4.map, 0.25);
  EXPECT_EQ(user_metrics(ranked, {}, 4).hit, 0.0);
}

TEST(Metrics, CoverageGiniPopularity) {
  const std::vector<std::vector<uint32_t>> lists = {{0, 1}, {0, 1}, {0, 2}};
  EXPECT_DOUBLE_EQ(item_coverage(lists, 4), 0.75);
  // Exposure counts sorted: 0, 1, 2, 3 -> Gini = 2*sum(i*x)/(n*sum) - (n+1)/n.
  const double g = 2.0 * (1 * 0 + 2 * 1 + 3 * 2 + 4 * 3) / (4.0 * 6) - 5.0 / 4;
  EXPECT_DOUBLE_EQ(exposure_gini(lists, 4), g);
  EXPECT_DOUBLE_EQ(exposure_gini({{0}, {1}, {2}, {3}}, 4), 0.0);
  const std::vector<uint32_t> pop = {10, 4, 1, 0};
  EXPECT_DOUBLE_EQ(average_popularity(lists, pop), (10 + 4 + 10 + 4 + 10 + 1) / 6.0);
}

TEST(Metrics, MaeRmse) {
  const std::vector<float> p = {3, 4, 5}, a = {4, 4, 3};
  EXPECT_DOUBLE_EQ(mae(p, a), 1.0);
  EXPECT_DOUBLE_EQ(rmse(p, a), std::sqrt(5.0 / 3));
}

TEST(Metrics, LongTailShareAndCalibration) {
  const std::vector<char> head = {1, 1, 0, 0};
  EXPECT_DOUBLE_EQ(long_tail_share({{0, 2}, {3, 1}, {2, 3}}, head), 4.0 / 6);
  EXPECT_DOUBLE_EQ(long_tail_share({}, head), 0.0);
  // A list that mirrors the history is calibrated; one that drops a category is not.
  const std::vector<double> p = {0.5, 0.5}, same = {0.5, 0.5}, one = {1.0, 0.0};
  EXPECT_NEAR(models::calibration_kl(p, same), 0.0, 1e-12);
  const double want = 0.5 * std::log(0.5 / (0.99 * 1.0 + 0.01 * 0.5)) +
                      0.5 * std::log(0.5 / (0.99 * 0.0 + 0.01 * 0.5));
  EXPECT_NEAR(models::calibration_kl(p, one), want, 1e-12);
  EXPECT_GT(models::calibration_kl(p, one), 1.0);
}

}  // namespace
}  // namespace streamrec::eval
