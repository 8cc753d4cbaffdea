// Routes: POST /v1/events; users (upsert, record, history, deletion).
#include <fmt/format.h>

#include "streamrec/api/http_util.h"
#include "streamrec/api/json_records.h"
#include "streamrec/engine/engine.h"

namespace streamrec::api {
namespace {

json user_json(engine::Engine& engine, const std::string& id) {
  const auto record = engine.user(id);
  const auto events = engine.history(id);
  if (!record && events.empty()) return nullptr;
  json j = {{"id", id}, {"events", events.size()}};
  j["attributes"] =
      record ? attributes_json(record->attrs.numeric, record->attrs.fields) : json::object();
  return j;
}

json history_json(const std::vector<engine::LoggedEvent>& history) {
  json events = json::array();
  for (const auto& e : history)
    events.push_back({{"item", e.item},
                      {"value", e.value},
                      {"type", data::to_string(e.type)},
                      {"timestamp", e.timestamp}});
  return events;
}

}  // namespace

void add_event_routes(RouteTable& t) {
  auto& engine = t.engine;
  add_list_route<engine::LoggedEvent>(
      t, "/v1/events", "events", parse_event,
      [&engine](const auto& events) { return engine.ingest(events); });
  add_list_route<engine::UserRecord>(t, "/v1/users", "users", parse_user,
                                     [&engine](const auto& users) {
                                       engine.upsert_users(users);
                                       return users.size();
                                     });
  t.server.Get(R"(/v1/users/([^/]+))", t.route(Role::kRead, [&engine](const auto& req, auto& res) {
    const std::string id = path_param(req);
    const json j = user_json(engine, id);
    if (j.is_null()) return send_error(res, 404, fmt::format("unknown user '{}'", id));
    send_json(res, 200, j);
  }));
  t.server.Get(R"(/v1/users/([^/]+)/history)",
               t.route(Role::kRead, [&engine](const auto& req, auto& res) {
                 const std::string id = path_param(req);
                 send_json(res, 200, {{"user", id}, {"events", history_json(engine.history(id))}});
               }));
  t.del(R"(/v1/users/([^/]+))", Role::kAdmin, [&engine](const auto& req, auto& res) {
    const std::string id = path_param(req);
    const auto n = engine.erase_user(id);
    if (!n) return send_error(res, 404, fmt::format("unknown user '{}'", id));
    send_json(res, 200, {{"user", id}, {"events_deleted", *n}});
  });
}

}  // namespace streamrec::api
