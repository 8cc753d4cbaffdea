// Routes: GET /v1/model, /v1/model/versions; POST /v1/model/rollback, /v1/model/retrain.
#include <fmt/format.h>

#include "streamrec/api/http_util.h"
#include "streamrec/core/error.h"
#include "streamrec/engine/engine.h"

namespace streamrec::api {
namespace {

json retrain_json(const engine::RetrainStatus& r) {
  return {{"running", r.running},
          {"started_ms", r.started_ms},
          {"finished_ms", r.finished_ms},
          {"events_fitted", r.events_fitted},
          {"events_caught_up", r.events_caught_up},
          {"seconds", r.seconds},
          {"holdout_hr10", r.holdout_hr10},
          {"live_hr10", r.live_hr10},
          {"holdout_checks", r.holdout_checks},
          {"accepted", r.accepted},
          {"scheduled", r.scheduled},
          {"error", r.error}};
}

json versions_json(const std::vector<engine::VersionInfo>& versions) {
  json list = json::array();
  for (const auto& v : versions)
    list.push_back({{"version", v.version},
                    {"created_ms", v.created_ms},
                    {"reason", v.reason},
                    {"events_learned", v.events_learned},
                    {"live_hr10", v.live_hr10},
                    {"restorable", v.restorable}});
  return list;
}

json privacy_json(const models::PrivacyReport* p) {
  if (!p) return nullptr;
  json j = json::object();
  for (const auto& [name, value] : p->fields()) j[name] = value;
  return j;
}

}  // namespace

void add_model_routes(RouteTable& t) {
  auto& engine = t.engine;
  t.server.Get("/v1/model", t.route(Role::kRead, [&engine](const auto&, auto& res) {
    send_json(res, 200,
              {{"model", engine.model_spec()},
               {"version", engine.model_version()},
               {"privacy", privacy_json(engine.privacy().get())},
               {"retrain", retrain_json(engine.retrain_status())}});
  }));
  t.server.Get("/v1/model/versions", t.route(Role::kRead, [&engine](const auto&, auto& res) {
    send_json(res, 200,
              {{"live", engine.model_version()}, {"versions", versions_json(engine.versions())}});
  }));
  t.post("/v1/model/rollback", Role::kAdmin, [&engine](const auto& req, auto& res) {
    SR_INPUT_CHECK(req.has_param("version"), "parameter 'version' is missing");
    const auto version = parse_count(req, "version", 0);
    send_json(res, 200, {{"version", engine.rollback_to(version)}, {"from", version}});
  });
  t.post("/v1/model/retrain", Role::kAdmin, [&engine](const auto&, auto& res) {
    if (engine.start_retrain())
      send_json(res, 202, {{"started", true}, {"version", engine.model_version()}});
    else
      send_error(res, 409, "a retrain is already running");
  });
}

}  // namespace streamrec::api
