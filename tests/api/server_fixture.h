// The HTTP server end to end, shared by tests/api/test_server*.cpp: a real engine and
// server on a free loopback port with three API keys, JSON helpers, generated streams as
// event batches, and the generated catalog as a JSON body.
#pragma once

#include <gtest/gtest.h>
#include <httplib.h>

#include <functional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "streamrec/api/http_server.h"
#include "streamrec/data/generator.h"
#include "streamrec/engine/engine.h"

namespace streamrec::api {

using json = nlohmann::json;

inline constexpr const char* kRead = "reader-key-123";
inline constexpr const char* kWrite = "writer-key-123";
inline constexpr const char* kAdmin = "admin-key-1234";

// A service + server on a free port, served from a background thread.
struct Running {
  engine::Engine service;
  HttpServer server;
  int port = 0;
  std::thread thread;

  // `tweak` adjusts the service options (defaults: no fsync; retrains always accepted).
  // `server_tweak` adjusts the server options (defaults: the three keys, 1 MiB bodies).
  Running(const std::string& dir, const std::string& model,
          const std::function<void(engine::EngineOptions&)>& tweak = {},
          const std::function<void(ServerOptions&)>& server_tweak = {})
      : service(options(dir, model, tweak)), server(service, server_options(server_tweak)) {
    port = server.bind();
    thread = std::thread([this] { server.run(); });
  }
  ~Running() {
    server.stop();
    thread.join();
  }
  static ServerOptions server_options(const std::function<void(ServerOptions&)>& tweak) {
    ServerOptions o{
        .host = "127.0.0.1",
        .port = 0,
        .keys = parse_api_keys(fmt::format("{}:read,{}:write,{}:admin", kRead, kWrite, kAdmin)),
        .max_body = 1 << 20,
        .rate_limit = 0,
        .dashboard_dir = "",
        .threads = 64,
        .allowed_hosts = {},
        .cors_origins = {}};
    if (tweak) tweak(o);
    return o;
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

inline json body_of(const httplib::Result& r) {
  EXPECT_TRUE(r) << "no response";
  return r ? json::parse(r->body) : json();
}

// The generated stream as JSON event batches of `per_batch`.
inline std::vector<std::string> event_batches(const data::Dataset& ds, size_t per_batch) {
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
inline void post_batches(httplib::Client& writer, const std::vector<std::string>& batches,
                         size_t from = 0, size_t to = SIZE_MAX) {
  for (size_t b = from; b < std::min(to, batches.size()); ++b) {
    const auto res = writer.Post("/v1/events", batches[b], "application/json");
    ASSERT_TRUE(res && res->status == 200) << (res ? res->body : "no response");
  }
}

inline size_t active_users(const data::Dataset& ds) {
  std::set<uint32_t> users;
  for (const auto& e : ds.events) users.insert(e.user);
  return users.size();
}

inline data::Dataset stream(uint32_t users, uint32_t items, uint64_t events) {
  data::GeneratorOptions g;
  g.users = users;
  g.items = items;
  g.events = events;
  return data::generate(g);
}

inline data::Dataset small_stream() { return stream(200, 150, 6000); }

inline std::string catalog_json(const data::Dataset& ds) {
  json items = json::array();
  for (uint32_t i = 0; i < ds.num_items(); ++i)
    items.push_back({{"id", ds.items.id(i)},
                     {"title", ds.item_attrs[i].title},
                     {"categories", ds.item_attrs[i].categories},
                     {"attributes", {{"price", i % 50}, {"brand", i % 2 ? "acme" : "zed"}}}});
  return json{{"items", items}}.dump();
}

}  // namespace streamrec::api
