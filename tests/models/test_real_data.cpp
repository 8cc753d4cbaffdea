// Tests on the real data in ../shared/data; each skips with a message when it is absent.
#include <gtest/gtest.h>

#include "streamrec/data/reader.h"
#include "streamrec/eval/evaluator.h"
#include "streamrec/models/registry.h"
#include "test_util.h"

namespace streamrec {
namespace {

#define REQUIRE_SHARED(name, var)                                \
  const std::string var = streamrec::testing::shared_data(name); \
  if (var.empty()) GTEST_SKIP() << "../shared/data/" name " is absent; skipping"

TEST(RealData, MovieTweetingsImportsAsDocumented) {
  REQUIRE_SHARED("movietweetings-100k", path);
  data::ImportReport r;
  const auto ds = data::read_dataset(path, {}, r);
  EXPECT_EQ(ds.events.size(), 100000u);
  EXPECT_EQ(ds.num_users(), 16554u);
  EXPECT_EQ(r.rows_skipped, 0u);
  EXPECT_NE(ds.items.find("0104257"), IdMap::kMissing);  // leading zeros kept
  uint32_t zeros = 0, rated_items = 0;
  for (const auto& e : ds.events) zeros += e.value == 0;
  EXPECT_EQ(zeros, 12u);
  std::vector<char> has(ds.num_items(), 0);
  for (const auto& e : ds.events) has[e.item] = 1;
  for (char h : has) rated_items += h;
  EXPECT_EQ(rated_items, 10506u);
}

// The reference numbers of the foundation issue: an independent numpy EASE (lambda 500),
// itemknn (k=100 cosine) and popularity under leave-one-out by time.
TEST(RealData, MovieLensSmallLeaveOneOutMatchesReferences) {
  REQUIRE_SHARED("ml-latest-small", path);
  data::ImportReport r;
  const auto ds = data::read_dataset(path, {}, r);
  EXPECT_EQ(ds.events.size(), 100836u);
  const auto split = eval::split_events(ds, {});
  ASSERT_EQ(split.test.size(), 610u);
  eval::EvalOptions eo;
  eo.ks = {10};
  struct Ref {
    const char* spec;
    double hr, ndcg;
  };
  for (const Ref& ref : {Ref{"ease:lambda=500", 0.0787, 0.0360},
                         Ref{"itemknn:k=100", 0.0590, 0.0264}, Ref{"popular", 0.0426, 0.0194}}) {
    auto m = models::make_model(ref.spec);
    const auto res = eval::evaluate(*m, ds, split, eo);
    EXPECT_NEAR(res.metrics.at("hr@10"), ref.hr, 0.02 * ref.hr) << ref.spec;
    EXPECT_NEAR(res.metrics.at("ndcg@10"), ref.ndcg, 0.02 * ref.ndcg) << ref.spec;
  }
}

}  // namespace
}  // namespace streamrec
