// `streamrec serve`: the HTTP server with online learning, optionally fed by a generated
// demo catalog and event stream. Ctrl-C (SIGINT) or SIGTERM stops it cleanly: the handler
// only sets a flag (threads made by libraries before main may take the signal, so sigwait
// on a blocked mask is not reliable); a watcher thread sees it and stops the HTTP server;
// the learner then drains and the event log closes. Under mpirun, rank 0 serves and the
// other ranks learn in lock step with its model (ranks.h, models/lockstep.h).
#include <CLI/CLI.hpp>

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <map>
#include <numeric>
#include <span>
#include <thread>

#include <unistd.h>

#include <fmt/format.h>

#include "cli_common.h"
#include "commands.h"
#include "ranks.h"
#include "streamrec/api/follower.h"
#include "streamrec/api/http_server.h"
#include "streamrec/api/redis_source.h"
#include "streamrec/core/clock.h"
#include "streamrec/core/error.h"
#include "streamrec/core/log.h"
#include "streamrec/core/text.h"
#include "streamrec/data/generator.h"
#include "streamrec/data/reader.h"
#include "streamrec/engine/engine.h"
#include "streamrec/models/lockstep.h"

namespace streamrec::cli {
namespace {

std::atomic<bool> g_signalled{false};
static_assert(std::atomic<bool>::is_always_lock_free);
extern "C" void on_stop_signal(int) { g_signalled = true; }

struct DemoOptions {
  bool enabled = false;
  double rate = 50;         // events per second
  uint64_t backlog = 5000;  // events ingested at once at start
  bool catalog = false;     // list every generated item at start, not at its first event
  std::vector<std::string> gen;
};

// Replays a generated stream into the service at `rate` events/s with wall-clock
// timestamps, looping over it, until `stop`.
data::Dataset demo_dataset(const DemoOptions& o) {
  auto gp = data::GeneratorOptions::params();
  gp.set_from(o.gen);
  return data::generate(data::GeneratorOptions::from_params(gp));
}

// Feeds events of a data set into the service; each item enters the catalog (its title,
// categories, tags, numeric attributes) just before its first event, as a shop would add it.
class Feeder {
 public:
  // `demo_prices`: also give each item a generated price (the demo's filterable attribute).
  Feeder(engine::Engine& service, const data::Dataset& ds, bool demo_prices)
      : service_(service), ds_(ds), demo_prices_(demo_prices), listed_(ds.num_items(), false) {}

  // Events ds.events[order[x]] for x in [from, to), stamped now or with their own time.
  void feed(std::span<const size_t> order, bool stamp_now) {
    const int64_t now = unix_seconds();
    std::vector<store::LoggedEvent> batch;
    std::vector<store::ItemRecord> items;
    for (const size_t x : order) {
      const auto& e = ds_.events[x];
      if (!listed_[e.item]) {
        listed_[e.item] = true;
        items.push_back(record_of(e.item));
      }
      std::string context;
      for (const auto& [k, v] : ds_.contexts[e.context])
        context += (context.empty() ? "" : ";") + k + "=" + v;
      batch.push_back({ds_.users.id(e.user), ds_.items.id(e.item), e.value, e.type,
                       stamp_now ? now : e.timestamp, context});
    }
    if (!items.empty()) service_.upsert_items(items);
    service_.ingest(batch);
  }

  // Lists every item of the data set not listed yet, in batches, with no events: a shop's
  // whole catalog before its first visitor.
  void list_all() {
    std::vector<store::ItemRecord> items;
    for (uint32_t i = 0; i < ds_.num_items(); ++i) {
      if (listed_[i]) continue;
      listed_[i] = true;
      items.push_back(record_of(i));
      if (items.size() == 1000) {
        service_.upsert_items(items);
        items.clear();
      }
    }
    if (!items.empty()) service_.upsert_items(items);
  }

 private:
  store::ItemRecord record_of(uint32_t item) const {
    store::ItemRecord r;
    r.id = ds_.items.id(item);
    if (item < ds_.item_attrs.size()) r.attrs = ds_.item_attrs[item];
    if (demo_prices_) r.attrs.numeric["price"] = 5 + (item * 7919) % 95;
    return r;
  }

