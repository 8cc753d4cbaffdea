// The retrain window: absolute positions that stay valid when the state TTL drops the
// oldest events.
#include <gtest/gtest.h>

#include "streamrec/train/learned_events.h"

namespace streamrec::train {
namespace {

data::Interaction at(uint32_t item, int64_t t) {
  return {0, item, 1.0f, data::EventType::kClick, t, 0};
}

TEST(LearnedEvents, PositionsStayAbsoluteWhenTheOldestExpire) {
  LearnedEvents l;
  l.assign({at(0, 10), at(1, 20)});
  l.push_back(at(2, 15));  // learning order, not time order
  l.push_back(at(3, 40));
  EXPECT_EQ(l.size(), 4u);
  EXPECT_EQ(l.expire(18), 1u);  // item 0; item 1 (20) stops the walk, 2 (15) stays
  EXPECT_EQ(l.first(), 1u);
  EXPECT_EQ(l.size(), 4u);
  const auto rest = l.copy(0, 3);  // from raised to first(): positions 1, 2
  ASSERT_EQ(rest.size(), 2u);
  EXPECT_EQ(rest[0].item, 1u);
  EXPECT_EQ(rest[1].item, 2u);
  EXPECT_EQ(l.copy(3, 10).size(), 1u);
  EXPECT_TRUE(l.copy(5, 10).empty());
  EXPECT_EQ(l.expire(100), 3u);
  EXPECT_EQ(l.size(), 4u);
  EXPECT_TRUE(l.kept().empty());
  l.assign({at(9, 1)});  // a refit starts the count again
  EXPECT_EQ(l.size(), 1u);
  EXPECT_EQ(l.first(), 0u);
}

}  // namespace
}  // namespace streamrec::train
