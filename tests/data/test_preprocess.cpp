#include <gtest/gtest.h>

#include <cmath>

#include "streamrec/core/error.h"
#include "streamrec/data/preprocess.h"
#include "test_util.h"

namespace streamrec::data {
namespace {

using streamrec::testing::tiny_dataset;

TEST(Preprocess, SortIsStableByTime) {
  auto ds = tiny_dataset({{1, 1, 30}, {1, 2, 10}, {2, 3, 10}, {2, 4, 20}});
  preprocess(ds, {});
  std::vector<uint32_t> items;
  for (const auto& e : ds.events) items.push_back(e.item);
  EXPECT_EQ(items, (std::vector<uint32_t>{1, 2, 3, 0}));  // i2 before i3 (input order on tie)
}

TEST(Preprocess, DedupeKeepsFirstOrLastInTime) {
  for (const bool keep_last : {false, true}) {
    auto ds = tiny_dataset({{1, 1, 30}, {1, 1, 10}, {1, 2, 20}, {2, 1, 5}});
    ds.events[0].value = 3;
    ds.events[1].value = 1;
    PreprocessOptions o;
    o.dedupe =
        keep_last ? PreprocessOptions::Dedupe::kKeepLast : PreprocessOptions::Dedupe::kKeepFirst;
    const auto r = preprocess(ds, o);
    EXPECT_EQ(r.duplicates_dropped, 1u);
    ASSERT_EQ(ds.events.size(), 3u);
    float kept = -1;
    for (const auto& e : ds.events)
      if (e.user == 0 && e.item == 0) kept = e.value;
    EXPECT_EQ(kept, keep_last ? 3.0f : 1.0f);
  }
}

TEST(Preprocess, ThresholdTurnsRatingsIntoPositives) {
  auto ds = tiny_dataset({{1, 1, 1}, {1, 2, 2}, {2, 1, 3}});
  ds.explicit_ratings = true;
  ds.events[0].value = 4;
  ds.events[1].value = 2;
  ds.events[2].value = 5;
  PreprocessOptions o;
  o.implicit_threshold = 4;
  const auto r = preprocess(ds, o);
  EXPECT_EQ(r.below_threshold_dropped, 1u);
  EXPECT_EQ(ds.events.size(), 2u);
  for (const auto& e : ds.events) EXPECT_EQ(e.value, 1.0f);
  EXPECT_FALSE(ds.explicit_ratings);
}

TEST(Preprocess, KCoreIteratesUntilStable) {
  // u3 has one event; removing it leaves i3 with one user, which must go too, and then u2
  // drops to one event.
  auto ds = tiny_dataset(
      {{1, 1, 1}, {1, 2, 2}, {2, 1, 3}, {2, 2, 4}, {2, 3, 5}, {3, 3, 6}, {4, 4, 7}, {4, 5, 8}});
  PreprocessOptions o;
  o.min_user_events = 2;
  o.min_item_events = 2;
  const auto r = preprocess(ds, o);
  EXPECT_EQ(ds.events.size(), 4u);  // u1 and u2 on i1, i2
  EXPECT_EQ(r.kcore_dropped, 4u);
  for (const auto& e : ds.events) EXPECT_LT(e.item, 2u);
}

TEST(Preprocess, MissingValuesFailDropOrFill) {
  auto make = [] {
    auto ds = tiny_dataset({{1, 1, 1}, {1, 2, 2}, {1, 3, 3}});
    ds.events[0].value = 2;
    ds.events[1].value = 4;
    ds.events[2].value = std::nanf("");
    return ds;
  };
  auto ds = make();
  EXPECT_THROW(preprocess(ds, {}), Error);
  ds = make();
  PreprocessOptions o;
  o.missing = PreprocessOptions::Missing::kDrop;
  EXPECT_EQ(preprocess(ds, o).missing_dropped, 1u);
  EXPECT_EQ(ds.events.size(), 2u);
  ds = make();
  o.missing = PreprocessOptions::Missing::kUserMean;
  preprocess(ds, o);
  EXPECT_FLOAT_EQ(ds.events[2].value, 3.0f);
  ds = make();
  o.missing = PreprocessOptions::Missing::kFill;
  o.fill_value = 7;
  preprocess(ds, o);
  EXPECT_FLOAT_EQ(ds.events[2].value, 7.0f);
}

TEST(Preprocess, NormalizeMinMaxAndUserMean) {
  auto ds = tiny_dataset({{1, 1, 1}, {1, 2, 2}, {2, 1, 3}});
  ds.events[0].value = 1;
  ds.events[1].value = 5;
  ds.events[2].value = 3;
  PreprocessOptions o;
  o.normalize = PreprocessOptions::Normalize::kMinMax;
  preprocess(ds, o);
  EXPECT_FLOAT_EQ(ds.events[0].value, 0.0f);
  EXPECT_FLOAT_EQ(ds.events[1].value, 1.0f);
  EXPECT_FLOAT_EQ(ds.events[2].value, 0.5f);
  o.normalize = PreprocessOptions::Normalize::kUserMean;
  preprocess(ds, o);
  EXPECT_FLOAT_EQ(ds.events[0].value, -0.5f);
  EXPECT_FLOAT_EQ(ds.events[2].value, 0.0f);
}

TEST(Preprocess, ParamsRoundTrip) {
  auto p = PreprocessOptions::params();
  p.set_from({"dedupe=last,threshold=4,min_user=5,missing=drop"});
  const auto o = PreprocessOptions::from_params(p);
  EXPECT_EQ(o.dedupe, PreprocessOptions::Dedupe::kKeepLast);
  ASSERT_TRUE(o.implicit_threshold.has_value());
  EXPECT_EQ(*o.implicit_threshold, 4.0f);
  EXPECT_EQ(o.min_user_events, 5u);
  EXPECT_EQ(o.missing, PreprocessOptions::Missing::kDrop);
  EXPECT_FALSE(PreprocessOptions::from_params(PreprocessOptions::params()).implicit_threshold);
}

}  // namespace
}  // namespace streamrec::data