  engine::Engine& service_;
  const data::Dataset& ds_;
  bool demo_prices_;
  std::vector<bool> listed_;
};

// Replays a data set in event-time order with the events' own timestamps: `speed` seconds
// of event time per wall second (0: as fast as the service accepts them), then stops.
void run_replay(engine::Engine& service, const data::Dataset& ds, double speed,
                const std::atomic<bool>& stop) {
  std::vector<size_t> order(ds.events.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return ds.events[a].timestamp < ds.events[b].timestamp;
  });
  Feeder feeder(service, ds, false);
  const auto start = std::chrono::steady_clock::now();
  const int64_t t0 = order.empty() ? 0 : ds.events[order[0]].timestamp;
  size_t next = 0;
  while (!stop && next < order.size()) {
    size_t end = std::min(order.size(), next + 500);
    if (speed > 0) {
      const double elapsed =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      const auto due = static_cast<double>(t0) + elapsed * speed;
      end = next;
      while (end < order.size() && end - next < 500 &&
             static_cast<double>(ds.events[order[end]].timestamp) <= due)
        ++end;
      if (end == next) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        continue;
      }
    }
    feeder.feed(std::span<const size_t>(order).subspan(next, end - next), false);
    next = end;
  }
  log::info("replay: {} of {} events fed", next, order.size());
}

void run_demo(engine::Engine& service, const data::Dataset& ds, const DemoOptions& o,
              const std::atomic<bool>& stop) {
  size_t next = 0;
  Feeder feeder(service, ds, true);
  auto take = [&](size_t n) {  // the next n events, looping over the stream
    std::vector<size_t> order;
    for (size_t x = 0; x < n; ++x, ++next) order.push_back(next % ds.events.size());
    feeder.feed(order, true);
  };
  // The backlog only on a fresh data directory: a restart resumes from the log instead.
  const bool fresh = service.stats().events_logged == 0;
  if (fresh && o.catalog) {
    feeder.list_all();
    log::info("demo: catalog of {} items listed", ds.num_items());
  }
  const uint64_t backlog = fresh ? o.backlog : 0;
  for (uint64_t sent = 0; sent < backlog && !stop; sent += 500)
    take(std::min<uint64_t>(500, backlog - sent));
  log::info("demo: {} backlog events ingested; streaming {} events/s", backlog, o.rate);
  const auto start = std::chrono::steady_clock::now();
  uint64_t streamed = 0;
  while (!stop) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    const double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const auto due = static_cast<uint64_t>(elapsed * o.rate);
    if (due > streamed) {
      take(due - streamed);
      streamed = due;
    }
  }
}

// The serve command's options and its run: the engine's options (from their table), the
// HTTP server's, and what feeds events (demo stream, replay, Redis).
struct ServeCli {
  engine::EngineOptions so;
  api::ServerOptions ao;
  DemoOptions demo;
  std::string keys;
  bool no_sync = false;
  std::string replay_path;
  double replay_speed = 0;
  api::RedisSourceOptions redis;
  std::string redis_stream, redis_addr = "127.0.0.1:6379";
  std::string leader_key;
  data::Dataset demo_data, replay_data;  // read before anything starts
  std::string example_user = "USER";

  ServeCli() {
    so.data_dir = "streamrec-data";
    ao.dashboard_dir = STREAMREC_DASHBOARD_DIR;
  }

  void add_server_flags(CLI::App* cmd) {
    cmd->add_option("--host", ao.host, "address to bind (loopback by default)")
        ->capture_default_str();
    cmd->add_option("--port", ao.port, "port (0 = any free port)")
        ->capture_default_str()
        ->check(CLI::Range(0, 65535));
    // The engine's options, from their one declaration (engine/options.h).
    std::map<std::string, CLI::Option*> flags;
    for (const auto& o : engine::engine_options())
      flags[o.flag] = std::visit(
          [&](auto* field) {
            return cmd->add_option(o.flag, *field, o.help)->capture_default_str();
          },
          o.field(so));
    flags["--model-dir"]->excludes(flags["--model"]);
    flags["--model"]->transform(model_spec_file());  // @FILE: tune's result
    cmd->add_option("--api-keys", keys,
                    "key:role,... (role read|write|admin); default $STREAMREC_API_KEYS; none = "
                    "no authentication");
    cmd->add_option("--dashboard-dir", ao.dashboard_dir, "static dashboard files ('' = none)")
        ->capture_default_str();
    cmd->add_option("--rate-limit", ao.rate_limit,
                    "requests per second per API key (or client address); 0 = no limit")
        ->capture_default_str();
    cmd->add_option("--http-threads", ao.threads,
                    "request threads (one per open keep-alive connection while it is open)")
        ->capture_default_str();
    cmd->add_option("--max-body", ao.max_body, "largest request body in bytes")
        ->capture_default_str()
        ->check(CLI::Range(size_t{1}, size_t{1} << 30));
    cmd->add_option("--header-timeout-ms", ao.header_timeout_ms,
                    "close a connection that has not sent a request's headers this long after "
                    "it opened or after its last response")
        ->capture_default_str()
        ->check(CLI::Range(100, 3600000));
    cmd->add_option("--max-connections-per-client", ao.max_connections_per_client,
                    "open connections one client address may hold (0: half of --http-threads)")
        ->capture_default_str();
    cmd->add_option("--allowed-hosts", ao.allowed_hosts,
                    "without API keys, the Host names requests may use (default: the loopback "
                    "names when bound to loopback; * = any)")
        ->delimiter(',');
    cmd->add_option("--cors-origins", ao.cors_origins,
                    "origins (https://app.example) whose pages may call the API (CORS)")
        ->delimiter(',');
  }

