// End to end: the real HTTP server on a free loopback port, driven over HTTP with a
// generated catalog and stream: ingest, recommendations, exclusion, history, deletion,
// auth failures and malformed requests (each a clear 4xx; the server keeps serving), and
// restart from the durable event log.
#include <gtest/gtest.h>
#include <httplib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "streamrec/api/http_server.h"
#include "streamrec/core/error.h"
#include "streamrec/data/generator.h"
#include "streamrec/engine/engine.h"
#include "streamrec/store/event_log.h"
#include "test_util.h"

namespace streamrec::api {
namespace {

using json = nlohmann::json;

const char* kRead = "reader-key-123";
const char* kWrite = "writer-key-123";
const char* kAdmin = "admin-key-1234";

// A service + server on a free port, served from a background thread.
struct Running {
  engine::Engine service;
  HttpServer server;
  int port = 0;
  std::thread thread;

  // `tweak` adjusts the service options (defaults: no fsync; retrains always accepted).
  Running(const std::string& dir, const std::string& model,
          const std::function<void(engine::EngineOptions&)>& tweak = {})
      : service(options(dir, model, tweak)),
        server(service, ServerOptions{.host = "127.0.0.1",
                                      .port = 0,
                                      .keys = parse_api_keys(fmt::format(
                                          "{}:read,{}:write,{}:admin", kRead, kWrite, kAdmin)),
                                      .max_body = 1 << 20,
                                      .rate_limit = 0,
                                      .dashboard_dir = ""}) {
    port = server.bind();
    thread = std::thread([this] { server.run(); });
  }
  ~Running() {
    server.stop();
    thread.join();
  }
  static engine::EngineOptions options(const std::string& dir, const std::string& model,
                                       const std::function<void(engine::EngineOptions&)>& tweak) {
    engine::EngineOptions o;
    o.model = model;
    o.data_dir = dir;
    o.sync = false;
    o.retrain_margin = 1;
    if (tweak) tweak(o);
    return o;
  }
  httplib::Client client(const char* key) const {
    httplib::Client c("127.0.0.1", port);
    if (key) c.set_default_headers({{"X-API-Key", key}});
    return c;
  }
};

json body_of(const httplib::Result& r) {
  EXPECT_TRUE(r) << "no response";
  return r ? json::parse(r->body) : json();
}

// The generated stream as JSON event batches of `per_batch`.
std::vector<std::string> event_batches(const data::Dataset& ds, size_t per_batch) {
  std::vector<std::string> out;
  for (size_t b = 0; b < ds.events.size(); b += per_batch) {
    json events = json::array();
    for (size_t x = b; x < std::min(ds.events.size(), b + per_batch); ++x) {
      const auto& e = ds.events[x];
      events.push_back({{"user", ds.users.id(e.user)},
                        {"item", ds.items.id(e.item)},
                        {"type", "click"},
                        {"timestamp", e.timestamp},
                        {"context", {{"device", "mobile"}}}});
    }
    out.push_back(json{{"events", events}}.dump());
  }
  return out;
}

// Posts event batches [from, to) and expects each to be accepted.
void post_batches(httplib::Client& writer, const std::vector<std::string>& batches, size_t from = 0,
                  size_t to = SIZE_MAX) {
  for (size_t b = from; b < std::min(to, batches.size()); ++b) {
    const auto res = writer.Post("/v1/events", batches[b], "application/json");
    ASSERT_TRUE(res && res->status == 200) << (res ? res->body : "no response");
  }
}

size_t active_users(const data::Dataset& ds) {
  std::set<uint32_t> users;
  for (const auto& e : ds.events) users.insert(e.user);
  return users.size();
}

data::Dataset stream(uint32_t users, uint32_t items, uint64_t events) {
  data::GeneratorOptions g;
  g.users = users;
  g.items = items;
  g.events = events;
  return data::generate(g);
}

data::Dataset small_stream() { return stream(200, 150, 6000); }

TEST(Server, IngestRecommendFilterHistoryDelete) {
  testing::TempDir dir;
  const auto ds = small_stream();
  // A model checkpoint at every publish: the deleted user must leave it too.
  Running r(dir.path().string(), "mf:algo=bpr,factors=16",
            [](engine::EngineOptions& o) { o.checkpoint_s = 1e-6; });
  auto writer = r.client(kWrite);
  for (const auto& batch : event_batches(ds, 500)) {
    auto res = writer.Post("/v1/events", batch, "application/json");
    ASSERT_TRUE(res);
    ASSERT_EQ(res->status, 200) << res->body;
  }
  r.service.wait_learned();
  const auto stats = r.service.stats();
  EXPECT_EQ(stats.events_learned, ds.events.size());
  EXPECT_EQ(stats.users, active_users(ds));

  auto reader = r.client(kRead);
  const std::string user = ds.users.id(ds.events.back().user);
  auto rec = body_of(reader.Get(("/v1/recommend?user=" + user + "&n=10").c_str()));
  ASSERT_EQ(rec["items"].size(), 10u) << rec.dump();
  // Nothing the user already consumed, and the model (not the fallback) ranked them.
  std::set<std::string> seen;
  for (const auto& e : ds.events)
    if (ds.users.id(e.user) == user) seen.insert(ds.items.id(e.item));
  for (const auto& it : rec["items"]) {
    EXPECT_FALSE(seen.count(it["item"].get<std::string>())) << it.dump();
    EXPECT_TRUE(it["source"] == "model" || it["source"] == "itemcf") << it.dump();  // personal
  }
  // An explicit exclusion is honoured.
  const std::string first = rec["items"][0]["item"];
  auto rec2 =
      body_of(reader.Get(("/v1/recommend?user=" + user + "&n=10&exclude=" + first).c_str()));
  for (const auto& it : rec2["items"]) EXPECT_NE(it["item"], first);
  // Explanations: each model item names up to three of the user's own items.
  auto explained =
      body_of(reader.Get(("/v1/recommend?user=" + user + "&n=10&explain=true").c_str()));
  size_t with_reasons = 0;
  for (const auto& it : explained["items"]) {
    ASSERT_TRUE(it.contains("because")) << it.dump();
    EXPECT_LE(it["because"].size(), 3u);
    for (const auto& b : it["because"]) EXPECT_TRUE(seen.count(b.get<std::string>())) << b;
    EXPECT_FLOAT_EQ(it["parts"]["model"].get<float>(), it["score"].get<float>()) << it.dump();
    if (it["source"] == "model") {
      EXPECT_GT(it["parts"]["rank"].get<float>(), 0.0f);
    }
    with_reasons += !it["because"].empty();
  }
  EXPECT_EQ(with_reasons, 10u);
  EXPECT_FALSE(rec["items"][0].contains("because"));
  // Similar items: by the model's item vectors, never the item itself, best first.
  const std::string some_item = rec["items"][0]["item"];
  auto sim = body_of(reader.Get(("/v1/items/" + some_item + "/similar?n=5").c_str()));
  ASSERT_EQ(sim["items"].size(), 5u) << sim.dump();
  for (size_t x = 0; x < 5; ++x) {
    EXPECT_NE(sim["items"][x]["item"], some_item);
    if (x > 0) {
      EXPECT_LE(sim["items"][x]["score"].get<float>(), sim["items"][x - 1]["score"].get<float>());
    }
  }
  EXPECT_EQ(reader.Get("/v1/items/no-such-item/similar")->status, 400);

  // Unknown users get popular items (cold start), not an error.
  auto cold = body_of(reader.Get("/v1/recommend?user=nobody&n=5"));
  ASSERT_EQ(cold["items"].size(), 5u);
  EXPECT_EQ(cold["items"][0]["source"], "popular");
  // History: the user's events, newest last.
  size_t user_events = 0;
  for (const auto& e : ds.events) user_events += ds.users.id(e.user) == user;
  auto hist = body_of(reader.Get(("/v1/users/" + user + "/history").c_str()));
  ASSERT_EQ(hist["events"].size(), std::min<size_t>(user_events, 200));
  EXPECT_EQ(hist["events"].back()["item"], ds.items.id(ds.events.back().item));

  // Deletion: admin only; afterwards the user has no history and is a cold user again.
  EXPECT_EQ(writer.Delete(("/v1/users/" + user).c_str())->status, 403);
  auto admin = r.client(kAdmin);
  auto del = body_of(admin.Delete(("/v1/users/" + user).c_str()));
  EXPECT_GT(del["events_deleted"].get<int>(), 0);
  EXPECT_TRUE(body_of(reader.Get(("/v1/users/" + user + "/history").c_str()))["events"].empty());
  auto after = body_of(reader.Get(("/v1/recommend?user=" + user + "&n=5").c_str()));
  EXPECT_EQ(after["items"][0]["source"], "popular");

  // No trace of a deleted user is left in the files of the durable state either.
  const std::string secret = "private-user-7f3a9c";
  ASSERT_EQ(writer
                .Post("/v1/users", json{{"id", secret}, {"attributes", {{"age", 41}}}}.dump(),
                      "application/json")
                ->status,
            200);
  EXPECT_EQ(body_of(reader.Get(("/v1/users/" + secret).c_str()))["attributes"]["age"], 41);
  for (int x = 0; x < 5; ++x)
    ASSERT_EQ(writer
                  .Post("/v1/events", json{{"user", secret}, {"item", ds.items.id(x)}}.dump(),
                        "application/json")
                  ->status,
              200);
  r.service.wait_learned();
  {
    std::ifstream in(dir.path() / "model.ckpt", std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), {});
    ASSERT_NE(bytes.find(secret), std::string::npos) << "the checkpoint holds the user first";
  }
  EXPECT_EQ(body_of(admin.Delete(("/v1/users/" + secret).c_str()))["events_deleted"], 5);
  EXPECT_EQ(reader.Get(("/v1/users/" + secret).c_str())->status, 404);
  for (const auto& f : std::filesystem::recursive_directory_iterator(dir.path())) {
    if (!f.is_regular_file()) continue;
    std::ifstream in(f.path(), std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), {});
    EXPECT_EQ(bytes.find(secret), std::string::npos) << f.path() << " still holds the user id";
  }
}

