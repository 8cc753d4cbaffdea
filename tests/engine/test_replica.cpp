// A leader engine and a replica engine without HTTP: the replica loads the leader's
// snapshot, follows its publishes (state changes and model deltas) and answers as the
// leader does; a deletion, a gap or another leader makes it take a new snapshot.
#include <gtest/gtest.h>

#include "streamrec/core/error.h"
#include "streamrec/data/generator.h"
#include "streamrec/engine/engine.h"
#include "test_util.h"

namespace streamrec::engine {
namespace {

data::Dataset stream() { return testing::generated(120, 100, 3000); }

std::vector<store::LoggedEvent> logged(const data::Dataset& ds, size_t from, size_t to) {
  std::vector<store::LoggedEvent> out;
  for (size_t x = from; x < std::min(to, ds.events.size()); ++x) {
    const auto& e = ds.events[x];
    out.push_back({ds.users.id(e.user), ds.items.id(e.item), 1.0f, data::EventType::kClick,
                   e.timestamp, x % 2 ? "device=tv" : ""});
  }
  return out;
}

EngineOptions options(const std::string& dir, const std::string& follow = "") {
  EngineOptions o;
  o.model = "seq:dim=8,maxlen=10,epochs=1,online_batch=32,online_replay=8";
  o.data_dir = dir;
  o.sync = false;
  o.follow = follow;
  o.publish_ms = 0;  // every micro-batch: many publishes, most by delta
  return o;
}

serve::RecommendRequest request(const std::string& user) {
  serve::RecommendRequest r;
  r.user = user;
  r.n = 10;
  r.ranker = false;
  r.exact = true;
  return r;
}

// What the replica's link does, in one call: snapshot or updates until it has applied
// everything the leader published. Returns the snapshots it took.
int follow(const Engine& leader, Engine& replica) {
  int snapshots = 0;
  for (int round = 0; round < 100; ++round) {
    const auto at = replica.follow_position();
    if (at.loaded && at.applied == leader.stats().replication_publish) return snapshots;
    std::optional<std::string> updates;
    if (at.loaded)
      updates = leader.replication_updates(at.epoch, at.applied, std::chrono::milliseconds(0), "r");
    if (!updates || !replica.follow_updates(*updates)) {
      replica.follow_snapshot(leader.replication_snapshot());
      ++snapshots;
    }
  }
  ADD_FAILURE() << "the replica did not catch up";
  return snapshots;
}

void expect_same_answers(const Engine& leader, const Engine& replica,
                         const std::vector<std::string>& users) {
  for (const auto& u : users) {
    const auto a = leader.recommend(request(u)), b = replica.recommend(request(u));
    ASSERT_EQ(a.size(), b.size()) << u;
    for (size_t k = 0; k < a.size(); ++k) {
      EXPECT_EQ(a[k].item, b[k].item) << u << " rank " << k;
      EXPECT_FLOAT_EQ(a[k].score, b[k].score) << u << " rank " << k;
    }
    const auto ha = leader.history(u), hb = replica.history(u);
    ASSERT_EQ(ha.size(), hb.size()) << u;
    for (size_t k = 0; k < ha.size(); ++k) EXPECT_EQ(ha[k].item, hb[k].item);
  }
  const auto pa = leader.popular(20), pb = replica.popular(20);
  const auto ta = leader.trending(20), tb = replica.trending(20);
  ASSERT_EQ(pa.size(), pb.size());
  for (size_t k = 0; k < pa.size(); ++k) EXPECT_EQ(pa[k].item, pb[k].item);
  ASSERT_EQ(ta.size(), tb.size());
  for (size_t k = 0; k < ta.size(); ++k) EXPECT_EQ(ta[k].item, tb[k].item);
  EXPECT_EQ(leader.stats().users, replica.stats().users);
  EXPECT_EQ(leader.stats().items, replica.stats().items);
  EXPECT_EQ(leader.model_version(), replica.model_version());
}

TEST(Replica, ServesWhatTheLeaderPublishedAndFollowsItsDeltas) {
  testing::TempDir ldir, rdir;
  const auto ds = stream();
  Engine leader(options(ldir.path().string()));
  Engine replica(options(rdir.path().string(), "http://leader:1"));
  EXPECT_THROW(replica.recommend(request("u1")), Error) << "nothing loaded yet";
  EXPECT_THROW(replica.ingest(logged(ds, 0, 1)), Error) << "a replica takes no writes";
  leader.upsert_users(std::vector<store::UserRecord>{{"early", {{{"gender", "F"}}, {}}}});
  leader.ingest(logged(ds, 0, 1500));
  leader.wait_learned();
  EXPECT_EQ(follow(leader, replica), 1);
  ASSERT_TRUE(replica.user("early").has_value()) << "user records are in the snapshot";
  std::vector<std::string> users;
  for (uint32_t u = 0; u < 20; ++u) users.push_back(ds.users.id(u));
  expect_same_answers(leader, replica, users);
  // More events and a catalog record: the replica follows by publishes, not a snapshot.
  leader.upsert_items(std::vector<store::ItemRecord>{{"new-item", {"title", {"c1"}, {}, {}}}});
  leader.upsert_users(std::vector<store::UserRecord>{{"late", {{{"gender", "M"}}, {}}}});
  for (size_t from = 1500; from < ds.events.size(); from += 300) {
    leader.ingest(logged(ds, from, from + 300));
    leader.wait_learned();
  }
  EXPECT_EQ(follow(leader, replica), 0);
  expect_same_answers(leader, replica, users);
  const auto s = replica.stats();
  EXPECT_EQ(s.role, "replica");
  EXPECT_GT(s.publishes_delta, 0u) << "the model followed by deltas";
  EXPECT_EQ(s.behind_publishes, 0u);
  ASSERT_TRUE(replica.user("late").has_value()) << "and in the publishes";
  EXPECT_EQ(replica.user("late")->attrs.fields.at("gender"), "M");
  ASSERT_TRUE(replica.item("new-item").has_value());
  EXPECT_EQ(replica.item("new-item")->record->attrs.title, "title");
}

TEST(Replica, ADeletionReachesTheReplicaAtTheNextPublish) {
  testing::TempDir ldir, rdir;
  const auto ds = stream();
  Engine leader(options(ldir.path().string()));
  Engine replica(options(rdir.path().string(), "http://leader:1"));
  const std::string user = ds.users.id(ds.events.back().user);
  leader.upsert_users(std::vector<store::UserRecord>{{user, {{{"gender", "F"}}, {}}}});
  leader.ingest(logged(ds, 0, ds.events.size()));
  leader.wait_learned();
  follow(leader, replica);
  ASSERT_TRUE(replica.user(user).has_value());
  ASSERT_FALSE(replica.history(user).empty());
  ASSERT_EQ(replica.recommend(request(user)).front().source, "model");
  ASSERT_TRUE(leader.erase_user(user).has_value());
  // The deletion rebuilt the leader's ids: the replica's position is void, it reloads.
  EXPECT_EQ(follow(leader, replica), 1);
  EXPECT_TRUE(replica.history(user).empty());
  EXPECT_FALSE(replica.user(user).has_value());
  EXPECT_EQ(replica.recommend(request(user)).front().source, "popular");
  expect_same_answers(leader, replica, {ds.users.id(0), ds.users.id(1)});
}

TEST(Replica, AGapOrAnotherLeaderIsRefusedAndASnapshotRestoresIt) {
  testing::TempDir ldir, l2dir, rdir;
  const auto ds = stream();
  Engine leader(options(ldir.path().string()));
  Engine other(options(l2dir.path().string()));
  Engine replica(options(rdir.path().string(), "http://leader:1"));
  leader.ingest(logged(ds, 0, 1000));
  leader.wait_learned();
  other.ingest(logged(ds, 0, 1000));
  other.wait_learned();
  follow(leader, replica);
  const auto at = replica.follow_position();
  leader.ingest(logged(ds, 1000, 2000));
  leader.wait_learned();
  other.ingest(logged(ds, 1000, 2000));
  other.wait_learned();
  // Another leader (another epoch) refuses the replica's position; the leader's publishes
  // from one too late are a gap.
  EXPECT_FALSE(other.replication_updates(at.epoch, at.applied, std::chrono::milliseconds(0), "")
                   .has_value());
  const auto late =
      leader.replication_updates(at.epoch, at.applied + 1, std::chrono::milliseconds(0), "");
  ASSERT_TRUE(late.has_value());
  EXPECT_FALSE(replica.follow_updates(*late)) << "a gap";
  EXPECT_EQ(replica.follow_position().applied, at.applied) << "nothing applied from it";
  EXPECT_EQ(follow(leader, replica), 0) << "its position still follows";
  expect_same_answers(leader, replica, {ds.users.id(0)});
  EXPECT_FALSE(
      leader.replication_updates(at.epoch ^ 1, at.applied, std::chrono::milliseconds(0), "")
          .has_value())
      << "another epoch";
  EXPECT_EQ(leader.replicas().size(), 1u);
}

}  // namespace
}  // namespace streamrec::engine
