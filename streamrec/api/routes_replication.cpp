// Routes: a leader's replication (GET /v1/replication/snapshot, /updates, /replicas). The
// snapshot and publishes are binary (the engine's encoding), for `serve --follow`; they
// hold every user's history, so they need the admin role.
#include <fmt/format.h>

#include "streamrec/api/http_util.h"
#include "streamrec/core/clock.h"
#include "streamrec/core/error.h"
#include "streamrec/engine/engine.h"

namespace streamrec::api {

void add_replication_routes(RouteTable& t) {
  auto& engine = t.engine;
  t.server.Get("/v1/replication/snapshot", t.route(Role::kAdmin, [&engine](const auto&, auto& res) {
    res.set_content(engine.replication_snapshot(), "application/octet-stream");
  }));
  t.server.Get(
      "/v1/replication/updates", t.route(Role::kAdmin, [&engine](const auto& req, auto& res) {
        static_assert(sizeof(size_t) == sizeof(uint64_t));  // an epoch fits parse_count
        for (const char* p : {"epoch", "after"})
          SR_INPUT_CHECK(req.has_param(p), "parameter '{}' is required", p);
        const uint64_t epoch = parse_count(req, "epoch", 0), after = parse_count(req, "after", 0);
        const auto wait = parse_count(req, "wait_ms", 0);
        SR_INPUT_CHECK(wait <= 30000, "parameter 'wait_ms' must be 0 to 30000, got {}", wait);
        const std::string replica = req.get_param_value("replica").substr(0, 200);
        const auto body =
            engine.replication_updates(epoch, after, std::chrono::milliseconds(wait), replica);
        if (!body)
          return send_error(res, 410,
                            fmt::format("publish {} of epoch {} can no longer be followed; load "
                                        "/v1/replication/snapshot",
                                        after, epoch));
        res.set_content(*body, "application/octet-stream");
      }));
  t.server.Get("/v1/replication/replicas", t.route(Role::kRead, [&engine](const auto&, auto& res) {
    json out = json::object();
    const auto s = engine.stats();
    out["role"] = s.role;
    if (engine.is_replica()) {
      out["leader"] = engine.leader();
      out["applied"] = s.replication_publish;
      out["behind_publishes"] = s.behind_publishes;
      out["lag_ms"] = s.lag_ms;
      out["stale"] = s.stale;
    } else {
      out["publish"] = s.replication_publish;
      json list = json::array();
      const int64_t now = unix_ms();
      for (const auto& f : engine.replicas())
        list.push_back({{"id", f.id},
                        {"applied", f.applied},
                        {"behind_publishes",
                         s.replication_publish - std::min(f.applied, s.replication_publish)},
                        {"seen_ms_ago", now - f.seen_ms}});
      out["replicas"] = std::move(list);
    }
    send_json(res, 200, out);
  }));
}

}  // namespace streamrec::api