// The generated catalog as a JSON item list, with a price (index % 50) and a brand.
std::string catalog_json(const data::Dataset& ds) {
  json items = json::array();
  for (uint32_t i = 0; i < ds.num_items(); ++i)
    items.push_back({{"id", ds.items.id(i)},
                     {"title", ds.item_attrs[i].title},
                     {"categories", ds.item_attrs[i].categories},
                     {"attributes", {{"price", i % 50}, {"brand", i % 2 ? "acme" : "zed"}}}});
  return json{{"items", items}}.dump();
}

TEST(Server, CatalogFiltersDiversityExplorationContext) {
  testing::TempDir dir;
  const auto ds = small_stream();
  Running r(dir.path().string(), "mf:algo=bpr,factors=16");
  auto writer = r.client(kWrite);
  auto reader = r.client(kRead);
  ASSERT_EQ(writer.Post("/v1/items", catalog_json(ds), "application/json")->status, 200);
  // Events with their generated context (device, hour), so context statistics have signal.
  for (size_t b = 0; b < ds.events.size(); b += 1000) {
    json events = json::array();
    for (size_t x = b; x < std::min(ds.events.size(), b + 1000); ++x) {
      const auto& e = ds.events[x];
      json ctx = json::object();
      for (const auto& [k, v] : ds.contexts[e.context]) ctx[k] = v;
      events.push_back({{"user", ds.users.id(e.user)},
                        {"item", ds.items.id(e.item)},
                        {"timestamp", e.timestamp},
                        {"context", ctx}});
    }
    ASSERT_EQ(
        writer.Post("/v1/events", json{{"events", events}}.dump(), "application/json")->status,
        200);
  }
  r.service.wait_learned();
  auto category_of = [&](const std::string& id) {
    return ds.item_attrs[ds.items.find(id)].categories.at(0);
  };
  auto price_of = [&](const std::string& id) { return ds.items.find(id) % 50; };
  auto get = [&](const std::string& path) {
    auto res = reader.Get(path.c_str());
    EXPECT_TRUE(res && res->status == 200) << path << ": " << (res ? res->body : "no response");
    return body_of(res);
  };

  // The item as the service knows it: catalog record and live counters.
  const std::string item0 = ds.items.id(ds.events[0].item);
  auto info = get("/v1/items/" + item0);
  EXPECT_EQ(info["title"], ds.item_attrs[ds.items.find(item0)].title);
  EXPECT_EQ(info["categories"][0], category_of(item0));
  EXPECT_EQ(info["attributes"]["brand"], ds.items.find(item0) % 2 ? "acme" : "zed");
  EXPECT_GT(info["events"].get<int>(), 0);
  EXPECT_TRUE(info["recommendable"].get<bool>());
  EXPECT_EQ(reader.Get("/v1/items/no-such-item")->status, 404);
  // A picture's path is part of the record (the seq item tower reads it).
  ASSERT_EQ(
      writer
          .Post("/v1/items", R"({"id": "pic", "image": "/srv/covers/pic.png"})", "application/json")
          ->status,
      200);
  EXPECT_EQ(get("/v1/items/pic")["image"], "/srv/covers/pic.png");
  const auto bad_image =
      writer.Post("/v1/items", R"({"id": "pic", "image": 7})", "application/json");
  ASSERT_TRUE(bad_image);
  EXPECT_EQ(bad_image->status, 400);
  EXPECT_NE(bad_image->body.find("'image'"), std::string::npos) << bad_image->body;

  // Filters: a category, a numeric predicate and a string predicate together.
  const std::string user = ds.users.id(ds.events.back().user);
  const std::string cat =
      category_of(get("/v1/recommend?user=" + user + "&n=1")["items"][0]["item"]);
  auto filtered = get("/v1/recommend?user=" + user + "&n=5&category=" + cat +
                      "&filter=price%3C40&filter=brand=acme");
  ASSERT_FALSE(filtered["items"].empty());
  for (const auto& it : filtered["items"]) {
    const std::string id = it["item"];
    EXPECT_EQ(category_of(id), cat) << id;
    EXPECT_LT(price_of(id), 40u) << id;
    EXPECT_EQ(ds.items.find(id) % 2, 1u) << id;
  }
  for (const auto& it : get("/v1/popular?n=10&exclude_category=" + cat)["items"])
    EXPECT_NE(category_of(it["item"]), cat);
  for (const auto& it : get("/v1/trending?n=10&category=" + cat)["items"]) {
    EXPECT_EQ(category_of(it["item"]), cat);
    EXPECT_EQ(it["source"], "trending");
  }
  auto bad = reader.Get(("/v1/recommend?user=" + user + "&filter=price%3Cabc").c_str());
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  EXPECT_NE(bad->body.find("price<abc"), std::string::npos) << bad->body;
  EXPECT_EQ(reader.Get(("/v1/recommend?user=" + user + "&diversity=2").c_str())->status, 400);

  // Hidden and expired items disappear from recommendations, popular and similar lists.
  auto top = get("/v1/recommend?user=" + user + "&n=2")["items"];
  const std::string hide = top[0]["item"], expire = top[1]["item"];
  json changes =
      json::array({{{"id", hide}, {"hidden", true}}, {{"id", expire}, {"expires_at", 1000}}});
  ASSERT_EQ(writer.Post("/v1/items", changes.dump(), "application/json")->status, 200);
  for (const std::string& path :
       {"/v1/recommend?user=" + user + "&n=50", std::string("/v1/popular?n=200"),
        "/v1/items/" + item0 + "/similar?n=100"})
    for (const auto& it : get(path)["items"]) {
      EXPECT_NE(it["item"], hide) << path;
      EXPECT_NE(it["item"], expire) << path;
    }
  EXPECT_FALSE(get("/v1/items/" + hide)["recommendable"].get<bool>());
  EXPECT_EQ(get("/v1/items/" + hide)["title"], "");  // an upsert replaces the whole record

  // Diversity: MMR spreads the top 10 over at least as many categories.
  auto categories_in = [&](const json& items) {
    std::set<std::string> cats;
    for (const auto& it : items) cats.insert(category_of(it["item"]));
    return cats.size();
  };
  const size_t plain = categories_in(get("/v1/recommend?user=" + user + "&n=10")["items"]);
  const size_t diverse =
      categories_in(get("/v1/recommend?user=" + user + "&n=10&diversity=0.7")["items"]);
  EXPECT_GE(diverse, plain);
  EXPECT_GE(diverse, 3u);

  // Exploration: brand-new catalog items (no events yet) fill the explore share.
  json fresh = json::array();
  for (int k = 0; k < 5; ++k)
    fresh.push_back({{"id", fmt::format("new-{}", k)}, {"categories", {cat}}});
  ASSERT_EQ(writer.Post("/v1/items", fresh.dump(), "application/json")->status, 200);
  std::set<uint32_t> with_events;
  for (const auto& e : ds.events) with_events.insert(e.item);
  auto explored = get("/v1/recommend?user=" + user + "&n=10&explore=0.3")["items"];
  ASSERT_EQ(explored.size(), 10u);
  size_t fresh_slots = 0;
  for (const auto& it : explored)
    if (it["source"] == "fresh") {
      ++fresh_slots;
      // Fresh means no events yet: the new items, or catalog items the stream never had.
      const uint32_t i = ds.items.find(it["item"].get<std::string>());
      EXPECT_TRUE(i == IdMap::kMissing || !with_events.count(i)) << it.dump();
    }
  EXPECT_EQ(fresh_slots, 3u);

  // Context: for a user with no history, tv favours categories divisible by 3 (planted by
  // the generator); the context-aware list holds more of them than the plain one.
  auto tv_share = [&](const json& items) {
    size_t k = 0;
    for (const auto& it : items) k += std::stoi(category_of(it["item"]).substr(3)) % 3 == 0;
    return k;
  };
  const size_t without = tv_share(get("/v1/recommend?user=nobody&n=20")["items"]);
  const auto tv = get("/v1/recommend?user=nobody&n=20&explain=true&context=device=tv")["items"];
  const size_t with = tv_share(tv);
  // The explanation carries the context part: on average higher for favoured categories.
  double lift[2] = {0, 0};
  int count[2] = {0, 0};
  for (const auto& it : tv) {
    EXPECT_EQ(it["source"], "popular");
    ASSERT_TRUE(it["parts"].contains("context")) << it.dump();
    const int favoured = std::stoi(category_of(it["item"]).substr(3)) % 3 == 0;
    lift[favoured] += it["parts"]["context"].get<double>();
    ++count[favoured];
  }
  ASSERT_GT(count[0] * count[1], 0);
  EXPECT_GT(lift[1] / count[1], lift[0] / count[0]);
  EXPECT_GT(with, without) << "tv-favoured items in the top 20: " << with << " vs " << without;
  EXPECT_EQ(reader.Get("/v1/recommend?user=nobody&context=device")->status, 400);
}