  void add_feed_flags(CLI::App* cmd) {
    cmd->add_flag(
        "--no-sync", no_sync,
        "acknowledge events before the log is fsynced (survives kill -9, not power loss)");
    cmd->add_flag("--demo", demo.enabled, "feed a generated catalog and event stream");
    cmd->add_option("--replay", replay_path,
                    "feed a data set (any `eval --data` format) in event-time order, with its "
                    "items' attributes, then keep serving");
    cmd->add_option("--replay-speed", replay_speed,
                    "seconds of event time per wall second (0: as fast as accepted)")
        ->capture_default_str();
    cmd->add_option("--demo-rate", demo.rate, "demo events per second")->capture_default_str();
    cmd->add_option("--demo-catalog", demo.catalog,
                    "list the whole generated catalog at start (else each item enters the "
                    "catalog just before its first event)")
        ->capture_default_str();
    cmd->add_option("--demo-backlog", demo.backlog,
                    "demo events ingested at start (on an empty data directory)")
        ->capture_default_str();
    cmd->add_option("--redis-stream", redis_stream,
                    "also consume events from this Redis Stream (consumer group; acknowledged "
                    "once durable)");
    cmd->add_option("--redis", redis_addr, "Redis host:port")->capture_default_str();
    cmd->add_option("--leader-key", leader_key,
                    "with --follow: the leader's API key (role admin; or STREAMREC_LEADER_KEY)");
    cmd->add_option("--redis-group", redis.group, "Redis consumer group")->capture_default_str();
    cmd->add_option("--redis-consumer", redis.consumer, "Redis consumer name")
        ->capture_default_str();
    cmd->add_option("--gen", demo.gen,
                    "demo generator key=value,...:\n" + data::GeneratorOptions::params().help());
  }

  // Keys, Redis address and the data to feed: bad input fails here with its message.
  void prepare() {
    if (keys.empty())
      if (const char* env = std::getenv("STREAMREC_API_KEYS")) keys = env;
    ao.keys = api::parse_api_keys(keys);
    so.sync = !no_sync;
    if (leader_key.empty())
      if (const char* env = std::getenv("STREAMREC_LEADER_KEY")) leader_key = env;
    SR_INPUT_CHECK(
        so.follow.empty() || (!demo.enabled && replay_path.empty() && redis_stream.empty()),
        "a replica (--follow) takes no events of its own: no --demo, --replay or "
        "--redis-stream");
    if (!redis_stream.empty()) {
      redis.stream = redis_stream;
      const auto colon = redis_addr.rfind(':');
      const auto port = colon == std::string::npos
                            ? std::nullopt
                            : text::parse_int(std::string_view(redis_addr).substr(colon + 1));
      SR_INPUT_CHECK(port && *port > 0 && *port < 65536, "--redis {}: expected host:port",
                     text::quote(redis_addr));
      redis.host = redis_addr.substr(0, colon);
      redis.port = static_cast<int>(*port);
    }
    // Data to feed, read before anything starts: bad input fails here with its message.
    if (!replay_path.empty()) {
      SR_INPUT_CHECK(replay_speed >= 0, "--replay-speed must be >= 0, got {}", replay_speed);
      data::ImportReport report;
      replay_data = data::read_dataset(replay_path, data::ReadOptions{}, report);
      if (!replay_data.events.empty())
        example_user = replay_data.users.id(replay_data.events[0].user);
    }
    if (demo.enabled) {
      demo_data = demo_dataset(demo);
      if (!demo_data.events.empty()) example_user = demo_data.users.id(demo_data.events[0].user);
    }
  }

