// The leader's replication log: numbered records with their ops, the byte bound that moves
// the followable base, resets, epochs, and the long-poll that returns once a record exists.
#include <gtest/gtest.h>

#include <thread>

#include "streamrec/train/replication_log.h"

namespace streamrec::train {
namespace {

using std::chrono::milliseconds;

std::shared_ptr<const std::string> bytes(size_t n) {
  return std::make_shared<const std::string>(n, 'x');
}

TEST(ReplicationLog, RecordsCarryTheirOpsInOrderAndFollowFromAnyKeptPosition) {
  ReplicationLog log(1 << 20);
  log.add_op("a");
  log.add_op("bc");
  EXPECT_EQ(log.head().pending_ops, 2u);
  log.publish(1, true, bytes(10), true);
  log.add_op("d");
  log.publish(1, false, bytes(3), false);
  const auto head = log.head();
  EXPECT_EQ(head.number, 2u);
  EXPECT_EQ(head.pending_ops, 0u);
  const auto all = log.after(head.epoch, 1, milliseconds(0), 1 << 20);
  ASSERT_TRUE(all.has_value());
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ((*all)[0]->number, 2u);
  EXPECT_EQ((*all)[0]->ops, "d");
  EXPECT_FALSE((*all)[0]->full);
  // The reset record is where following starts: nothing before it.
  EXPECT_FALSE(log.after(head.epoch, 0, milliseconds(0), 1 << 20).has_value());
  EXPECT_FALSE(log.after(head.epoch ^ 1, 1, milliseconds(0), 1 << 20).has_value());
  EXPECT_FALSE(log.after(head.epoch, 3, milliseconds(0), 1 << 20).has_value()) << "past the head";
  EXPECT_TRUE(log.after(head.epoch, 2, milliseconds(0), 1 << 20)->empty()) << "caught up";
}

TEST(ReplicationLog, TheByteBoundDropsTheOldestAndAResetDropsEverything) {
  ReplicationLog log(1000);
  const uint64_t epoch = log.epoch();
  log.publish(1, true, bytes(100), true);
  for (int k = 0; k < 20; ++k) log.publish(1, false, bytes(100), false);  // 21 records, ~164 B each
  EXPECT_FALSE(log.after(epoch, 1, milliseconds(0), 1 << 20).has_value()) << "trimmed";
  const auto kept = log.after(epoch, 15, milliseconds(0), 1 << 20);
  ASSERT_TRUE(kept.has_value());
  EXPECT_EQ(kept->size(), 6u);
  EXPECT_EQ(log.after(epoch, 15, milliseconds(0), 200)->size(), 1u) << "the answer's bound";
  log.add_op("x");
  log.publish(2, true, bytes(5000), true);  // larger than the bound: still kept (the newest)
  EXPECT_FALSE(log.after(epoch, 21, milliseconds(0), 1 << 20).has_value());
  const auto after_reset = log.after(epoch, 22, milliseconds(0), 1 << 20);
  ASSERT_TRUE(after_reset.has_value());
  EXPECT_TRUE(after_reset->empty());
}

TEST(ReplicationLog, ALongPollReturnsWhenTheNextRecordIsPublished) {
  ReplicationLog log(1 << 20);
  log.publish(1, true, bytes(1), true);
  std::thread publisher([&] {
    // Publishes once the poll waits, or at once: the poll returns the record either way.
    log.publish(1, false, bytes(1), false);
  });
  const auto got = log.after(log.epoch(), 1, milliseconds(60000), 1 << 20);
  publisher.join();
  ASSERT_TRUE(got.has_value());
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ((*got)[0]->number, 2u);
}

TEST(ReplicationLog, StateChangesGoOutWithoutAModelOnlyWhenThereAreSome) {
  ReplicationLog log(1 << 20);
  log.publish(1, true, bytes(1), true);
  log.publish_state(1);
  EXPECT_EQ(log.head().number, 1u) << "nothing pending: no record";
  log.add_op("e");
  log.publish_state(1);
  const auto got = log.after(log.epoch(), 1, milliseconds(0), 1 << 20);
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ((*got)[0]->model, nullptr);
  EXPECT_EQ((*got)[0]->ops, "e");
}

TEST(ReplicationLog, FollowersAreListedWhileTheyPoll) {
  ReplicationLog log(1 << 20);
  log.saw_follower("a", 3, 1000);
  log.saw_follower("b", 4, 5000);
  const auto seen = log.followers(6000, 2000);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].id, "b");
  EXPECT_EQ(seen[0].applied, 4u);
}

}  // namespace
}  // namespace streamrec::train
