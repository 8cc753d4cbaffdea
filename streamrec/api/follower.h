// A read replica's link to its leader (module api): one thread that loads the leader's
// snapshot (GET /v1/replication/snapshot), then long-polls its publishes
// (GET /v1/replication/updates) and applies them in order to the engine. A publish it
// cannot follow (a gap, a reset, another epoch, a refused delta) makes it load a new
// snapshot; an unreachable leader leaves the last applied state serving (the engine says
// it is stale) while it retries every `retry_ms`.
//
// Thread-safety: run() on one thread; stop() from any other.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>

namespace streamrec::engine {
class Engine;
}

namespace streamrec::api {

struct FollowerOptions {
  std::string leader;   // http://host:port
  std::string api_key;  // the leader's key (role admin) when it has keys
  std::string id;       // how the leader lists this replica
  int wait_ms = 10000;  // long-poll
  int retry_ms = 500;
};

class Follower {
 public:
  Follower(engine::Engine& engine, FollowerOptions options);
  ~Follower();
  // Follows until stop().
  void run();
  void stop();

 private:
  struct Client;
  bool sleep_retry();  // false once stopping
  engine::Engine& engine_;
  FollowerOptions options_;
  std::unique_ptr<Client> client_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::atomic<bool> stopping_{false};
};

}  // namespace streamrec::api