TEST(Server, NewItemsAreRecommendedFromTheirAttributes) {
  // `seq` with an item tower learns online; an item upserted after that, with no event yet,
  // is scored by its attributes: one in the user's favourite category ranks above one in the
  // category the user took least.
  testing::TempDir dir;
  const auto ds = stream(300, 200, 12000);
  Running r(dir.path().string(),
            "seq:dim=16,maxlen=20,online_batch=64,online_replay=32,features=categories+tags");
  auto writer = r.client(kWrite);
  auto reader = r.client(kRead);
  json catalog = json::array();
  for (uint32_t i = 0; i < ds.num_items(); ++i)
    catalog.push_back({{"id", ds.items.id(i)},
                       {"categories", ds.item_attrs[i].categories},
                       {"tags", ds.item_attrs[i].tags}});
  ASSERT_EQ(writer.Post("/v1/items", json{{"items", catalog}}.dump(), "application/json")->status,
            200);
  post_batches(writer, event_batches(ds, 1000));
  r.service.wait_learned();
  // The user with the clearest taste: their most taken category against their least taken.
  std::map<uint32_t, std::vector<int>> taken;  // user -> events per category
  for (const auto& e : ds.events) {
    auto& counts = taken[e.user];
    counts.resize(20, 0);
    ++counts[std::stoi(ds.item_attrs[e.item].categories.at(0).substr(3))];
  }
  uint32_t user = 0;
  int gap = -1;
  std::string liked, never;
  for (const auto& [u, counts] : taken) {
    const auto [lo, hi] = std::minmax_element(counts.begin(), counts.end());
    if (*hi - *lo > gap) {
      gap = *hi - *lo;
      user = u;
      liked = fmt::format("cat{}", hi - counts.begin());
      never = fmt::format("cat{}", lo - counts.begin());
    }
  }
  auto tags_of = [&](const std::string& cat) {
    for (uint32_t i = 0; i < ds.num_items(); ++i)
      if (ds.item_attrs[i].categories.at(0) == cat) return ds.item_attrs[i].tags;
    return std::vector<std::string>{};
  };
  // The least-taken one first: it gets the lower index, so a tie (a tower that scored
  // nothing) would put it ahead and fail the test.
  const json fresh = {{"items",
                       {{{"id", "new-never"}, {"categories", {never}}, {"tags", tags_of(never)}},
                        {{"id", "new-liked"}, {"categories", {liked}}, {"tags", tags_of(liked)}}}}};
  ASSERT_EQ(writer.Post("/v1/items", fresh.dump(), "application/json")->status, 200);
  // Published within a second or so without any new event; then both are model candidates.
  const std::string path =
      fmt::format("/v1/recommend?user={}&n=300&ranker=false&exact=true", ds.users.id(user));
  int liked_at = -1, never_at = -1;
  float liked_score = 0, never_score = 0;
  for (int attempt = 0; attempt < 100 && (liked_at < 0 || never_at < 0); ++attempt) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    const auto items = body_of(reader.Get(path.c_str()))["items"];
    liked_at = never_at = -1;
    for (int x = 0; x < static_cast<int>(items.size()); ++x) {
      if (items[x]["source"] != "model") continue;
      if (items[x]["item"] == "new-liked") liked_at = x, liked_score = items[x]["score"];
      if (items[x]["item"] == "new-never") never_at = x, never_score = items[x]["score"];
    }
  }
  ASSERT_GE(liked_at, 0) << "the new item never became a model candidate";
  ASSERT_GE(never_at, 0);
  // seq makes deltas: after the first full publish (and one more while no standby copy was
  // free), its serving copies were brought up to date by deltas, the new items' too.
  const auto stats = r.service.stats();
  EXPECT_GT(stats.publishes_delta, 0u);
  std::printf("publishes: %llu by delta, %llu full; last %.1f ms\n",
              static_cast<unsigned long long>(stats.publishes_delta),
              static_cast<unsigned long long>(stats.publishes_full), stats.last_publish_ms);
  std::printf("new item of the favourite category at %d, of the least taken at %d\n", liked_at,
              never_at);
  EXPECT_LT(liked_at, never_at) << "favourite category " << liked << " vs least taken " << never;
  EXPECT_GT(liked_score, never_score);
}

