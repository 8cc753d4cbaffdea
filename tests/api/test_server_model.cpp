// End to end over HTTP: the model's life: background and scheduled retrains, versions and
// rollback, the quality guard, the fusion ranker, metrics.
#include <gtest/gtest.h>
#include <httplib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "server_fixture.h"
#include "streamrec/core/error.h"
#include "streamrec/store/event_log.h"
#include "test_util.h"

namespace streamrec::api {
namespace {

// /v1/model once the retrain has finished (polled, at most 30 s).
json model_after_retrain(httplib::Client& admin) {
  json m;
  for (int t = 0; t < 600; ++t) {
    m = body_of(admin.Get("/v1/model"));
    if (!m["retrain"]["running"].get<bool>()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return m;
}

TEST(Server, BackgroundRetrainSwapsInANewVersionWhileIngestGoesOn) {
  testing::TempDir dir;
  const auto ds = small_stream();
  Running r(dir.path().string(), "mf:algo=bpr,factors=16");
  auto writer = r.client(kWrite);
  const auto batches = event_batches(ds, 500);
  post_batches(writer, batches, 0, batches.size() / 2);
  r.service.wait_learned();
  auto admin = r.client(kAdmin);
  const auto v0 = body_of(admin.Get("/v1/model"))["version"].get<int>();
  EXPECT_EQ(r.client(kWrite).Post("/v1/model/retrain", "", "application/json")->status, 403);
  ASSERT_EQ(admin.Post("/v1/model/retrain", "", "application/json")->status, 202);
  // Ingest goes on during the retrain; the new version catches up on it.
  for (size_t b = batches.size() / 2; b < batches.size(); ++b)
    ASSERT_EQ(writer.Post("/v1/events", batches[b], "application/json")->status, 200);
  const json m = model_after_retrain(admin);
  ASSERT_FALSE(m["retrain"]["running"].get<bool>());
  EXPECT_EQ(m["retrain"]["error"], "");
  EXPECT_TRUE(m["retrain"]["accepted"].get<bool>());
  EXPECT_FALSE(m["retrain"]["scheduled"].get<bool>());
  EXPECT_GT(m["retrain"]["holdout_checks"].get<int>(), 30);  // 300 held out of ~3000
  EXPECT_GT(m["retrain"]["holdout_hr10"].get<double>(), 0.0);
  EXPECT_EQ(m["version"].get<int>(), v0 + 1);
  EXPECT_TRUE(m["privacy"].is_null());  // no differential privacy
  r.service.wait_learned();
  EXPECT_LE(
      m["retrain"]["events_fitted"].get<size_t>() + m["retrain"]["events_caught_up"].get<size_t>(),
      ds.events.size());
  EXPECT_GE(m["retrain"]["events_fitted"].get<size_t>(), ds.events.size() / 2 - 500);
  const std::string user = ds.users.id(ds.events.back().user);
  auto rec = body_of(r.client(kRead).Get(("/v1/recommend?user=" + user + "&n=10").c_str()));
  ASSERT_EQ(rec["items"].size(), 10u);
  EXPECT_NE(rec["items"][0]["source"], "popular");

  // Versions: start and retrain are kept. A second retrain with nothing arriving makes the
  // live model exactly version 3's snapshot; rolling back to 2 and then to 3 must restore
  // its exact scores.
  auto wait_retrain = [&] {
    for (int t = 0; t < 600 && r.service.retrain_status().running; ++t)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
  };
  ASSERT_EQ(admin.Post("/v1/model/retrain", "", "application/json")->status, 202);
  wait_retrain();
  auto versions = body_of(r.client(kRead).Get("/v1/model/versions"));
  ASSERT_EQ(versions["versions"].size(), 3u) << versions.dump();
  EXPECT_EQ(versions["versions"][0]["reason"], "start");
  EXPECT_EQ(versions["versions"][2]["reason"], "retrain");
  const auto at3 = body_of(r.client(kRead).Get(("/v1/recommend?user=" + user + "&n=10").c_str()));
  EXPECT_EQ(r.client(kWrite).Post("/v1/model/rollback?version=1", "", "")->status, 403);
  EXPECT_EQ(admin.Post("/v1/model/rollback?version=99", "", "")->status, 400);
  EXPECT_EQ(body_of(admin.Post("/v1/model/rollback?version=2", "", ""))["version"], v0 + 3);
  const auto at2 = body_of(r.client(kRead).Get(("/v1/recommend?user=" + user + "&n=10").c_str()));
  EXPECT_NE(at2["items"], at3["items"]) << "version 2 is another model";
  EXPECT_EQ(body_of(admin.Post("/v1/model/rollback?version=3", "", ""))["version"], v0 + 4);
  const auto back = body_of(r.client(kRead).Get(("/v1/recommend?user=" + user + "&n=10").c_str()));
  EXPECT_EQ(back["items"], at3["items"]);
  EXPECT_EQ(body_of(r.client(kRead).Get("/v1/model/versions"))["versions"].back()["reason"],
            "rollback to 3");
}

TEST(Server, ModelReportsTheDifferentialPrivacySpent) {
  testing::TempDir dir;
  const auto ds = small_stream();
  Running r(dir.path().string(), "seq:dim=8,maxlen=10,epochs=2,dp_noise=2");
  auto writer = r.client(kWrite);
  const auto batches = event_batches(ds, 500);
  post_batches(writer, batches, 0, 2);
  r.service.wait_learned();
  auto admin = r.client(kAdmin);
  ASSERT_EQ(admin.Post("/v1/model/retrain", "", "application/json")->status, 202);
  const json m = model_after_retrain(admin);
  ASSERT_TRUE(m["privacy"].is_object()) << m.dump();
  EXPECT_GT(m["privacy"]["epsilon"].get<double>(), 0.0);
  EXPECT_EQ(m["privacy"]["noise_multiplier"].get<double>(), 2.0);
  EXPECT_EQ(m["privacy"]["delta"].get<double>(), 1e-5);
  EXPECT_EQ(m["privacy"]["online_steps"].get<int>(), 0);  // dp_max_epsilon 0: none
  EXPECT_GE(m["privacy"]["epsilon_all_versions"].get<double>(),
            m["privacy"]["epsilon"].get<double>());
  const auto stats = body_of(r.client(kRead).Get("/v1/stats"));
  EXPECT_EQ(stats["dp_epsilon"].get<double>(), m["privacy"]["epsilon"].get<double>());
}

TEST(Server, ScheduledRetrainSwapsOnlyWhenTheHeldOutCheckPasses) {
  testing::TempDir dir;
  const auto ds = small_stream();
  // Every second; a retrain must be at least as good as the live model (margin 0).
  Running r(dir.path().string(), "mf:algo=bpr,factors=16", [](engine::EngineOptions& o) {
    o.retrain_every_s = 1;
    o.retrain_margin = 0;
  });
  auto writer = r.client(kWrite);
  post_batches(writer, event_batches(ds, 500));
  r.service.wait_learned();
  auto reader = r.client(kRead);
  json m;
  for (int t = 0; t < 100; ++t) {
    m = body_of(reader.Get("/v1/model"));
    if (m["retrain"]["finished_ms"].get<int64_t>() > 0 && !m["retrain"]["running"].get<bool>())
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  const auto& rt = m["retrain"];
  ASSERT_GT(rt["finished_ms"].get<int64_t>(), 0) << m.dump();
  EXPECT_TRUE(rt["scheduled"].get<bool>());
  EXPECT_EQ(rt["error"], "");
  // The verdict follows the rule, and only an accepted retrain makes a version.
  const bool should = rt["holdout_checks"].get<int>() < 30 ||
                      rt["holdout_hr10"].get<double>() >= rt["live_hr10"].get<double>();
  EXPECT_EQ(rt["accepted"].get<bool>(), should) << rt.dump();
  const auto versions = body_of(reader.Get("/v1/model/versions"))["versions"];
  size_t retrains = 0;
  for (const auto& v : versions) retrains += v["reason"] == "retrain";
  if (rt["accepted"].get<bool>())
    EXPECT_GE(retrains, 1u) << versions.dump();
  else
    std::printf("retrain refused: %s\n", rt.dump().c_str());
}

TEST(Server, QualityGuardRollsBackAPoisoningBurst) {
  // popular learns online; a burst of spam (20,000 fresh accounts clicking 10 junk items)
  // fills the top 10 with junk, so the real users' next events stop hitting the top 10. The
  // guard sees the live HR@10 collapse and rolls back to the state before the burst.
  testing::TempDir dir;
  const auto ds = stream(300, 150, 20000);
  Running r(dir.path().string(), "popular", [](engine::EngineOptions& o) {
    o.quality_checks = 100;
    o.quality_margin = 0.5;
  });
  auto writer = r.client(kWrite);
  const auto batches = event_batches(ds, 500);
  const size_t half = batches.size() / 2;
  post_batches(writer, batches, 0, half);
  r.service.wait_learned();  // publishes: the first window becomes the baseline
  ASSERT_EQ(r.service.stats().rollbacks, 0u);
  for (int part = 0; part < 4; ++part) {
    json spam = json::array();
    for (int x = part * 5000; x < (part + 1) * 5000; ++x)
      spam.push_back({{"user", fmt::format("bot{}", x)}, {"item", fmt::format("junk{}", x % 10)}});
    ASSERT_EQ(writer.Post("/v1/events", spam.dump(), "application/json")->status, 200);
  }
  r.service.wait_learned();
  auto reader = r.client(kRead);
  const std::string user = ds.users.id(ds.events.front().user);
  const auto poisoned =
      body_of(reader.Get(("/v1/recommend?n=10&ranker=false&user=" + user).c_str()));
  EXPECT_EQ(poisoned["items"][0]["item"].get<std::string>().rfind("junk", 0), 0u)
      << "the burst did not reach the top: " << poisoned.dump();
  post_batches(writer, batches, half, batches.size());
  r.service.wait_learned();
  EXPECT_EQ(r.service.stats().rollbacks, 1u);
  const auto versions = body_of(reader.Get("/v1/model/versions"))["versions"];
  EXPECT_EQ(versions.back()["reason"], "guard rollback") << versions.dump();
  const auto recs = body_of(reader.Get(("/v1/recommend?n=10&ranker=false&user=" + user).c_str()));
  for (const auto& it : recs["items"])
    EXPECT_NE(it["item"].get<std::string>().rfind("junk", 0), 0u) << it.dump();
}

TEST(Server, FusionRankerLearnsOnlineAndOrdersWhenAsked) {
  testing::TempDir dir;
  const auto ds = stream(300, 300, 20000);
  Running r(dir.path().string(), "mf:algo=bpr,factors=16");
  auto writer = r.client(kWrite);
  ASSERT_EQ(writer.Post("/v1/items", catalog_json(ds), "application/json")->status, 200);
  post_batches(writer, event_batches(ds, 250));
  r.service.wait_learned();
  const auto s = r.service.stats();
  std::printf("live HR@10 model %.3f, after the fusion ranker %.3f (%llu steps)\n", s.live_hr10,
              s.ranked_hr10, static_cast<unsigned long long>(s.ranker_steps));
  EXPECT_GT(s.ranker_steps, 10u);
  EXPECT_GT(s.ranked_hr10, 0.0);
  // Asked for, the ranker orders the model's candidates: "fusion" parts in descending order.
  const std::string user = ds.users.id(ds.events.back().user);
  auto reader = r.client(kRead);
  const auto fused = body_of(
      reader.Get(("/v1/recommend?n=10&explain=true&ranker=true&user=" + user).c_str()))["items"];
  ASSERT_EQ(fused.size(), 10u);
  for (size_t x = 0; x < fused.size(); ++x) {
    ASSERT_TRUE(fused[x]["parts"].contains("fusion")) << fused[x].dump();
    if (x > 0) {
      EXPECT_LE(fused[x]["parts"]["fusion"].get<float>(),
                fused[x - 1]["parts"]["fusion"].get<float>());
    }
  }
  const auto plain = body_of(
      reader.Get(("/v1/recommend?n=10&explain=true&ranker=false&user=" + user).c_str()))["items"];
  for (const auto& it : plain) EXPECT_FALSE(it["parts"].contains("fusion")) << it.dump();
}

TEST(Server, MetricsExportCountersAndALatencyHistogram) {
  testing::TempDir dir;
  const auto ds = small_stream();
  Running r(dir.path().string(), "popular");
  auto writer = r.client(kWrite);
  post_batches(writer, event_batches(ds, 1000));
  r.service.wait_learned();
  auto reader = r.client(kRead);
  for (int x = 0; x < 25; ++x)
    ASSERT_EQ(reader.Get(("/v1/recommend?user=" + ds.users.id(x)).c_str())->status, 200);
  const auto res = reader.Get("/metrics");
  ASSERT_TRUE(res && res->status == 200);
  const std::string& text = res->body;
  EXPECT_NE(text.find("streamrec_events_learned_total " + std::to_string(ds.events.size())),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("# TYPE streamrec_recommend_latency_seconds histogram"), std::string::npos);
  // Cumulative buckets, non-decreasing, the last (+Inf) equal to the count of 25.
  uint64_t last = 0;
  size_t buckets = 0;
  for (size_t at = text.find("_bucket{le="); at != std::string::npos;
       at = text.find("_bucket{le=", at + 1)) {
    const uint64_t v = std::stoull(text.substr(text.find("} ", at) + 2));
    EXPECT_GE(v, last);
    last = v;
    ++buckets;
  }
  EXPECT_EQ(buckets, engine::Engine::kLatencyBuckets.size() + 1);
  EXPECT_EQ(last, 25u);
  EXPECT_NE(text.find("streamrec_recommend_latency_seconds_bucket{le=\"+Inf\"} 25"),
            std::string::npos);
  EXPECT_NE(text.find("streamrec_recommend_latency_seconds_count 25"), std::string::npos);
}

}  // namespace
}  // namespace streamrec::api
