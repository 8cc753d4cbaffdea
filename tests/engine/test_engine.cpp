// The engine without HTTP: learn -> publish, the guard's rollback, a retrain that catches
// up with what arrived meanwhile, a restart from the checkpoint plus the log, deletion.
// Every wait is for a condition (wait_learned, the retrain's status), never a duration.
#include <gtest/gtest.h>

#include <cmath>
#include <set>
#include <thread>

#include "streamrec/core/clock.h"
#include "streamrec/data/generator.h"
#include "streamrec/engine/engine.h"
#include "test_util.h"

namespace streamrec::engine {
namespace {

data::Dataset stream() { return testing::generated(200, 150, 6000); }

std::vector<store::LoggedEvent> logged(const data::Dataset& ds, size_t from, size_t to,
                                       data::EventType type = data::EventType::kClick) {
  std::vector<store::LoggedEvent> out;
  for (size_t x = from; x < std::min(to, ds.events.size()); ++x) {
    const auto& e = ds.events[x];
    out.push_back({ds.users.id(e.user), ds.items.id(e.item), 1.0f, type, e.timestamp, ""});
  }
  return out;
}

EngineOptions options(const std::string& dir, const std::string& model) {
  EngineOptions o;
  o.model = model;
  o.data_dir = dir;
  o.sync = false;
  o.retrain_margin = 1;  // retrains always accepted
  return o;
}

serve::RecommendRequest request(const std::string& user, size_t n = 10) {
  serve::RecommendRequest r;
  r.user = user;
  r.n = n;
  r.ranker = false;
  r.exact = true;
  return r;
}

void wait_retrain(const Engine& e) {
  std::mutex m;
  std::condition_variable cv;
  std::unique_lock lock(m);
  // Polls the status (the engine has no retrain-finished signal), bounded at 60 s.
  for (int t = 0; t < 6000 && e.retrain_status().running; ++t)
    cv.wait_for(lock, std::chrono::milliseconds(10));
}

TEST(Engine, LearnedEventsArePublishedAndRecommendationsComeFromTheModel) {
  testing::TempDir dir;
  const auto ds = stream();
  Engine e(options(dir.path().string(), "mf:algo=bpr,factors=16"));
  EXPECT_EQ(e.ingest(logged(ds, 0, ds.events.size())), ds.events.size());
  e.wait_learned();
  const auto s = e.stats();
  EXPECT_EQ(s.events_ingested, ds.events.size());
  EXPECT_EQ(s.events_learned, ds.events.size());
  EXPECT_EQ(s.events_logged, ds.events.size());
  EXPECT_GT(s.publishes_full + s.publishes_delta, 0u);
  EXPECT_GT(s.live_scored, 0u);
  EXPECT_EQ(e.privacy(), nullptr);  // no differential privacy: none reported
  EXPECT_TRUE(std::isnan(s.dp_epsilon));
  const std::string user = ds.users.id(ds.events.back().user);
  const auto recs = e.recommend(request(user));
  ASSERT_EQ(recs.size(), 10u);
  EXPECT_EQ(recs.front().source, "model");
  const auto history = e.history(user);
  ASSERT_FALSE(history.empty());
  for (const auto& r : recs)  // seen items are excluded
    for (const auto& h : history) EXPECT_NE(r.item, h.item);
  EXPECT_EQ(e.recommend(request("nobody")).front().source, "popular");
}

TEST(Engine, ADpModelReportsTheEpsilonItSpentFitAndOnline) {
  testing::TempDir dir;
  const auto ds = stream();
  Engine e(options(dir.path().string(),
                   "seq:dim=8,maxlen=10,epochs=2,online_batch=32,online_replay=8,dp_noise=3,"
                   "dp_max_epsilon=40"));
  ASSERT_NE(e.privacy(), nullptr);
  e.ingest(logged(ds, 0, 1000));
  e.wait_learned();
  ASSERT_TRUE(e.start_retrain());  // a fit on the events: its steps are counted too
  wait_retrain(e);
  e.ingest(logged(ds, 1000, 2000));
  e.wait_learned();
  const auto p = e.privacy();
  ASSERT_NE(p, nullptr);
  const auto s = e.stats();
  EXPECT_EQ(s.dp_epsilon, p->epsilon);
  EXPECT_EQ(s.dp_online_steps, p->online_steps);
  EXPECT_GT(p->steps, 0u);
  EXPECT_GT(p->users, 0u);
  EXPECT_GT(p->online_steps, 0u);
  EXPECT_LE(p->epsilon, 40.0);
  EXPECT_DOUBLE_EQ(p->noise, 3.0);
  // The retrain's model replaced others that spent too: all versions compose to more.
  EXPECT_GT(p->epsilon_all_versions, p->epsilon);
}

TEST(Engine, GuardRollsBackAModelThatLearnedNonFiniteScores) {
  // Rating SGD learns value - prediction: a value near FLT_MAX (finite, so accepted) blows
  // the factors up to inf/NaN. The guard rolls back to the last healthy state.
  testing::TempDir dir;
  auto o = options(dir.path().string(), "mf:algo=sgd,factors=8");
  o.publish_ms = 0;
  o.max_value = std::numeric_limits<float>::max();  // the input checks would refuse the poison (the
                                                    // guard is the test)
  Engine e(o);
  const auto ds = stream();
  e.ingest(logged(ds, 0, ds.events.size(), data::EventType::kRating));
  e.wait_learned();
  const std::string user = ds.users.id(ds.events.back().user);
  EXPECT_EQ(e.stats().rollbacks, 0u);
  std::vector<store::LoggedEvent> poison;
  for (int x = 0; x < 50; ++x)
    poison.push_back({user, ds.items.id(x), 3e38f, data::EventType::kRating, unix_seconds(), ""});
  e.ingest(poison);
  e.wait_learned();
  EXPECT_GE(e.stats().rollbacks, 1u);
  const auto after = e.recommend(request(user));
  ASSERT_EQ(after.size(), 10u);
  for (const auto& r : after) {
    EXPECT_TRUE(std::isfinite(r.score)) << r.item;
    EXPECT_EQ(r.source, "model");
  }
  EXPECT_EQ(e.versions().back().reason, "guard rollback");
}

TEST(Engine, ARetrainCatchesUpWithWhatArrivedMeanwhileAndBecomesANewVersion) {
  testing::TempDir dir;
  const auto ds = stream();
  Engine e(options(dir.path().string(), "mf:algo=bpr,factors=16"));
  const size_t half = ds.events.size() / 2;
  e.ingest(logged(ds, 0, half));
  e.wait_learned();
  const uint64_t v0 = e.model_version();
  ASSERT_TRUE(e.start_retrain());
  e.ingest(logged(ds, half, ds.events.size()));  // while it runs
  wait_retrain(e);
  e.wait_learned();
  const auto r = e.retrain_status();
  ASSERT_FALSE(r.running);
  EXPECT_EQ(r.error, "");
  EXPECT_TRUE(r.accepted);
  EXPECT_EQ(e.model_version(), v0 + 1);
  EXPECT_GE(r.events_fitted, half);
  EXPECT_LE(r.events_fitted + r.events_caught_up, ds.events.size());
  EXPECT_EQ(e.versions().back().reason, "retrain");
  EXPECT_EQ(e.recommend(request(ds.users.id(ds.events.back().user))).front().source, "model");
}

TEST(Engine, ARetrainWithTooFewHeldOutChecksCannotReplaceACheckedLiveModel) {
  // Even one that would always be accepted on the held-out HR (margin 1): 5 held-out
  // events are no evidence against a live model with hundreds of live checks.
  testing::TempDir dir;
  const auto ds = stream();
  auto o = options(dir.path().string(), "mf:algo=bpr,factors=16");
  o.retrain_holdout = 5;
  Engine e(o);
  e.ingest(logged(ds, 0, ds.events.size()));
  e.wait_learned();
  ASSERT_GE(e.stats().live_scored, 30u);
  const uint64_t v0 = e.model_version();
  ASSERT_TRUE(e.start_retrain());
  wait_retrain(e);
  const auto r = e.retrain_status();
  ASSERT_FALSE(r.running);
  EXPECT_LT(r.holdout_checks, 30u);
  EXPECT_FALSE(r.accepted);
  EXPECT_EQ(e.model_version(), v0);
}

TEST(Engine, ARestartResumesFromTheCheckpointAndLearnsTheLogAfterIt) {
  testing::TempDir dir;
  const auto ds = stream();
  auto o = options(dir.path().string(), "mf:algo=bpr,factors=8");
  o.checkpoint_s = 1e-6;  // a checkpoint at every publish
  o.quality_margin = 0;
  const size_t half = ds.events.size() / 2;
  std::vector<serve::Recommendation> before;
  const std::string user = ds.users.id(ds.events.front().user);
  {
    Engine e(o);
    e.ingest(logged(ds, 0, half));
    e.wait_learned();
    before = e.recommend(request(user, 20));
  }
  {
    Engine again(o);  // no new events: the model learned online, not a refit
    EXPECT_NE(again.versions().back().reason.find("checkpoint of " + std::to_string(half)),
              std::string::npos)
        << again.versions().back().reason;
    const auto same = again.recommend(request(user, 20));
    ASSERT_EQ(same.size(), before.size());
    for (size_t x = 0; x < same.size(); ++x) {
      EXPECT_EQ(same[x].item, before[x].item) << x;
      EXPECT_NEAR(same[x].score, before[x].score, 1e-6) << x;
    }
    again.ingest(logged(ds, half, ds.events.size()));
    again.wait_learned();
  }
  Engine third(o);
  third.wait_learned();
  const auto s = third.stats();
  EXPECT_EQ(s.events_logged, ds.events.size());
  std::set<uint32_t> active;
  for (const auto& x : ds.events) active.insert(x.user);
  EXPECT_EQ(s.users, active.size());
}

TEST(Engine, DeletingAUserRemovesTheirEventsHistoryAndModelTrace) {
  testing::TempDir dir;
  const auto ds = stream();
  auto o = options(dir.path().string(), "mf:algo=bpr,factors=16");
  o.checkpoint_s = 1e-6;
  Engine e(o);
  e.ingest(logged(ds, 0, ds.events.size()));
  e.wait_learned();
  const std::string user = ds.users.id(ds.events.back().user);
  const size_t theirs = std::count_if(ds.events.begin(), ds.events.end(),
                                      [&](const auto& x) { return ds.users.id(x.user) == user; });
  ASSERT_GT(theirs, 0u);
  // An unknown user: nothing changes (no refit, no version dropped); a user with only a
  // record: the record goes, the model stays.
  const auto versions = e.versions().size();
  const auto version = e.model_version();
  EXPECT_EQ(e.erase_user("nobody"), std::nullopt);
  e.upsert_users(std::vector<store::UserRecord>{{"record-only", {}}});
  EXPECT_EQ(e.erase_user("record-only"), 0u);
  EXPECT_FALSE(e.user("record-only").has_value());
  EXPECT_EQ(e.versions().size(), versions);
  EXPECT_EQ(e.model_version(), version);
  ASSERT_GT(e.stats().ranker_steps, 0u) << "the ranker learned from the live checks";
  EXPECT_EQ(e.erase_user(user), theirs);
  EXPECT_EQ(e.stats().ranker_steps, 0u) << "the ranker starts over: no trace of the user";
  EXPECT_TRUE(e.history(user).empty());
  EXPECT_EQ(e.stats().events_logged, ds.events.size() - theirs);
  EXPECT_EQ(e.recommend(request(user)).front().source, "popular");  // unknown again
  EXPECT_EQ(e.versions().back().reason, "deletion");
}

TEST(Engine, StateTtlForgetsOldHistoriesTransitionsModelRowsAndTheRetrainWindow) {
  testing::TempDir dir;
  auto o = options(dir.path().string(), "seq:dim=8,maxlen=10,epochs=1");
  o.state_ttl_s = 1000;
  Engine e(o);
  // Two eras 10,000 s of event time apart, with their own users and items.
  auto era = [](const std::string& name, int64_t t0) {
    std::vector<store::LoggedEvent> out;
    for (int k = 0; k < 1500; ++k)
      out.push_back({name + "-u" + std::to_string(k % 50),
                     name + "-i" + std::to_string((k * 7) % 40), 1.0f, data::EventType::kClick,
                     t0 + k / 3, ""});
    return out;
  };
  e.ingest(era("old", 1000000000));
  e.wait_learned();
  const auto rows_old = e.stats().model_rows;
  ASSERT_GT(rows_old, 0u);
  EXPECT_EQ(e.history("old-u1").size(), 30u);
  EXPECT_EQ(e.stats().state_expired, 0u);
  e.ingest(era("new", 1000010000));
  e.wait_learned();
  const auto s = e.stats();
  EXPECT_EQ(s.state_expired, 1500u);  // every event of the old era left the histories
  EXPECT_TRUE(e.history("old-u1").empty());
  EXPECT_EQ(e.history("new-u1").size(), 30u);
  EXPECT_LE(s.model_rows, rows_old + 5) << "the old era's item rows were not evicted";
  // The retrain window holds the new era only; a retrain fits it.
  ASSERT_TRUE(e.start_retrain());
  wait_retrain(e);
  EXPECT_EQ(e.retrain_status().error, "");
  EXPECT_LE(e.retrain_status().events_fitted, 1500u);
  const auto recs = e.recommend(request("new-u1"));
  ASSERT_FALSE(recs.empty());
  for (const auto& r : recs) EXPECT_EQ(r.item.rfind("new-", 0), 0u) << r.item;
}

}  // namespace
}  // namespace streamrec::engine
