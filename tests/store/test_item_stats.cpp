// Item statistics: context lift, decayed counts, transitions (item-CF candidates and
// weights), records and the recommendable window.
#include <gtest/gtest.h>

#include <cmath>
#include <sstream>

#include "streamrec/core/error.h"

#include "streamrec/store/item_stats.h"

namespace streamrec::store {
namespace {

TEST(ItemStats, ContextLiftFollowsWhatTheContextPrefers) {
  ContextStats s;
  // On tv, "sport" is 4 times as common as overall; on mobile it is rare.
  for (int k = 0; k < 80; ++k) s.add("device=tv", 0, {"sport"});
  for (int k = 0; k < 20; ++k) s.add("device=tv", 0, {"drama"});
  for (int k = 0; k < 20; ++k) s.add("device=mobile", 0, {"sport"});
  for (int k = 0; k < 280; ++k) s.add("device=mobile", 0, {"drama"});
  const std::vector<std::pair<std::string, std::string>> tv = {{"device", "tv"}};
  const std::vector<std::pair<std::string, std::string>> mobile = {{"device", "mobile"}};
  EXPECT_GT(s.boost(tv, {"sport"}), 0.5);
  EXPECT_LT(s.boost(tv, {"drama"}), 0);
  EXPECT_LT(s.boost(mobile, {"sport"}), 0);
  EXPECT_EQ(s.boost({}, {"sport"}), 0);
  const std::vector<std::pair<std::string, std::string>> unknown = {{"device", "car"}};
  EXPECT_EQ(s.boost(unknown, {"sport"}), 0);
  // The hour of day comes from the event time when the context has none.
  s.add("", 20 * 3600 + 5, {"news"});
  const std::vector<std::pair<std::string, std::string>> evening = {{"hour", "20"}};
  EXPECT_GT(s.boost(evening, {"news"}), 0);
}

TEST(ItemStats, DecayedCountsPreferRecentEvents) {
  DecayedCounts c(3600);
  c.add(0, 1000);
  c.add(0, 1000);
  c.add(1, 1000 + 3 * 3600);  // one event three half-lives later outweighs two old ones
  EXPECT_GT(c.weights()[1], c.weights()[0]);
  EXPECT_NEAR(c.weights()[1] / c.weights()[0], 4.0, 1e-9);
  // Far in the future: rescaled, still finite and in the same order.
  c.add(2, 1000 + 4000 * 3600LL);
  EXPECT_TRUE(std::isfinite(c.weights()[2]));
  EXPECT_GT(c.weights()[2], c.weights()[1]);
}

TEST(ItemStats, TransitionsGiveItemCfCandidatesBestFirstSkippingWhatIsExcluded) {
  ItemStats s;
  for (uint32_t i = 0; i < 6; ++i) s.ensure(i);
  // 1 follows 0 three times, 2 follows 0 once, 3 follows 0 twice.
  const uint32_t zero[] = {0};
  for (int k = 0; k < 3; ++k) s.count_transitions(1, zero);
  s.count_transitions(2, zero);
  for (int k = 0; k < 2; ++k) s.count_transitions(3, zero);
  const uint32_t recent[] = {0};
  const auto all = [](uint32_t) { return true; };
  auto c = s.itemcf_candidates(recent, 10, {}, all);
  ASSERT_EQ(c.size(), 3u);
  EXPECT_EQ(c[0], (std::pair<uint32_t, float>{1, 3.0f}));
  EXPECT_EQ(c[1].first, 3u);
  EXPECT_EQ(c[2].first, 2u);
  const uint32_t skip[] = {3};
  c = s.itemcf_candidates(recent, 10, skip, [](uint32_t i) { return i != 2; });
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].first, 1u);
  EXPECT_EQ(s.itemcf_weight(1, recent), 3.0f);
  // Transitions count both ways: 0 is next to 1 as well.
  const uint32_t one[] = {1};
  EXPECT_EQ(s.itemcf_weight(0, one), 3.0f);
}

