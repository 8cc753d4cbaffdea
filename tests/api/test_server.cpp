// End to end over HTTP: ingest, recommendations, filters and history, deletion, the
// catalog and its filters, diversity, exploration and context, new items from their
// attributes, bursts past the queue, ANN retrieval.
#include <gtest/gtest.h>
#include <httplib.h>

#include <cmath>
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

TEST(Server, CatalogFiltersDiversityExplorationContext) {
  testing::TempDir dir, images;
  const auto ds = small_stream();
  const auto pic = images.write("pic.png", "(not decoded until a model reads it)");
  Running r(dir.path().string(), "mf:algo=bpr,factors=16",
            [&](engine::EngineOptions& o) { o.image_root = images.path().string(); });
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
  // A picture's path (relative to --image-root) is part of the record, resolved (the seq
  // item tower reads it).
  ASSERT_EQ(
      writer.Post("/v1/items", R"({"id": "pic", "image": "pic.png"})", "application/json")->status,
      200);
  EXPECT_EQ(get("/v1/items/pic")["image"], std::filesystem::canonical(pic).string());
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
  // (A range-for over get(...)["items"] would walk a destroyed temporary: ASan found it.)
  const auto popular = get("/v1/popular?n=10&exclude_category=" + cat);
  for (const auto& it : popular["items"]) EXPECT_NE(category_of(it["item"]), cat);
  const auto trending = get("/v1/trending?n=10&category=" + cat);
  for (const auto& it : trending["items"]) {
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
        "/v1/items/" + item0 + "/similar?n=100"}) {
    const auto answer = get(path);
    for (const auto& it : answer["items"]) {
      EXPECT_NE(it["item"], hide) << path;
      EXPECT_NE(it["item"], expire) << path;
    }
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

  // Fairness re-ranking. A cap: no category above 20% of the 10 items. Calibration: the
  // list's category mix is closer (KL, Steck's smoothing) to the user's history's.
  const auto capped = get("/v1/recommend?user=" + user + "&n=10&max_category_share=0.2");
  std::map<std::string, int> per_category;
  for (const auto& it : capped["items"]) ++per_category[category_of(it["item"])];
  for (const auto& [c, k] : per_category) EXPECT_LE(k, 2) << c;
  const auto history = get("/v1/users/" + user + "/history");
  auto mix_kl = [&](const json& items) {
    std::map<std::string, double> p, q;
    for (const auto& e : history["events"])
      p[category_of(e["item"])] += 1.0 / history["events"].size();
    for (const auto& it : items) q[category_of(it["item"])] += 1.0 / items.size();
    double kl = 0;
    for (const auto& [c, pc] : p) kl += pc * std::log(pc / (0.99 * q[c] + 0.01 * pc));
    return kl;
  };
  const auto plain_list = get("/v1/recommend?user=" + user + "&n=10");
  const auto calibrated = get("/v1/recommend?user=" + user + "&n=10&calibrate=0.9");
  EXPECT_LT(mix_kl(calibrated["items"]), mix_kl(plain_list["items"]));
  for (const char* bad : {"calibrate=2", "calibrate=-0.1", "max_category_share=0"}) {
    const auto res = reader.Get(("/v1/recommend?user=" + user + "&" + bad).c_str());
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 400) << bad;
    EXPECT_NE(res->body.find(std::string(bad).substr(0, std::string(bad).find('='))),
              std::string::npos)
        << res->body;
  }

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
  Running r(
      dir.path().string(),
      "seq:dim=16,maxlen=20,lr=0.002,online_batch=64,online_replay=32,features=categories+tags");
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

  // explain=true: each model item carries the encoder's attention over the user's history
  // (seq's self-attention): the history's items, weights summing to 1.
  const auto explained = body_of(
      reader.Get(fmt::format("/v1/recommend?user={}&n=5&explain=true", ds.users.id(user)).c_str()));
  const auto history = body_of(reader.Get(("/v1/users/" + ds.users.id(user) + "/history").c_str()));
  std::set<std::string> taken_items;
  for (const auto& e : history["events"]) taken_items.insert(e["item"].get<std::string>());
  size_t with_attention = 0;
  for (const auto& it : explained["items"]) {
    if (it["source"] != "model") continue;
    ASSERT_TRUE(it.contains("attention")) << it.dump();
    double sum = 0;
    for (const auto& a : it["attention"]) {
      sum += a["weight"].get<double>();
      EXPECT_TRUE(taken_items.count(a["item"].get<std::string>())) << a.dump();
    }
    EXPECT_NEAR(sum, 1.0, 1e-4);
    EXPECT_EQ(it["attention"].size(), 20u);  // maxlen: the user has more events than that
    ++with_attention;
  }
  EXPECT_GT(with_attention, 0u);
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

}  // namespace
}  // namespace streamrec::api