TEST(Server, ModelsWithoutOnlineLearningStillCountEveryEvent) {
  // `ease` learns only by refits: the learner must skip its observe, not stop the
  // micro-batch at it (which skipped the batch's popularity and activity counts).
  testing::TempDir dir;
  const auto ds = small_stream();
  Running r(dir.path().string(), "ease");
  auto writer = r.client(kWrite);
  auto reader = r.client(kRead);
  post_batches(writer, event_batches(ds, 500));
  r.service.wait_learned();
  std::map<std::string, int> counts;
  for (const auto& e : ds.events) ++counts[ds.items.id(e.item)];
  for (const auto& id : {ds.items.id(ds.events[0].item), ds.items.id(ds.events.back().item)}) {
    const auto info = body_of(reader.Get(("/v1/items/" + std::string(id)).c_str()));
    EXPECT_EQ(info["events"].get<int>(), counts[std::string(id)]) << id;
  }
  const auto stats = body_of(reader.Get("/v1/stats"));
  EXPECT_EQ(stats["events_learned"].get<size_t>(), ds.events.size());
}

TEST(Server, BurstsPastMaxQueueWaitInTheLogAndAreLearnedOnce) {
  // Batches of 500 against a queue of at most 100 events: every batch waits in the log and
  // the learner reads it back. Two writers post at once. Every event is learned exactly
  // once: each item's event count and each user's history match the stream.
  testing::TempDir dir;
  const auto ds = small_stream();
  Running r(dir.path().string(), "popular", [](engine::EngineOptions& o) {
    o.max_queue = 100;
    o.micro_batch = 16;
  });
  const auto batches = event_batches(ds, 500);
  std::thread other([&] {
    auto w = r.client(kWrite);
    post_batches(w, batches, 0, batches.size() / 2);
  });
  auto writer = r.client(kWrite);
  post_batches(writer, batches, batches.size() / 2);
  other.join();
  r.service.wait_learned();
  auto reader = r.client(kRead);
  const auto stats = body_of(reader.Get("/v1/stats"));
  EXPECT_EQ(stats["events_learned"].get<size_t>(), ds.events.size());
  EXPECT_EQ(stats["events_via_log"].get<size_t>(), ds.events.size());
  EXPECT_EQ(stats["queue"].get<size_t>(), 0u);
  EXPECT_EQ(stats["queue_in_log"].get<size_t>(), 0u);
  std::map<std::string, int> item_counts, user_counts;
  for (const auto& e : ds.events) {
    ++item_counts[std::string(ds.items.id(e.item))];
    ++user_counts[std::string(ds.users.id(e.user))];
  }
  for (const auto& [id, n] : item_counts) {
    const auto info = body_of(reader.Get(("/v1/items/" + id).c_str()));
    EXPECT_EQ(info["events"].get<int>(), n) << id;
  }
  size_t checked = 0;
  for (const auto& [id, n] : user_counts) {
    if (n > 200 || ++checked > 20) continue;  // histories keep 200 events
    const auto history = body_of(reader.Get(("/v1/users/" + id + "/history").c_str()));
    EXPECT_EQ(history["events"].size(), static_cast<size_t>(n)) << id;
  }
}

