// Users between fits: ids, a history capped at max_history (newest last), the sorted seen
// set, and a reset that keeps the ids it is given.
#include <gtest/gtest.h>

#include "streamrec/store/user_state.h"

namespace streamrec::store {
namespace {

LoggedEvent event(const std::string& user, const std::string& item, int64_t t) {
  return {user, item, 1.0f, data::EventType::kClick, t, ""};
}

TEST(UserState, HistoryIsCappedNewestLastAndSeenIsASortedSet) {
  UserState s(/*max_history=*/3);
  const uint32_t u = s.users().insert("u");
  for (const char* item : {"c", "a", "b", "a", "d"}) {
    const uint32_t i = s.items().insert(item);
    s.add(u, i, event("u", item, 0));
  }
  ASSERT_EQ(s.history(u).size(), 3u);
  EXPECT_EQ(s.history(u).front().item, "b");
  EXPECT_EQ(s.history(u).back().item, "d");
  EXPECT_EQ(s.seen(u), (std::vector<uint32_t>{0, 1, 2, 3}));  // c, a, b, d by index
  EXPECT_TRUE(s.has_seen(u, s.items().find("c")));            // seen outlives the history cap
  EXPECT_FALSE(s.has_seen(u, 9));
  EXPECT_FALSE(s.has_seen(7, 0));
  const auto last = s.last_items(u, 2);
  EXPECT_EQ(last, (std::vector<uint32_t>{s.items().find("a"), s.items().find("d")}));
}

TEST(UserState, ResetForgetsEventsAndKeepsTheGivenIds) {
  UserState s;
  s.add(s.users().insert("x"), s.items().insert("i"), event("x", "i", 0));
  const std::vector<std::string> users = {"b", "a"}, items = {"z"};
  s.reset(users, items);
  EXPECT_EQ(s.users().size(), 2u);
  EXPECT_EQ(s.users().find("a"), 1u);
  EXPECT_EQ(s.items().find("i"), IdMap::kMissing);
  // Ids known only from the reset (a checkpoint's) answer empty, before and after sizing.
  EXPECT_TRUE(s.history(1).empty());
  EXPECT_TRUE(s.seen(0).empty());
  EXPECT_TRUE(s.last_items(1, 5).empty());
  s.ensure_user(1);
  EXPECT_TRUE(s.history(1).empty());
}

TEST(UserState, ExpireDropsOldEventsAndRebuildsSeenFromWhatIsLeft) {
  UserState s;
  const uint32_t u = s.users().insert("u"), v = s.users().insert("v");
  for (const auto& [item, t] :
       std::vector<std::pair<std::string, int64_t>>{{"a", 10}, {"b", 20}, {"c", 30}})
    s.add(u, s.items().insert(item), event("u", item, t));
  s.add(v, s.items().insert("a"), event("v", "a", 15));
  std::vector<uint32_t> emptied;
  EXPECT_EQ(s.expire(10, emptied), 0u);  // nothing older than 10
  EXPECT_EQ(s.expire(25, emptied), 3u);  // u's a and b, v's a
  ASSERT_EQ(s.history(u).size(), 1u);
  EXPECT_EQ(s.history(u).front().item, "c");
  EXPECT_EQ(s.seen(u), (std::vector<uint32_t>{s.items().find("c")}));
  EXPECT_FALSE(s.has_seen(u, s.items().find("a")));
  EXPECT_EQ(emptied, (std::vector<uint32_t>{v}));
  EXPECT_TRUE(s.history(v).empty());
  EXPECT_TRUE(s.seen(v).empty());
  s.add(v, s.items().find("b"), event("v", "b", 40));  // a user coming back starts afresh
  EXPECT_EQ(s.seen(v), (std::vector<uint32_t>{s.items().find("b")}));
}

}  // namespace
}  // namespace streamrec::store
