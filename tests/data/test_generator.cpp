#include <gtest/gtest.h>

#include <map>

#include "streamrec/data/dataset_io.h"
#include "streamrec/data/generator.h"
#include "streamrec/data/reader.h"
#include "test_util.h"

namespace streamrec::data {
namespace {

GeneratorOptions small() {
  GeneratorOptions o;
  o.users = 300;
  o.items = 400;
  o.events = 20000;
  return o;
}

bool same_events(const Dataset& a, const Dataset& b) {
  if (a.events.size() != b.events.size()) return false;
  for (size_t i = 0; i < a.events.size(); ++i) {
    const auto &x = a.events[i], &y = b.events[i];
    if (x.user != y.user || x.item != y.item || x.timestamp != y.timestamp || x.type != y.type)
      return false;
  }
  return true;
}

TEST(Generator, DeterministicUnderSeed) {
  const auto a = generate(small());
  const auto b = generate(small());
  EXPECT_TRUE(same_events(a, b));
  auto o = small();
  o.seed = 7;
  EXPECT_FALSE(same_events(a, generate(o)));
}

TEST(Generator, TimeOrderedWithContextAndReleases) {
  const auto ds = generate(small());
  ASSERT_EQ(ds.events.size(), 20000u);
  int64_t last = 0;
  for (const auto& e : ds.events) {
    EXPECT_GE(e.timestamp, last);
    last = e.timestamp;
    const auto& a = ds.item_attrs[e.item];
    if (auto it = a.numeric.find("release"); it != a.numeric.end()) {
      EXPECT_GE(e.timestamp, static_cast<int64_t>(it->second)) << "item used before release";
    }
    const auto& ctx = ds.contexts[e.context];
    ASSERT_EQ(ctx.size(), 3u);
    EXPECT_EQ(ctx[0].first, "device");
    EXPECT_EQ(ctx[1].first, "hour");
  }
}

TEST(Generator, UsersFavourTheirCategoriesAndNewcomersArrive) {
  const auto ds = generate(small());
  // A user's top category share is far above the uniform 1/20.
  std::map<uint32_t, std::map<std::string, int>> per_user;
  std::map<uint32_t, int64_t> first_seen;
  for (const auto& e : ds.events) {
    ++per_user[e.user][ds.item_attrs[e.item].categories.at(0)];
    first_seen.try_emplace(e.user, e.timestamp);
  }
  double share = 0;
  int users = 0;
  for (const auto& [u, cats] : per_user) {
    int total = 0, best = 0;
    for (const auto& [c, n] : cats) total += n, best = std::max(best, n);
    if (total >= 20) share += static_cast<double>(best) / total, ++users;
  }
  ASSERT_GT(users, 50);
  EXPECT_GT(share / users, 0.3);
  const int64_t start = ds.events.front().timestamp;
  int late = 0;
  for (const auto& [u, t] : first_seen) late += (t - start) > 5 * 86400;
  EXPECT_GT(late, 30);  // users keep arriving
}

TEST(Generator, CsvRoundTrip) {
  streamrec::testing::TempDir dir;
  const auto ds = generate(small());
  write_csv_dataset(ds, dir.path().string());
  ImportReport r;
  const auto back = read_dataset(dir.path().string(), {}, r);
  EXPECT_EQ(r.rows_skipped, 0u);
  ASSERT_EQ(back.events.size(), ds.events.size());
  for (size_t i = 0; i < ds.events.size(); i += 997) {
    EXPECT_EQ(back.users.id(back.events[i].user), ds.users.id(ds.events[i].user));
    EXPECT_EQ(back.items.id(back.events[i].item), ds.items.id(ds.events[i].item));
    EXPECT_EQ(back.contexts[back.events[i].context], ds.contexts[ds.events[i].context]);
    EXPECT_EQ(back.events[i].type, ds.events[i].type);
  }
  const uint32_t i0 = back.items.find(ds.items.id(5));
  EXPECT_EQ(back.item_attrs[i0].categories, ds.item_attrs[5].categories);
  EXPECT_EQ(back.item_attrs[i0].title, ds.item_attrs[5].title);
}

}  // namespace
}  // namespace streamrec::data