TEST(Server, AnnRetrievalMatchesExactScoringAndFollowsOnlineUpdates) {
  testing::TempDir dir;
  const auto ds = stream(300, 3000, 15000);
  Running r(dir.path().string(), "mf:algo=bpr,factors=16", [](engine::EngineOptions& o) {
    o.ann_min_items = 1;
    o.quality_margin = 0;  // no guard rollback (a new copy) between the two reads
  });
  auto writer = r.client(kWrite);
  post_batches(writer, event_batches(ds, 1000));
  r.service.wait_learned();
  // The maintenance thread builds the index from the published copy in the background.
  for (int t = 0; t < 100 && !r.service.stats().ann_current; ++t)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const auto stats = r.service.stats();
  ASSERT_GT(stats.ann_items, 0u);
  auto reader = r.client(kRead);
  // Top 20 from the index vs from scoring every item, over 50 users.
  size_t same = 0, total = 0;
  std::set<uint32_t> users;
  for (const auto& e : ds.events) users.insert(e.user);
  for (uint32_t u : users) {
    if (total >= 50 * 20) break;
    const std::string q = "/v1/recommend?n=20&ranker=false&user=" + ds.users.id(u);
    const auto ann = body_of(reader.Get(q.c_str()))["items"];
    const auto exact = body_of(reader.Get((q + "&exact=true").c_str()))["items"];
    std::set<std::string> want;
    for (const auto& it : exact) want.insert(it["item"]);
    for (const auto& it : ann) {
      EXPECT_EQ(it["source"], "model");
      same += want.count(it["item"]);
    }
    total += exact.size();
  }
  const double overlap = double(same) / total;
  std::printf("ANN vs exact top-20 overlap over 50 users: %.3f (%llu items indexed)\n", overlap,
              static_cast<unsigned long long>(stats.ann_items));
  EXPECT_GE(overlap, 0.95);
  // Online updates reach the index without a rebuild: rows are re-inserted as they change.
  const auto updates = stats.ann_updates;
  post_batches(writer, event_batches(ds, 1000));
  r.service.wait_learned();
  for (int t = 0; t < 50 && r.service.stats().ann_updates == updates; ++t)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_GT(r.service.stats().ann_updates, updates);
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
  json m;
  for (int t = 0; t < 600; ++t) {
    m = body_of(admin.Get("/v1/model"));
    if (!m["retrain"]["running"].get<bool>()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_FALSE(m["retrain"]["running"].get<bool>());
  EXPECT_EQ(m["retrain"]["error"], "");
  EXPECT_TRUE(m["retrain"]["accepted"].get<bool>());
  EXPECT_FALSE(m["retrain"]["scheduled"].get<bool>());
  EXPECT_GT(m["retrain"]["holdout_checks"].get<int>(), 30);  // 300 held out of ~3000
  EXPECT_GT(m["retrain"]["holdout_hr10"].get<double>(), 0.0);
  EXPECT_EQ(m["version"].get<int>(), v0 + 1);
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
  for (const auto& it :
       body_of(reader.Get(("/v1/recommend?n=10&ranker=false&user=" + user).c_str()))["items"])
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

TEST(Server, PopularKeepsItsOrderAfterAClockJump) {
  // One event ~500 half-lives after the rest (a client clock far ahead): the older items'
  // decayed weights are ~2^-500 of it, below float's range, and must still be ranked.
  testing::TempDir dir;
  const auto ds = small_stream();
  engine::Engine service(Running::options(dir.path().string(), "popular", {}));
  std::vector<store::LoggedEvent> events;
  for (const auto& e : ds.events)
    events.push_back(
        {ds.users.id(e.user), ds.items.id(e.item), 1.0f, data::EventType::kClick, e.timestamp, ""});
  events.push_back({"u-late", "late-item", 1.0f, data::EventType::kClick, 2'000'000'000, ""});
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
  HttpServer server(
      service, ServerOptions{.host = "127.0.0.1",
                             .port = 0,
                             .keys = parse_api_keys(fmt::format("{}:read,{}:write", kRead, kWrite)),
                             .max_body = 1 << 20,
                             .rate_limit = 5,
                             .dashboard_dir = ""});
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