  // `lockstep` (rank 0 under mpirun): the ranks learn with the engine's models.
  void run(models::Lockstep* lockstep);
};

void ServeCli::run(models::Lockstep* lockstep) {
  // Installed even where the shell started us with SIGINT ignored (background jobs).
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);

  engine::AdoptModel adopt;
  if (lockstep)
    adopt = [lockstep](std::unique_ptr<models::Recommender> m, const std::string& spec) {
      return lockstep->wrap(std::move(m), spec);
    };
  engine::Engine service(so, adopt);
  api::HttpServer server(service, ao);
  const int port = server.bind();
  std::atomic<bool> stop{false}, served{false};
  // Stops the server until it has stopped: a signal during the start (the first fit) comes
  // before server.run() listens, when a single stop() would be lost.
  std::thread waiter([&] {
    bool told = false;
    while (!served) {
      if (g_signalled && !told) {
        log::info("serve: stop signal, stopping");
        told = stop = true;
      }
      if (stop) server.stop();
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (g_signalled && !told) log::info("serve: stop signal, stopping");
  });
  std::thread demo_thread, replay_thread;
  if (!replay_path.empty())
    replay_thread = std::thread([&] { run_replay(service, replay_data, replay_speed, stop); });
  if (demo.enabled) demo_thread = std::thread([&] { run_demo(service, demo_data, demo, stop); });
  // The Redis source: a failure to connect at start stops the server with the error.
  std::thread redis_thread;
  std::string redis_error;
  std::unique_ptr<api::RedisSource> source;
  if (!redis_stream.empty()) {
    source = std::make_unique<api::RedisSource>(service, redis);
    redis_thread = std::thread([&] {
      try {
        source->run(stop);
      } catch (const std::exception& e) {
        redis_error = e.what();
        log::error("serve: redis source stopped: {}", redis_error);
        stop = true;
      }
    });
  }
  const std::string base = fmt::format("http://{}:{}", ao.host, port);
  std::unique_ptr<api::Follower> follower;
  std::thread follower_thread;
  if (!so.follow.empty()) {
    follower =
        std::make_unique<api::Follower>(service, api::FollowerOptions{so.follow, leader_key, base});
    follower_thread = std::thread([&] { follower->run(); });
  }
  fmt::print("streamrec serving {} (model {}, data in {})\n", base, service.model_spec(),
             so.data_dir);
  fmt::print("  dashboard: {}/\n", base);
  fmt::print("  try: curl '{}/v1/recommend?user={}&n=5'{}\n", base, example_user,
             ao.keys.empty() ? "" : " -H 'X-API-Key: KEY'");
  fmt::print("  stats: {}/v1/stats   metrics: {}/metrics   Ctrl-C stops\n", base, base);
  std::fflush(stdout);
  if (!g_signalled) server.run();
  stop = true;
  served = true;
  if (demo_thread.joinable()) demo_thread.join();
  if (replay_thread.joinable()) replay_thread.join();
  if (redis_thread.joinable()) redis_thread.join();
  if (follower) follower->stop();
  if (follower_thread.joinable()) follower_thread.join();
  waiter.join();
  SR_CHECK(redis_error.empty(), ErrorKind::kIo, "{}", redis_error);
  const auto left = service.stats().queue;
  if (left > 0)
    log::info("serve: {} events not learned yet stay in the event log; the next start learns them",
              left);
  log::info("serve: stopped");
}

}  // namespace

void add_serve_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("serve", "HTTP API with online learning (see docs/openapi.yaml)");
  auto cli = std::make_shared<ServeCli>();
  cli->add_server_flags(cmd);
  cli->add_feed_flags(cmd);
  cmd->callback([cli] {
    // Under mpirun rank 0 serves and the other ranks learn in lock step with its model.
    Ranks ranks;
    if (!ranks.root()) {
      ranks.follow_root();
      ranks.report(0);
      return;
    }
    SR_INPUT_CHECK(!ranks.active() || cli->so.follow.empty(),
                   "a replica (--follow) runs in one process, not on {} MPI ranks", ranks.size());
    const auto t0 = std::chrono::steady_clock::now();
    auto lockstep = ranks.lockstep();
    if (lockstep)
      log::info("serve: rank 0 of {} MPI ranks, pid {}: SIGTERM to it stops every rank",
                ranks.size(), static_cast<long>(getpid()));
    cli->prepare();
    cli->run(lockstep.get());
    if (!lockstep) return;
    lockstep->stop();
    ranks.report(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  });
}

}  // namespace streamrec::cli
