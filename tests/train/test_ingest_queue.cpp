// The learner's inbox on a real event log: log order kept across the memory cap (batches
// past it wait in the log and come back in order, once each), the counters, a restart's
// tail, and the publish handshake wait_learned waits on.
#include <gtest/gtest.h>

#include <thread>

#include "streamrec/store/event_log.h"
#include "streamrec/train/ingest_queue.h"
#include "test_util.h"

namespace streamrec::train {
namespace {

std::vector<store::LoggedEvent> events(int from, int n) {
  std::vector<store::LoggedEvent> out;
  for (int x = from; x < from + n; ++x)
    out.push_back({"u" + std::to_string(x % 7), "i" + std::to_string(x), 1.0f,
                   data::EventType::kClick, 1000 + x, ""});
  return out;
}

// Appends and pushes `n` events as one acknowledged batch.
void ingest(store::EventLog& log, IngestQueue& q, int from, int n) {
  const auto batch = events(from, n);
  q.push(log.append(batch), batch);
}

// Takes every queued event; returns their items in the order taken.
std::vector<std::string> drain(IngestQueue& q) {
  std::vector<std::string> items;
  std::vector<Queued> batch;
  while (q.counts().queue > 0) {
    EXPECT_TRUE(q.take(batch, std::chrono::milliseconds(1)));
    for (const auto& b : batch) items.push_back(b.event.item);
    q.learned(batch, Clock::now());
  }
  return items;
}

TEST(IngestQueue, BatchesPastTheCapWaitInTheLogAndComeBackInOrderOnce) {
  testing::TempDir dir;
  store::EventLog log(dir.path().string(), {.sync = false});
  IngestQueue q(log, /*max_queue=*/10, /*micro_batch=*/4);
  ingest(log, q, 0, 6);   // queued
  ingest(log, q, 6, 6);   // 12 > 10: waits in the log
  ingest(log, q, 12, 2);  // behind a spilled batch: waits too, to keep log order
  auto c = q.counts();
  EXPECT_EQ(c.ingested, 14u);
  EXPECT_EQ(c.queue, 14u);
  EXPECT_EQ(c.queue_in_log, 8u);
  EXPECT_EQ(c.logged, 14u);
  const auto items = drain(q);
  ASSERT_EQ(items.size(), 14u);
  for (int x = 0; x < 14; ++x) EXPECT_EQ(items[x], "i" + std::to_string(x));
  c = q.counts();
  EXPECT_EQ(c.learned, 14u);
  EXPECT_EQ(c.queue, 0u);
  EXPECT_EQ(c.via_log, 8u);
}

TEST(IngestQueue, ARestartQueuesTheTailAfterTheCheckpointAndCountsTheLog) {
  testing::TempDir dir;
  store::EventLog log(dir.path().string(), {.sync = false});
  const auto all = events(0, 20);
  log.append(all);
  IngestQueue q(log, /*max_queue=*/5, /*micro_batch=*/3);
  std::vector<Queued> tail;
  for (int x = 8; x < 20; ++x) tail.push_back({0, all[x], Clock::now(), uint64_t(x + 1), true});
  q.restart(/*covered=*/8, std::move(tail));
  auto c = q.counts();
  EXPECT_EQ(c.logged, 20u);
  EXPECT_EQ(c.ingested, 12u);
  EXPECT_EQ(c.queue_in_log, 7u);
  std::vector<Queued> batch;
  ASSERT_TRUE(q.take(batch, std::chrono::milliseconds(1)));
  EXPECT_TRUE(batch.front().replayed);
  q.learned(batch, Clock::now());
  const auto rest = drain(q);
  ASSERT_EQ(rest.size(), 9u);
  EXPECT_EQ(rest.front(), "i11");
  EXPECT_EQ(rest.back(), "i19");
}

TEST(IngestQueue, WaitLearnedReturnsOnceEverythingIsLearnedAndPublished) {
  testing::TempDir dir;
  store::EventLog log(dir.path().string(), {.sync = false});
  IngestQueue q(log, 100, 100);
  ingest(log, q, 0, 5);
  std::thread learner([&] {
    std::vector<Queued> batch;
    while (batch.empty()) ASSERT_TRUE(q.take(batch, std::chrono::milliseconds(10)));
    q.learned(batch, Clock::now());
    const auto learned = q.unpublished(false);
    ASSERT_TRUE(learned.has_value());
    EXPECT_EQ(*learned, 5u);
    q.published(*learned);
  });
  q.wait_learned();
  EXPECT_FALSE(q.unpublished(false).has_value());
  EXPECT_EQ(*q.unpublished(true), 5u);  // forced: a catalog change publishes anyway
  learner.join();
}

TEST(IngestQueue, TakeReturnsFalseAfterStopAndLeavesTheQueueForTheNextStart) {
  testing::TempDir dir;
  store::EventLog log(dir.path().string(), {.sync = false});
  IngestQueue q(log, 100, 100);
  ingest(log, q, 0, 3);
  q.stop();
  std::vector<Queued> batch;
  EXPECT_FALSE(q.take(batch, std::chrono::seconds(10)));
  EXPECT_EQ(q.counts().queue, 3u);
  q.wait_learned();  // returns on stop
}

}  // namespace
}  // namespace streamrec::train