TEST(ItemStats, RecordsSetFirstSeenAndTheRecommendableWindow) {
  ItemStats s;
  ItemRecord r;
  r.id = "a";
  r.created_at = 500;
  r.expires_at = 2000;
  s.set_record(0, r);
  r.hidden = true;
  s.set_record(1, r);
  EXPECT_TRUE(s.recommendable(0, 1999));
  EXPECT_FALSE(s.recommendable(0, 2000));
  EXPECT_FALSE(s.recommendable(1, 0));
  EXPECT_TRUE(s.recommendable(7, 0));  // unknown to the catalog: no restriction
  EXPECT_EQ(s.first_seen(0), 500);
  s.count_event(0, 300, "device=tv");
  EXPECT_EQ(s.first_seen(0), 300);  // an event before the record's creation
  EXPECT_EQ(s.events(0), 1u);
  EXPECT_EQ(s.latest_time(), 500);
  EXPECT_GT(s.popular().weights()[0], 0);
  s.clear();
  EXPECT_EQ(s.size(), 0u);
}

TEST(ItemStats, ExpireDropsTheTransitionsOfItemsWithoutARecentEvent) {
  ItemStats s;
  for (uint32_t i = 0; i < 3; ++i) s.count_event(i, 100 + 100 * i, "");  // at 100, 200, 300
  const uint32_t zero[] = {0}, one[] = {1};
  s.count_transitions(1, zero);
  s.count_transitions(2, one);
  s.ensure(3);  // an item without events is never idle
  std::vector<uint32_t> idle;
  EXPECT_EQ(s.expire(100, idle), 0u);
  EXPECT_TRUE(idle.empty());
  EXPECT_EQ(s.expire(150, idle), 1u);  // item 0's list (1 is next to 0)
  EXPECT_EQ(idle, (std::vector<uint32_t>{0}));
  EXPECT_EQ(s.itemcf_weight(1, zero), 0.0f);
  EXPECT_EQ(s.itemcf_weight(2, one), 1.0f);  // 1 and 2 were active since: kept
  EXPECT_EQ(s.events(0), 1u);                // counters stay
  idle.clear();
  EXPECT_EQ(s.expire(250, idle), 1u);  // 1's list; 0 again (idle still), no list left
  EXPECT_EQ(idle, (std::vector<uint32_t>{0, 1}));
}

TEST(ItemStats, SavedAndLoadedItAnswersAsBefore) {
  ItemStats a;
  ItemRecord r;
  r.id = "x";
  r.attrs.categories = {"sport"};
  r.hidden = true;
  r.created_at = 50;
  a.set_record(2, r);
  for (uint32_t k = 0; k < 40; ++k) {
    a.count_event(k % 5, 1000 + k, k % 2 ? "device=tv" : "");
    const std::vector<uint32_t> previous = {(k + 1) % 5, (k + 3) % 5};
    a.count_transitions(k % 5, previous);
  }
  std::stringstream bytes;
  BinaryWriter w(bytes);
  a.save(w);
  ItemStats b;
  b.count_event(9, 1, "");  // replaced by the load
  BinaryReader in(bytes, "test");
  b.load(in);
  ASSERT_EQ(b.size(), a.size());
  EXPECT_EQ(b.popular().weights(), a.popular().weights());
  EXPECT_EQ(b.trending().weights(), a.trending().weights());
  EXPECT_EQ(b.latest_time(), a.latest_time());
  EXPECT_EQ(b.context().events(), a.context().events());
  const std::vector<std::pair<std::string, std::string>> tv = {{"device", "tv"}};
  EXPECT_EQ(b.context().boost(tv, {"sport"}), a.context().boost(tv, {"sport"}));
  for (uint32_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(b.events(i), a.events(i));
    EXPECT_EQ(b.first_seen(i), a.first_seen(i));
    EXPECT_EQ(b.recommendable(i, 2000), a.recommendable(i, 2000));
  }
  EXPECT_FALSE(b.recommendable(2, 2000)) << "the hidden record came back";
  ASSERT_NE(b.record(2), nullptr);
  EXPECT_EQ(b.record(2)->id, "x");
  const std::vector<uint32_t> recent = {0, 1};
  const auto all = [](uint32_t) { return true; };
  EXPECT_EQ(b.itemcf_candidates(recent, 5, {}, all), a.itemcf_candidates(recent, 5, {}, all));
  // A truncated copy is refused with kCorrupt, not read past its end.
  std::stringstream cut(bytes.str().substr(0, bytes.str().size() / 2));
  BinaryReader short_in(cut, "test");
  ItemStats c;
  EXPECT_THROW(c.load(short_in), Error);
}

}  // namespace
}  // namespace streamrec::store
