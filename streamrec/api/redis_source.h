// A Redis Stream as an event source (module api): reads a stream through a consumer
// group (XREADGROUP), hands each batch to Engine::ingest (durable in the event log), and
// only then acknowledges it (XACK), so an event is either in the log or still pending in
// Redis for the next start, never lost. On start the consumer's pending entries (read but
// not acknowledged before a crash) are processed first.
//
// Entry fields: user, item (required), value, type, timestamp (Unix s), context
// ("k=v;k=v"). An entry that does not parse is acknowledged and copied with the reason to
// the stream `<stream>:dead` (so it does not block the stream), and logged.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

namespace streamrec::engine {
class Engine;
}

namespace streamrec::api {

struct RedisSourceOptions {
  std::string host = "127.0.0.1";
  int port = 6379;
  std::string stream = "streamrec:events";
  std::string group = "streamrec";
  std::string consumer = "streamrec-1";
  size_t batch = 500;  // entries per read at most
  int block_ms = 200;  // a read waits this long for entries
};

struct RedisSourceStats {
  uint64_t ingested = 0;  // entries accepted into the service (and acknowledged)
  uint64_t dead = 0;      // entries that did not parse (acknowledged, copied to :dead)
  uint64_t reconnects = 0;
};

class RedisSource {
 public:
  RedisSource(engine::Engine& service, RedisSourceOptions options);
  // Reads until `stop` is set; reconnects (with backoff) when the connection drops.
  // Error(kIo) if the first connection fails.
  void run(const std::atomic<bool>& stop);
  RedisSourceStats stats() const;

 private:
  engine::Engine& service_;
  RedisSourceOptions options_;
  std::atomic<uint64_t> ingested_{0}, dead_{0}, reconnects_{0};
};

}  // namespace streamrec::api
