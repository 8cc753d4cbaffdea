#include "streamrec/api/follower.h"

#include <httplib.h>

#include <chrono>
#include <utility>

#include <fmt/format.h>

#include "streamrec/core/error.h"
#include "streamrec/core/log.h"
#include "streamrec/engine/engine.h"

namespace streamrec::api {

struct Follower::Client {
  httplib::Client http;
  explicit Client(const std::string& url) : http(url) {}
};

Follower::Follower(engine::Engine& engine, FollowerOptions options)
    : engine_(engine), options_(std::move(options)) {
  SR_INPUT_CHECK(options_.leader.rfind("http://", 0) == 0,
                 "--follow {}: expected the leader's URL, http://host:port", options_.leader);
  client_ = std::make_unique<Client>(options_.leader);
  auto& http = client_->http;
  http.set_connection_timeout(std::chrono::seconds(2));
  http.set_read_timeout(std::chrono::milliseconds(options_.wait_ms + 10000));
  http.set_keep_alive(true);
  if (!options_.api_key.empty()) http.set_default_headers({{"X-API-Key", options_.api_key}});
}

Follower::~Follower() { stop(); }

void Follower::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  client_->http.stop();  // ends a long-poll in flight
}

bool Follower::sleep_retry() {
  std::unique_lock lock(mutex_);
  cv_.wait_for(lock, std::chrono::milliseconds(options_.retry_ms),
               [&] { return stopping_.load(); });
  return !stopping_;
}

void Follower::run() {
  auto& http = client_->http;
  bool snapshot_next = true, reachable = true, fresh_snapshot = false;
  const auto failed = [&](const std::string& what) {
    engine_.note_leader_contact(false);
    if (reachable)
      log::warn("replica: {} (leader {}); serving the last state applied", what, options_.leader);
    reachable = false;
    return sleep_retry();
  };
  while (!stopping_) {
    try {
      if (snapshot_next) {
        auto res = http.Get("/v1/replication/snapshot");
        if (!res || res->status != 200) {
          if (!failed(
                  res ? fmt::format("snapshot: HTTP {}: {}", res->status, res->body.substr(0, 200))
                      : "snapshot: " + httplib::to_string(res.error())))
            return;
          continue;
        }
        engine_.note_leader_contact(true);
        engine_.follow_snapshot(res->body);
        snapshot_next = false;
        fresh_snapshot = true;
        reachable = true;
        continue;
      }
      const auto at = engine_.follow_position();
      auto res = http.Get(fmt::format(
          "/v1/replication/updates?epoch={}&after={}&wait_ms={}&replica={}", at.epoch, at.applied,
          options_.wait_ms, httplib::detail::encode_query_param(options_.id)));
      if (!res) {
        if (!failed("updates: " + httplib::to_string(res.error()))) return;
        continue;
      }
      if (res->status == 410) {  // not followable from here: a new snapshot
        engine_.note_leader_contact(true);
        log::info("replica: publish {} can no longer be followed; loading a new snapshot",
                  at.applied);
        snapshot_next = true;
        // A snapshot's own position refused: the leader moved on (a reset) at once; do not
        // spin if it keeps doing so.
        if (std::exchange(fresh_snapshot, false) && !sleep_retry()) return;
        continue;
      }
      fresh_snapshot = false;
      if (res->status != 200) {
        if (!failed(fmt::format("updates: HTTP {}: {}", res->status, res->body.substr(0, 200))))
          return;
        continue;
      }
      engine_.note_leader_contact(true);
      if (!reachable) log::info("replica: the leader {} answers again", options_.leader);
      reachable = true;
      if (!engine_.follow_updates(res->body)) snapshot_next = true;
    } catch (const std::exception& e) {
      if (stopping_) return;
      log::error("replica: following the leader failed ({}); loading a new snapshot", e.what());
      snapshot_next = true;
      if (!sleep_retry()) return;
    }
  }
}

}  // namespace streamrec::api
