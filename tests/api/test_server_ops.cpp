// End to end over HTTP: operating the server: clock jumps, auth and malformed requests,
// the rate limit, restarts (checkpoint + log, the tail past --max-queue, the log alone),
// background threads under SCHED_IDLE.
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
#include "streamrec/core/clock.h"
#include "streamrec/core/error.h"
#include "streamrec/store/event_log.h"
#include "test_util.h"

namespace streamrec::api {
namespace {

TEST(Server, PopularKeepsItsOrderAfterAClockJump) {
  // One event now, years after the generated rest: the older items' decayed weights are
  // below float's range against it, and must still be ranked.
  testing::TempDir dir;
  const auto ds = small_stream();
  engine::Engine service(Running::options(dir.path().string(), "popular", {}));
  std::vector<store::LoggedEvent> events;
  for (const auto& e : ds.events)
    events.push_back(
        {ds.users.id(e.user), ds.items.id(e.item), 1.0f, data::EventType::kClick, e.timestamp, ""});
  events.push_back({"u-late", "late-item", 1.0f, data::EventType::kClick, unix_seconds(), ""});
  service.ingest(events);
  service.wait_learned();
  const auto top = service.popular(10);
  ASSERT_EQ(top.size(), 10u);
  EXPECT_EQ(top[0].item, "late-item");
  std::set<std::string> distinct;
  for (size_t x = 0; x < top.size(); ++x) {
    distinct.insert(top[x].item);
    if (x > 0) {
      EXPECT_GE(top[x - 1].score, top[x].score) << "popular items out of order at " << x;
    }
  }
  EXPECT_EQ(distinct.size(), top.size());
  EXPECT_EQ(service
                .recommend([] {
                  serve::RecommendRequest r;
                  r.user = "nobody";
                  return r;
                }())
                .size(),
            10u);
}

TEST(Server, AuthAndMalformedRequestsGetClear4xx) {
  testing::TempDir dir;
  Running r(dir.path().string(), "popular");
  auto anon = r.client(nullptr);
  EXPECT_EQ(anon.Get("/v1/recommend?user=a")->status, 401);
  auto wrong = r.client("not-a-key-at-all");
  EXPECT_EQ(wrong.Get("/v1/recommend?user=a")->status, 401);
  auto reader = r.client(kRead);
  auto forbidden = reader.Post("/v1/events", R"({"user":"a","item":"b"})", "application/json");
  EXPECT_EQ(forbidden->status, 403);
  EXPECT_NE(forbidden->body.find("write"), std::string::npos) << forbidden->body;

  auto writer = r.client(kWrite);
  struct Case {
    const char* body;
    const char* mentions;
  };
  for (const Case& c : {Case{"{not json", "malformed JSON"}, Case{R"({"item":"b"})", "'user'"},
                        Case{R"({"user":"a","item":"b","value":"x"})", "'value'"},
                        Case{R"({"user":"a","item":"b","type":"teleport"})", "teleport"},
                        Case{R"({"user":"a","item":"b","timestamp":-5})", "'timestamp'"},
                        Case{R"({"events":[{"user":"a","item":"b"},{"user":""}]})", "event 1"}}) {
    auto res = writer.Post("/v1/events", c.body, "application/json");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 400) << c.body;
    const auto j = json::parse(res->body);
    EXPECT_NE(j["error"].get<std::string>().find(c.mentions), std::string::npos)
        << c.body << " -> " << res->body;
  }
  // A batch with one bad event is rejected whole: nothing was accepted.
  r.service.wait_learned();
  EXPECT_EQ(r.service.stats().events_ingested, 0u);
  EXPECT_EQ(reader.Get("/v1/recommend")->status, 400);
  EXPECT_EQ(reader.Get("/v1/recommend?user=a&n=abc")->status, 400);
  EXPECT_EQ(reader.Get("/v1/recommend?user=a&n=0")->status, 400);
  EXPECT_EQ(reader.Get("/v1/nothing")->status, 404);
  ASSERT_EQ(writer.Post("/v1/events", R"({"user":"a","item":"b"})", "application/json")->status,
            200);
  r.service.wait_learned();
  EXPECT_EQ(reader.Get("/v1/items/b/similar")->status, 409) << "popular has no item vectors";
  const std::string huge(2 << 20, 'x');
  auto too_big = writer.Post("/v1/events", huge, "application/json");
  ASSERT_TRUE(too_big);
  EXPECT_EQ(too_big->status, 413);
  // Still serving, and good input is still accepted.
  auto ok = writer.Post("/v1/events", R"({"user":"a","item":"b"})", "application/json");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
  EXPECT_EQ(r.client(nullptr).Get("/v1/health")->status, 200);
}

TEST(Server, RateLimitAnswers429PerKeyAndRefills) {
  testing::TempDir dir;
  engine::Engine service(Running::options(dir.path().string(), "popular", {}));
  HttpServer server(service, Running::server_options([](ServerOptions& o) {
                      o.keys = parse_api_keys(fmt::format("{}:read,{}:write", kRead, kWrite));
                      o.rate_limit = 5;
                    }));
  const int port = server.bind();
  std::thread t([&] { server.run(); });
  httplib::Client reader("127.0.0.1", port), writer("127.0.0.1", port);
  reader.set_default_headers({{"X-API-Key", kRead}});
  writer.set_default_headers({{"X-API-Key", kWrite}});
  int ok = 0, limited = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (int x = 0; x < 20; ++x) {
    auto res = reader.Get("/v1/popular");
    ASSERT_TRUE(res);
    if (res->status == 200) ++ok;
    if (res->status == 429) {
      ++limited;
      EXPECT_NE(res->body.find("rate limit of 5"), std::string::npos) << res->body;
      EXPECT_EQ(res->get_header_value("Retry-After"), "1");
    }
  }
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_GE(ok, 5);
  EXPECT_LE(ok, 5 + static_cast<int>(5 * elapsed) + 1);  // the burst + what refilled meanwhile
  EXPECT_EQ(ok + limited, 20);
  // Another key has its own bucket; health is never limited.
  EXPECT_EQ(writer.Get("/v1/popular")->status, 200);
  EXPECT_EQ(httplib::Client("127.0.0.1", port).Get("/v1/health")->status, 200);
  // The bucket refills.
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  EXPECT_EQ(reader.Get("/v1/popular")->status, 200);
  server.stop();
  t.join();
}

TEST(Server, RestartResumesFromTheCheckpointPlusTheLog) {
  testing::TempDir dir;
  const auto ds = small_stream();
  const auto batches = event_batches(ds, 500);
  const size_t half = batches.size() / 2, learned_first = half * 500;
  auto tweak = [](engine::EngineOptions& o) {
    o.checkpoint_s = 1e-6;  // a checkpoint at every publish
    o.quality_margin = 0;   // no guard rollback between the reads
  };
  const std::string model = "mf:algo=bpr,factors=8";
  const std::string query =
      "/v1/recommend?n=20&ranker=false&exact=true&user=" + ds.users.id(ds.events.front().user);
  json before;
  {
    Running r(dir.path().string(), model, tweak);
    auto writer = r.client(kWrite);
    post_batches(writer, batches, 0, half);
    r.service.wait_learned();
    before = body_of(r.client(kRead).Get(query.c_str()))["items"];
    ASSERT_EQ(before.size(), 20u);
  }
  auto expect_same = [&](const json& items) {
    ASSERT_EQ(items.size(), before.size());
    for (size_t x = 0; x < items.size(); ++x) {
      EXPECT_EQ(items[x]["item"], before[x]["item"]) << x;
      EXPECT_NEAR(items[x]["score"].get<double>(), before[x]["score"].get<double>(), 1e-6) << x;
    }
  };
  {
    // No new events: the model is the one learned online before the stop, not a refit (a
    // batch fit on the same events learns other weights).
    Running again(dir.path().string(), model, tweak);
    const auto versions = again.service.versions();
    ASSERT_FALSE(versions.empty());
    EXPECT_NE(versions.back().reason.find("checkpoint of " + std::to_string(learned_first)),
              std::string::npos)
        << versions.back().reason;
    expect_same(body_of(again.client(kRead).Get(query.c_str()))["items"]);
  }
  // Events acknowledged but not learned before a crash (kill -9): in the log only.
  std::vector<store::LoggedEvent> rest;
  for (size_t x = learned_first; x < ds.events.size(); ++x) {
    const auto& e = ds.events[x];
    rest.push_back(
        {ds.users.id(e.user), ds.items.id(e.item), 1.0f, data::EventType::kClick, e.timestamp, ""});
  }
  {
    store::EventLog log(dir.path().string() + "/events", {.sync = false});
    log.append(rest);
  }
  // They are more than the learner's queue holds: the most of them wait in the log.
  Running third(dir.path().string(), model, [&](engine::EngineOptions& o) {
    tweak(o);
    o.max_queue = 100;
  });
  third.service.wait_learned();
  const auto stats = third.service.stats();
  EXPECT_EQ(stats.events_learned, rest.size()) << "the checkpoint's events are not relearned";
  EXPECT_GE(stats.events_via_log, rest.size() - 100);
  EXPECT_EQ(stats.events_logged, ds.events.size());
  EXPECT_EQ(stats.users, active_users(ds));
  const auto versions = third.service.versions();
  EXPECT_NE(versions.back().reason.find("+ " + std::to_string(rest.size()) + " from the log"),
            std::string::npos)
      << versions.back().reason;
  const auto& last = ds.events.back();
  size_t count = 0;
  for (const auto& e : ds.events) count += e.user == last.user;
  const auto history = body_of(
      third.client(kRead).Get(("/v1/users/" + ds.users.id(last.user) + "/history").c_str()));
  EXPECT_EQ(history["events"].size(), std::min<size_t>(count, 200));
}

TEST(Server, RestartLearnsTheLogsTailPastMaxQueueAcrossItsGaps) {
  // Events logged after the checkpoint, more than the queue holds, with gaps where a user's
  // events were erased from the log: the tail past max_queue waits in the log as one range
  // spanning the gaps, and counts only the events there are.
  testing::TempDir dir;
  const auto ds = small_stream();
  auto tweak = [](engine::EngineOptions& o) {
    o.checkpoint_s = 1e-6;
    o.quality_margin = 0;
  };
  const std::string model = "mf:algo=bpr,factors=8";
  const size_t first = 1000;
  {
    Running r(dir.path().string(), model, tweak);
    auto writer = r.client(kWrite);
    post_batches(writer, event_batches(ds, 500), 0, first / 500);
    r.service.wait_learned();
  }
  const auto gone = ds.events[first + 10].user;  // a user with events after the checkpoint
  size_t after = 0;
  {
    std::vector<store::LoggedEvent> rest;
    for (size_t x = first; x < ds.events.size(); ++x) {
      const auto& e = ds.events[x];
      rest.push_back({ds.users.id(e.user), ds.items.id(e.item), 1.0f, data::EventType::kClick,
                      e.timestamp, ""});
      after += e.user != gone;
    }
    store::EventLog log(dir.path().string() + "/events", {.sync = false});
    log.append(rest);
    log.erase_user(std::string(ds.users.id(gone)));
  }
  Running again(dir.path().string(), model, [&](engine::EngineOptions& o) {
    tweak(o);
    o.max_queue = 100;
  });
  again.service.wait_learned();
  const auto stats = again.service.stats();
  EXPECT_EQ(stats.events_learned, after);
  EXPECT_EQ(stats.events_via_log, after - 100);
  EXPECT_EQ(stats.queue, 0u);
  EXPECT_EQ(stats.queue_in_log, 0u);
}

TEST(Server, RestartRebuildsStateFromTheEventLog) {
  testing::TempDir dir;
  const auto ds = small_stream();
  std::string user;
  json before;
  {
    Running r(dir.path().string(), "popular");
    auto writer = r.client(kWrite);
    ASSERT_EQ(writer.Post("/v1/items", catalog_json(ds), "application/json")->status, 200);
    post_batches(writer, event_batches(ds, 1000));
    r.service.wait_learned();
    user = ds.users.id(ds.events.front().user);
    before = body_of(r.client(kRead).Get(("/v1/users/" + user + "/history").c_str()));
  }
  Running again(dir.path().string(), "popular");
  EXPECT_EQ(again.service.stats().users, active_users(ds));
  EXPECT_EQ(body_of(again.client(kRead).Get(("/v1/users/" + user + "/history").c_str())), before);
  // The catalog too: every record, with its attributes.
  EXPECT_EQ(again.service.stats().items, ds.num_items());
  const auto last = ds.items.id(ds.num_items() - 1);
  const auto info = body_of(again.client(kRead).Get(("/v1/items/" + last).c_str()));
  EXPECT_EQ(info["title"], ds.item_attrs.back().title);
  EXPECT_EQ(info["attributes"]["price"], (ds.num_items() - 1) % 50);
}

// Threads of this process whose scheduling policy is SCHED_IDLE (5), from
// /proc/self/task/<tid>/stat (field 41; the name in parentheses may hold spaces).

int sched_idle_threads() {
  int count = 0;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream in(task.path() / "stat");
    std::string line;
    if (!std::getline(in, line)) continue;  // the thread ended meanwhile
    std::istringstream rest(line.substr(line.rfind(')') + 2));
    std::string field;
    for (int f = 3; f <= 41 && rest >> field; ++f)
      if (f == 41 && field == "5") ++count;
  }
  return count;
}

TEST(Server, BackgroundIdleRunsTheBackgroundThreadsUnderSchedIdle) {
  testing::TempDir plain_dir, idle_dir;
  {
    Running plain(plain_dir.path().string(), "popular");
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    EXPECT_EQ(sched_idle_threads(), 0);
  }
  Running idle(idle_dir.path().string(), "popular",
               [](engine::EngineOptions& o) { o.background_idle = true; });
  // The learner and the ANN thread switch as they start.
  for (int wait = 0; wait < 100 && sched_idle_threads() < 2; ++wait)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_GE(sched_idle_threads(), 2);
  // Requests are served meanwhile.
  auto writer = idle.client(kWrite);
  post_batches(writer, event_batches(small_stream(), 500));
  idle.service.wait_learned();
  const auto res = idle.client(kRead).Get("/v1/recommend?n=5&user=u1");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200) << res->body;
}

}  // namespace
}  // namespace streamrec::api
