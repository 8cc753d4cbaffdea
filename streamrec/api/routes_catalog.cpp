// Routes: POST /v1/items, GET /v1/items/{id}, /v1/items/{id}/activity.
#include <fmt/format.h>

#include "streamrec/api/http_util.h"
#include "streamrec/api/json_records.h"
#include "streamrec/engine/engine.h"

namespace streamrec::api {
namespace {

json item_json(const std::string& id, const engine::ItemInfo& info) {
  json j = {{"id", id},
            {"events", info.events},
            {"popularity", info.popularity},
            {"trending", info.trending},
            {"first_seen", info.first_seen},
            {"recommendable", info.recommendable},
            {"in_catalog", info.record.has_value()}};
  if (const auto& r = info.record) {
    j["title"] = r->attrs.title;
    j["categories"] = r->attrs.categories;
    j["tags"] = r->attrs.tags;
    if (!r->attrs.image.empty()) j["image"] = r->attrs.image;
    j["attributes"] = attributes_json(r->attrs.numeric, r->fields);
    j["hidden"] = r->hidden;
    j["expires_at"] = r->expires_at;
    j["created_at"] = r->created_at;
  }
  return j;
}

}  // namespace

void add_catalog_routes(RouteTable& t) {
  auto& engine = t.engine;
  add_list_route<engine::ItemRecord>(t, "/v1/items", "items", parse_item,
                                     [&engine](const auto& items) {
                                       engine.upsert_items(items);
                                       return items.size();
                                     });
  t.server.Get(R"(/v1/items/([^/]+))", t.route(Role::kRead, [&engine](const auto& req, auto& res) {
    const std::string id = path_param(req);
    const auto info = engine.item(id);
    if (!info) return send_error(res, 404, fmt::format("unknown item '{}'", id));
    send_json(res, 200, item_json(id, *info));
  }));
  t.server.Get(
      R"(/v1/items/([^/]+)/activity)", t.route(Role::kRead, [&engine](const auto& req, auto& res) {
        const auto a = engine.item_activity(path_param(req), parse_count(req, "buckets", 30));
        send_json(res, 200,
                  {{"item", path_param(req)},
                   {"start", a.start},
                   {"bucket_seconds", a.bucket_seconds},
                   {"counts", a.counts}});
      }));
}

}  // namespace streamrec::api
