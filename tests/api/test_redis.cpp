// The Redis Stream source against a real redis-server (Debian's, started here on a free
// loopback port): events flow into the service and are acknowledged only after they are
// durable; entries left pending by a crash are processed on the next start; entries that
// do not parse go to the dead-letter stream and do not block the stream.
#include <gtest/gtest.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include "streamrec/api/redis_source.h"
#include "streamrec/core/error.h"
#include "streamrec/engine/engine.h"
#include "test_util.h"

extern char** environ;

namespace streamrec::api {
namespace {

int free_port() {
  const int s = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
  close(s);
  return ntohs(a.sin_port);
}

// redis-server in the foreground on a free port, without persistence; killed at the end.
struct RedisServer {
  pid_t pid = -1;
  int port = 0;
  redisContext* c = nullptr;

  explicit RedisServer(const std::string& dir) {
    port = free_port();
    const std::string p = std::to_string(port);
    const char* argv[] = {"redis-server", "--port", p.c_str(),   "--bind",
                          "127.0.0.1",    "--save", "",          "--appendonly",
                          "no",           "--dir",  dir.c_str(), nullptr};
    if (posix_spawnp(&pid, "redis-server", nullptr, nullptr, const_cast<char**>(argv), environ) !=
        0) {
      pid = -1;
      return;
    }
    for (int t = 0; t < 100 && !c; ++t) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      c = redisConnect("127.0.0.1", port);
      if (c && c->err) {
        redisFree(c);
        c = nullptr;
      }
    }
  }
  ~RedisServer() {
    if (c) redisFree(c);
    if (pid > 0) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
  }
  bool up() const { return c != nullptr; }
  long long integer(const std::string& cmd) {
    auto* r = static_cast<redisReply*>(redisCommand(c, cmd.c_str()));
    const long long v = r && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    if (r) freeReplyObject(r);
    return v;
  }
  void add(const std::string& stream, const std::string& user, const std::string& item,
           const std::string& extra = "") {
    auto* r = static_cast<redisReply*>(redisCommand(
        c, ("XADD " + stream + " * user " + user + " item " + item + " " + extra).c_str()));
    ASSERT_TRUE(r && r->type == REDIS_REPLY_STRING) << (r ? r->str : "no reply");
    freeReplyObject(r);
  }
  // XPENDING count of the group.
  long long pending(const std::string& stream, const std::string& group) {
    auto* r =
        static_cast<redisReply*>(redisCommand(c, "XPENDING %s %s", stream.c_str(), group.c_str()));
    const long long v = r && r->type == REDIS_REPLY_ARRAY ? r->element[0]->integer : -1;
    if (r) freeReplyObject(r);
    return v;
  }
};

engine::EngineOptions popular_options(const std::string& dir) {
  engine::EngineOptions o;
  o.model = "popular";
  o.data_dir = dir;
  o.sync = false;
  return o;
}

TEST(RedisSource, IngestsAcknowledgesRecoversAndDeadLetters) {
  testing::TempDir dir;
  RedisServer redis(dir.path().string());
  if (!redis.up()) GTEST_SKIP() << "redis-server is not installed (scripts/install-deps.sh)";
  const std::string stream = "events";
  RedisSourceOptions o;
  o.port = redis.port;
  o.stream = stream;
  o.block_ms = 50;

  // Before the service starts: 200 events, one bad entry (value), one without an item.
  for (int x = 0; x < 200; ++x)
    redis.add(stream, "u" + std::to_string(x % 20), "i" + std::to_string(x % 30),
              "type click timestamp " + std::to_string(1'700'000'000 + x));
  redis.add(stream, "u1", "i1", "value lots");
  {
    auto* r = static_cast<redisReply*>(redisCommand(redis.c, "XADD events * user u2"));
    freeReplyObject(r);
  }
  // A previous run read 10 of them as this consumer and crashed before acknowledging.
  {
    auto* r = static_cast<redisReply*>(
        redisCommand(redis.c, "XGROUP CREATE events %s 0", o.group.c_str()));
    freeReplyObject(r);
    r = static_cast<redisReply*>(redisCommand(redis.c,
                                              "XREADGROUP GROUP %s %s COUNT 10 STREAMS events >",
                                              o.group.c_str(), o.consumer.c_str()));
    freeReplyObject(r);
  }
  EXPECT_EQ(redis.pending(stream, o.group), 10);

  engine::Engine service(popular_options((dir.path() / "data").string()));
  RedisSource source(service, o);
  std::atomic<bool> stop{false};
  std::thread t([&] { source.run(stop); });
  auto wait_for = [&](uint64_t logged) {
    for (int k = 0; k < 200 && service.stats().events_logged < logged; ++k)
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
  };
  wait_for(200);
  EXPECT_EQ(service.stats().events_logged, 200u);  // the 10 pending ones too, once each
  for (int k = 0; k < 100 && redis.pending(stream, o.group) != 0; ++k)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(redis.pending(stream, o.group), 0);  // everything acknowledged
  EXPECT_EQ(source.stats().dead, 2u);
  EXPECT_EQ(redis.integer("XLEN events:dead"), 2);
  // New entries keep flowing while it runs.
  redis.add(stream, "u-new", "i-new");
  wait_for(201);
  EXPECT_EQ(service.stats().events_logged, 201u);
  service.wait_learned();
  EXPECT_EQ(service.history("u-new").size(), 1u);
  stop = true;
  t.join();
  EXPECT_EQ(source.stats().ingested, 201u);
}

TEST(RedisSource, AWrongAddressIsAClearError) {
  testing::TempDir dir;
  engine::Engine service(popular_options(dir.path().string()));
  RedisSourceOptions o;
  o.port = free_port();  // nothing listens there
  RedisSource source(service, o);
  std::atomic<bool> stop{false};
  try {
    source.run(stop);
    FAIL() << "connected to nothing";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot connect"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace streamrec::api
