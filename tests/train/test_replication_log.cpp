// The leader's replication log: nothing kept before the first snapshot, numbered records
// with their ops, the byte bound that moves the followable base, resets, epochs, and the
// long-poll that returns once a record exists.
#include <gtest/gtest.h>

#include <thread>

#include "streamrec/train/replication_log.h"

namespace streamrec::train {
namespace {

using std::chrono::milliseconds;
using Kind = ReplicationLog::Kind;

std::string bytes(size_t n) { return std::string(n, 'x'); }

TEST(ReplicationLog, NothingIsKeptUntilTheFirstSnapshot) {
  ReplicationLog log(1 << 20);
  log.add_op("dropped");
  log.publish(1, Kind::kFull, bytes(10), true);
  log.publish(1, Kind::kDelta, bytes(3), false);
  EXPECT_EQ(log.head().number, 2u) << "publishes are numbered";
  EXPECT_EQ(log.head().pending_ops, 0u) << "no op kept";
  const auto at = log.start_following();
  EXPECT_EQ(at.number, 2u);
  EXPECT_FALSE(log.after(at.epoch, 1, milliseconds(0), 1 << 20).has_value())
      << "nothing before the snapshot can be followed";
  EXPECT_TRUE(log.after(at.epoch, 2, milliseconds(0), 1 << 20)->empty());
  log.add_op("kept");
  EXPECT_EQ(log.head().pending_ops, 1u);
  log.publish(1, Kind::kDelta, bytes(3), false);
  const auto got = log.after(at.epoch, 2, milliseconds(0), 1 << 20);
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ((*got)[0]->ops, "kept");
}

TEST(ReplicationLog, RecordsCarryTheirOpsInOrderAndFollowFromAnyKeptPosition) {
  ReplicationLog log(1 << 20);
  log.start_following();
  log.add_op("a");
  log.add_op("bc");
  EXPECT_EQ(log.head().pending_ops, 2u);
  log.publish(1, Kind::kFull, bytes(10), true);
  log.add_op("d");
  log.publish(1, Kind::kDelta, bytes(3), false);
  const auto head = log.head();
  EXPECT_EQ(head.number, 2u);
  EXPECT_EQ(head.pending_ops, 0u);
  const auto all = log.after(head.epoch, 1, milliseconds(0), 1 << 20);
  ASSERT_TRUE(all.has_value());
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ((*all)[0]->number, 2u);
  EXPECT_EQ((*all)[0]->ops, "d");
  EXPECT_EQ((*all)[0]->kind, Kind::kDelta);
  // The reset record is where following starts: nothing before it.
  EXPECT_FALSE(log.after(head.epoch, 0, milliseconds(0), 1 << 20).has_value());
  EXPECT_FALSE(log.after(head.epoch ^ 1, 1, milliseconds(0), 1 << 20).has_value());
  EXPECT_FALSE(log.after(head.epoch, 3, milliseconds(0), 1 << 20).has_value()) << "past the head";
  EXPECT_TRUE(log.after(head.epoch, 2, milliseconds(0), 1 << 20)->empty()) << "caught up";
}

TEST(ReplicationLog, TheByteBoundDropsTheOldestAndAResetDropsEverything) {
  ReplicationLog log(1000);
  const uint64_t epoch = log.start_following().epoch;
  log.publish(1, Kind::kFull, bytes(100), true);
  for (int k = 0; k < 20; ++k) log.publish(1, Kind::kDelta, bytes(100), false);  // 164 B each
  EXPECT_FALSE(log.after(epoch, 1, milliseconds(0), 1 << 20).has_value()) << "trimmed";
  const auto kept = log.after(epoch, 15, milliseconds(0), 1 << 20);
  ASSERT_TRUE(kept.has_value());
  EXPECT_EQ(kept->size(), 6u);
  EXPECT_EQ(log.after(epoch, 15, milliseconds(0), 200)->size(), 1u) << "the answer's bound";
  log.add_op("x");
  log.publish(2, Kind::kFull, bytes(5000), true);  // larger than the bound: still kept (the newest)
  EXPECT_FALSE(log.after(epoch, 21, milliseconds(0), 1 << 20).has_value());
  const auto after_reset = log.after(epoch, 22, milliseconds(0), 1 << 20);
  ASSERT_TRUE(after_reset.has_value());
  EXPECT_TRUE(after_reset->empty());
}

TEST(ReplicationLog, ALongPollReturnsWhenTheNextRecordIsPublished) {
  ReplicationLog log(1 << 20);
  log.start_following();
  log.publish(1, Kind::kFull, bytes(1), true);
  std::thread publisher([&] {
    // Publishes once the poll waits, or at once: the poll returns the record either way.
    log.publish(1, Kind::kDelta, bytes(1), false);
  });
  const auto t0 = std::chrono::steady_clock::now();
  const auto got = log.after(log.epoch(), 1, milliseconds(600000), 1 << 20);
  publisher.join();
  ASSERT_TRUE(got.has_value());
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ((*got)[0]->number, 2u);
  // Woken by the publish, not by the 10-minute timeout (a bound no busy machine reaches).
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::minutes(5));
}

TEST(ReplicationLog, StateChangesGoOutWithoutAModelOnlyWhenThereAreSome) {
  ReplicationLog log(1 << 20);
  log.start_following();
  log.publish(1, Kind::kFull, bytes(1), true);
  log.publish(1, Kind::kState, {}, false);
  EXPECT_EQ(log.head().number, 1u) << "nothing pending: no record";
  log.add_op("e");
  log.publish(1, Kind::kState, {}, false);
  const auto got = log.after(log.epoch(), 1, milliseconds(0), 1 << 20);
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ((*got)[0]->kind, Kind::kState);
  EXPECT_TRUE((*got)[0]->model.empty());
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
