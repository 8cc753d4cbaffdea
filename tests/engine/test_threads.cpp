// The engine's threads at once, for ThreadSanitizer (CI runs this file's tests in a TSan
// build, build-tsan/): request threads recommending (through the ANN index and the batch
// scorer) and reading stats and histories, two ingest threads, the learner publishing
// every micro-batch and writing checkpoints, the ANN upkeep thread, a background retrain
// and a deletion, all overlapping. The model is `mf` with no live checks, so that no
// libtorch code (not instrumented) runs. In a normal build it is an ordinary test of the
// same overlap: every event learned, answers well formed, the deleted user gone.
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "streamrec/data/generator.h"
#include "streamrec/engine/engine.h"
#include "test_util.h"

namespace streamrec::engine {
namespace {

TEST(EngineThreads, IngestServingPublishAnnRetrainAndDeletionOverlap) {
  testing::TempDir dir;
  const auto ds = testing::generated(150, 120, 4000);
  EngineOptions o;
  o.model = "mf:algo=bpr,factors=8";
  o.data_dir = dir.path().string();
  o.sync = false;
  o.retrain_margin = 1;
  o.live_checks = 0;  // no fusion ranker steps: libtorch stays out of the picture
  o.publish_ms = 0;   // a publish after every micro-batch
  o.micro_batch = 64;
  o.checkpoint_s = 1e-6;  // a checkpoint at every publish
  o.ann_min_items = 50;   // the ANN upkeep thread indexes every publish
  Engine e(o);

  std::vector<std::vector<store::LoggedEvent>> batches(2);
  for (size_t x = 0; x < ds.events.size(); ++x) {
    const auto& ev = ds.events[x];
    batches[x % 2].push_back({ds.users.id(ev.user), ds.items.id(ev.item), 1.0f,
                              data::EventType::kClick, ev.timestamp, ""});
  }
  const std::string victim = batches[0].front().user;
  std::atomic<size_t> ingested{0};
  std::atomic<bool> done{false};
  auto ingest = [&](const std::vector<store::LoggedEvent>& all) {
    for (size_t x = 0; x < all.size(); x += 50) {
      const auto end = std::min(all.size(), x + 50);
      ingested += e.ingest(std::span(all).subspan(x, end - x));
    }
  };
  auto serve = [&](size_t k) {
    size_t answers = 0;
    while (!done || answers == 0) {
      RecommendRequest r;
      r.user = batches[k % 2][answers % batches[k % 2].size()].user;
      r.n = 10;
      r.ranker = false;
      const auto recs = e.recommend(r);
      EXPECT_LE(recs.size(), 10u);
      if (k == 0) {
        (void)e.stats();
        (void)e.history(r.user);
        (void)e.popular(5);
      }
      ++answers;
    }
  };
  std::vector<std::thread> threads;
  threads.emplace_back(serve, 0);
  threads.emplace_back(serve, 1);
  threads.emplace_back(ingest, std::cref(batches[0]));
  threads.emplace_back(ingest, std::cref(batches[1]));
  // A retrain once a quarter of the events are in, and a deletion when all are, while
  // the request threads go on.
  while (ingested < ds.events.size() / 4) std::this_thread::yield();
  EXPECT_TRUE(e.start_retrain());
  threads[2].join();
  threads[3].join();
  const auto erased = e.erase_user(victim);
  ASSERT_TRUE(erased.has_value());
  EXPECT_GT(*erased, 0u);
  e.wait_learned();
  done = true;
  threads[0].join();
  threads[1].join();
  std::mutex m;
  std::condition_variable cv;
  std::unique_lock lock(m);
  // Polls the status (the engine has no retrain-finished signal), bounded at 120 s.
  for (int t = 0; t < 12000 && e.retrain_status().running; ++t)
    cv.wait_for(lock, std::chrono::milliseconds(10));
  EXPECT_FALSE(e.retrain_status().running);

  EXPECT_EQ(ingested, ds.events.size());
  const auto s = e.stats();
  EXPECT_EQ(s.events_logged, ds.events.size() - *erased);
  EXPECT_GT(s.publishes_full + s.publishes_delta, 1u);
  EXPECT_TRUE(e.history(victim).empty());
  RecommendRequest r;
  r.user = batches[1].front().user;
  EXPECT_EQ(e.recommend(r).size(), 10u);
}

// A replica following a learning leader while request threads read it: its link applies
// snapshots and publishes (state ops under its locks, serving copies installed) as the
// leader's ingest, learner and publishes go on, and the leader answers the link's polls.
TEST(EngineThreads, AReplicaFollowsWhileBothServe) {
  testing::TempDir ldir, rdir;
  const auto ds = testing::generated(100, 80, 3000);
  EngineOptions o;
  o.model = "mf:algo=bpr,factors=8";
  o.sync = false;
  o.live_checks = 0;  // no libtorch code (see above)
  o.publish_ms = 0;
  o.micro_batch = 64;
  o.data_dir = ldir.path().string();
  Engine leader(o);
  o.data_dir = rdir.path().string();
  o.follow = "http://leader:1";
  Engine replica(o);
  std::vector<store::LoggedEvent> events;
  for (const auto& ev : ds.events)
    events.push_back({ds.users.id(ev.user), ds.items.id(ev.item), 1.0f, data::EventType::kClick,
                      ev.timestamp, ""});
  leader.ingest(std::span(events).subspan(0, 500));
  leader.wait_learned();
  replica.follow_snapshot(leader.replication_snapshot());
  std::atomic<bool> done{false};
  std::thread link([&] {  // what api::Follower does, without HTTP
    while (!done) {
      const auto at = replica.follow_position();
      const auto up =
          leader.replication_updates(at.epoch, at.applied, std::chrono::milliseconds(20), "r");
      if (!up || !replica.follow_updates(*up))
        replica.follow_snapshot(leader.replication_snapshot());
      replica.note_leader_contact(true);
    }
  });
  std::thread reader([&] {
    for (size_t k = 0; !done; ++k) {
      RecommendRequest r;
      r.user = events[k % events.size()].user;
      r.n = 5;
      r.ranker = false;
      EXPECT_LE(replica.recommend(r).size(), 5u);
      (void)replica.history(r.user);
      (void)replica.popular(5);
      (void)replica.stats();
      (void)leader.replicas();
    }
  });
  for (size_t x = 500; x < events.size(); x += 100)
    leader.ingest(std::span(events).subspan(x, std::min<size_t>(100, events.size() - x)));
  leader.wait_learned();
  // Until the replica has applied the leader's last publish (a condition, not a duration).
  const uint64_t head = leader.stats().replication_publish;
  std::mutex m;
  std::condition_variable cv;
  std::unique_lock lock(m);
  for (int t = 0; t < 12000 && replica.follow_position().applied < head; ++t)
    cv.wait_for(lock, std::chrono::milliseconds(10));
  done = true;
  link.join();
  reader.join();
  EXPECT_GE(replica.follow_position().applied, head);
  EXPECT_EQ(replica.stats().users, leader.stats().users);
  const auto& last = events.back();
  EXPECT_EQ(replica.history(last.user).size(), leader.history(last.user).size());
}

}  // namespace
}  // namespace streamrec::engine
