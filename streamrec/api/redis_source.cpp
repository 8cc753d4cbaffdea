#include "streamrec/api/redis_source.h"

#include <hiredis/hiredis.h>

#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include "streamrec/core/clock.h"
#include "streamrec/core/error.h"
#include "streamrec/core/log.h"
#include "streamrec/core/text.h"
#include "streamrec/engine/engine.h"

namespace streamrec::api {
namespace {

struct ContextFree {
  void operator()(redisContext* c) const { redisFree(c); }
};
struct ReplyFree {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using Connection = std::unique_ptr<redisContext, ContextFree>;
using Reply = std::unique_ptr<redisReply, ReplyFree>;

Connection connect(const RedisSourceOptions& o) {
  Connection c(redisConnect(o.host.c_str(), o.port));
  SR_CHECK(c && !c->err, ErrorKind::kIo, "redis {}:{}: cannot connect: {}", o.host, o.port,
           c ? c->errstr : "out of memory");
  return c;
}

// Runs a command (arguments binary-safe); Error(kIo) if the connection fails, the reply
// (possibly an error reply) otherwise.
Reply command(redisContext* c, const std::vector<std::string>& args) {
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  for (const auto& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  Reply r(static_cast<redisReply*>(
      redisCommandArgv(c, static_cast<int>(args.size()), argv.data(), lens.data())));
  SR_CHECK(r != nullptr, ErrorKind::kIo, "redis: {} failed: {}", args[0], c->errstr);
  return r;
}

std::string text_of(const redisReply* r) {
  return r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS ||
               r->type == REDIS_REPLY_ERROR)
             ? std::string(r->str, r->len)
             : std::string();
}

// One stream entry's fields as an event; Error(kInvalidInput) naming the entry and field.
engine::LoggedEvent parse_entry(const std::string& id, const redisReply* fields,
                                const engine::Engine& engine) {
  SR_INPUT_CHECK(fields && fields->type == REDIS_REPLY_ARRAY && fields->elements % 2 == 0,
                 "entry {}: fields are not key/value pairs", id);
  engine::LoggedEvent e;
  bool has_time = false;
  for (size_t k = 0; k + 1 < fields->elements; k += 2) {
    const std::string key = text_of(fields->element[k]), value = text_of(fields->element[k + 1]);
    if (key == "user") {
      e.user = value;
    } else if (key == "item") {
      e.item = value;
    } else if (key == "value") {
      const auto v = text::parse_double(value);
      SR_INPUT_CHECK(v.has_value(), "entry {}: field 'value' is not a number: {}", id,
                     text::quote(value));
      e.value = static_cast<float>(*v);
    } else if (key == "type") {
      const auto t = data::parse_event_type(value);
      SR_INPUT_CHECK(t.has_value(), "entry {}: field 'type' has unknown value {}", id,
                     text::quote(value));
      e.type = *t;
    } else if (key == "timestamp") {
      const auto t = text::parse_int(value);
      SR_INPUT_CHECK(t.has_value(), "entry {}: field 'timestamp' is not an integer: {}", id,
                     text::quote(value));
      e.timestamp = *t;
      has_time = true;
    } else if (key == "context") {
      data::parse_context(value, ";");  // validates
      e.context = value;
    }
  }
  SR_INPUT_CHECK(!e.user.empty(), "entry {}: field 'user' is missing", id);
  SR_INPUT_CHECK(!e.item.empty(), "entry {}: field 'item' is missing", id);
  if (!has_time) e.timestamp = unix_seconds();
  try {
    engine.check_event(e, 0);
  } catch (const Error& err) {
    SR_INPUT_CHECK(false, "entry {}: {}", id, err.what());
  }
  return e;
}

}  // namespace

RedisSource::RedisSource(engine::Engine& service, RedisSourceOptions options)
    : service_(service), options_(std::move(options)) {}

RedisSourceStats RedisSource::stats() const { return {ingested_, dead_, reconnects_}; }

void RedisSource::run(const std::atomic<bool>& stop) {
  const auto& o = options_;
  auto c = connect(o);  // the first connection must work: a wrong address is reported
  bool pending_done = false;
  int backoff_ms = 100;
  while (!stop) {
    try {
      if (!c) {
        c = connect(o);
        ++reconnects_;
        pending_done = false;  // re-read what this consumer had not acknowledged
      }
      auto created = command(c.get(), {"XGROUP", "CREATE", o.stream, o.group, "0", "MKSTREAM"});
      if (created->type == REDIS_REPLY_ERROR && text_of(created.get()).rfind("BUSYGROUP", 0) != 0)
        SR_CHECK(false, ErrorKind::kIo, "redis: XGROUP CREATE {}: {}", o.stream,
                 text_of(created.get()));
      while (!stop) {
        // First this consumer's pending entries ("0"), then new ones (">").
        std::vector<std::string> args = {"XREADGROUP", "GROUP", o.group,
                                         o.consumer,   "COUNT", std::to_string(o.batch)};
        if (pending_done) args.insert(args.end(), {"BLOCK", std::to_string(o.block_ms)});
        args.insert(args.end(), {"STREAMS", o.stream, pending_done ? ">" : "0"});
        auto reply = command(c.get(), args);
        SR_CHECK(reply->type != REDIS_REPLY_ERROR, ErrorKind::kIo, "redis: XREADGROUP: {}",
                 text_of(reply.get()));
        std::vector<std::string> ids;
        std::vector<engine::LoggedEvent> events;
        if (reply->type == REDIS_REPLY_ARRAY && reply->elements > 0) {
          const redisReply* entries = reply->element[0]->element[1];
          for (size_t x = 0; x < entries->elements; ++x) {
            const redisReply* entry = entries->element[x];
            const std::string id = text_of(entry->element[0]);
            ids.push_back(id);
            try {
              events.push_back(parse_entry(id, entry->element[1], service_));
            } catch (const Error& e) {
              // Dead letter: keep the entry and the reason, acknowledge it below.
              std::vector<std::string> args = {"XADD",  o.stream + ":dead", "*", "id", id, "error",
                                               e.what()};
              const redisReply* f = entry->element[1];
              for (size_t k = 0; f && f->type == REDIS_REPLY_ARRAY && k < f->elements; ++k)
                args.push_back(text_of(f->element[k]));
              if ((args.size() - 3) % 2 == 0) command(c.get(), args);
              log::error("redis source: {}: {} (moved to {}:dead)", o.stream, e.what(), o.stream);
              ++dead_;
            }
          }
        }
        if (ids.empty()) {
          pending_done = true;  // nothing pending (or nothing new within block_ms)
          continue;
        }
        // Durable first, acknowledged second: a crash in between re-reads the batch.
        service_.ingest(events);
        std::vector<std::string> ack = {"XACK", o.stream, o.group};
        ack.insert(ack.end(), ids.begin(), ids.end());
        command(c.get(), ack);
        ingested_ += events.size();
        backoff_ms = 100;
      }
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::kIo) throw;
      log::warn("redis source: {}; reconnecting in {} ms", e.what(), backoff_ms);
      c.reset();
      for (int waited = 0; waited < backoff_ms && !stop; waited += 50)
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      backoff_ms = std::min(backoff_ms * 2, 5000);
    }
  }
}

}  // namespace streamrec::api
