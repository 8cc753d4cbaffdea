#include <gtest/gtest.h>

#include <map>
#include <set>

#include "streamrec/core/error.h"
#include "streamrec/data/generator.h"
#include "streamrec/eval/split.h"
#include "test_util.h"

namespace streamrec::eval {
namespace {

data::Dataset stream() {
  data::GeneratorOptions o;
  o.users = 200;
  o.items = 300;
  o.events = 8000;
  auto ds = data::generate(o);
  // Shuffle input order so that the split must sort by time itself; add exact-time ties.
  std::reverse(ds.events.begin(), ds.events.end());
  for (size_t i = 0; i + 1 < ds.events.size(); i += 50)
    ds.events[i + 1].timestamp = ds.events[i].timestamp;
  return ds;
}

TEST(Split, LeaveOneOutHasNoLeakage) {
  const auto ds = stream();
  const Split s = split_events(ds, {});
  EXPECT_EQ(s.train.size() + s.validation.size() + s.test.size(), ds.events.size());
  std::map<uint32_t, int64_t> test_time, valid_time;
  for (const auto& e : s.test) EXPECT_TRUE(test_time.emplace(e.user, e.timestamp).second);
  for (const auto& e : s.validation) EXPECT_TRUE(valid_time.emplace(e.user, e.timestamp).second);
  // Nothing fitted for test happens after the user's test event; nothing in train after the
  // validation event.
  for (const auto& e : s.fit_for_test()) {
    if (test_time.count(e.user)) {
      EXPECT_LE(e.timestamp, test_time[e.user]);
    }
  }
  for (const auto& e : s.train) {
    if (valid_time.count(e.user)) {
      EXPECT_LE(e.timestamp, valid_time[e.user]);
    }
  }
  for (const auto& [u, t] : valid_time) EXPECT_LE(t, test_time.at(u));
  // Fit data stays in time order.
  const auto fit = s.fit_for_test();
  for (size_t i = 1; i < fit.size(); ++i) EXPECT_LE(fit[i - 1].timestamp, fit[i].timestamp);
}

TEST(Split, LeaveOneOutBreaksTiesByInputOrder) {
  // u1 has three events at the same time: the last in file order is the test event.
  const auto ds = testing::tiny_dataset({{1, 1, 5}, {1, 2, 5}, {1, 3, 5}});
  const Split s = split_events(ds, {});
  ASSERT_EQ(s.test.size(), 1u);
  EXPECT_EQ(ds.items.id(s.test[0].item), "i3");
  EXPECT_EQ(ds.items.id(s.validation[0].item), "i2");
}

TEST(Split, TemporalCutsGlobalTime) {
  const auto ds = stream();
  SplitOptions o;
  o.protocol = "temporal";
  const Split s = split_events(ds, o);
  int64_t max_train = 0, min_test = INT64_MAX;
  for (const auto& e : s.train) max_train = std::max(max_train, e.timestamp);
  for (const auto& e : s.test) min_test = std::min(min_test, e.timestamp);
  EXPECT_LE(max_train, min_test);
  EXPECT_NEAR(static_cast<double>(s.train.size()) / ds.events.size(), 0.8, 0.01);
}

TEST(Split, RandomIsPerUserAndSeeded) {
  const auto ds = stream();
  SplitOptions o;
  o.protocol = "random";
  const Split a = split_events(ds, o), b = split_events(ds, o);
  ASSERT_EQ(a.test.size(), b.test.size());
  for (size_t i = 0; i < a.test.size(); ++i) EXPECT_EQ(a.test[i].item, b.test[i].item);
  EXPECT_EQ(a.train.size() + a.validation.size() + a.test.size(), ds.events.size());
  EXPECT_NEAR(static_cast<double>(a.train.size()) / ds.events.size(), 0.8, 0.03);
  o.protocol = "bogus";
  EXPECT_THROW(split_events(ds, o), Error);
}

}  // namespace
}  // namespace streamrec::eval
