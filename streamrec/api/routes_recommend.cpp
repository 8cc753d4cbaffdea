// Routes: GET /v1/recommend, /v1/items/{id}/similar, /v1/popular, /v1/trending.
#include <fmt/format.h>

#include "streamrec/api/http_util.h"
#include "streamrec/core/error.h"
#include "streamrec/core/text.h"
#include "streamrec/engine/engine.h"

namespace streamrec::api {
namespace {

engine::RecommendRequest recommend_request(const httplib::Request& req) {
  engine::RecommendRequest r;
  SR_INPUT_CHECK(req.has_param("user"), "parameter 'user' is missing");
  r.user = req.get_param_value("user");
  r.n = parse_count(req, "n", 10);
  r.exclude_seen = parse_bool(req, "exclude_seen", true);
  const std::string exclude = req.get_param_value("exclude");
  for (const std::string_view id : text::split(exclude, ","))
    if (!id.empty()) r.exclude.emplace_back(id);
  r.explain = parse_bool(req, "explain", false);
  r.exact = parse_bool(req, "exact", false);
  if (req.has_param("ranker")) r.ranker = parse_bool(req, "ranker", false);
  r.filter = parse_filter(req);
  r.diversity = parse_number(req, "diversity", 0);
  if (req.has_param("calibrate")) r.calibrate = parse_number(req, "calibrate", 0);
  if (req.has_param("max_category_share"))
    r.max_category_share = parse_number(req, "max_category_share", 1);
  r.explore = parse_number(req, "explore", 0);
  for (const auto& c : raw_params(req, "context")) {
    auto pairs = data::parse_context(c, ",;");
    r.context.insert(r.context.end(), pairs.begin(), pairs.end());
  }
  return r;
}

}  // namespace

void add_recommend_routes(RouteTable& t) {
  auto& engine = t.engine;
  t.server.Get("/v1/recommend", t.route(Role::kRead, [&engine](const auto& req, auto& res) {
    const auto r = recommend_request(req);
    send_json(res, 200,
              {{"user", r.user}, {"items", recommendations_json(engine.recommend(r), r.explain)}});
  }));
  t.server.Get(R"(/v1/items/([^/]+)/similar)",
               t.route(Role::kRead, [&engine](const auto& req, auto& res) {
                 const size_t n = parse_count(req, "n", 10);
                 send_json(res, 200,
                           {{"item", path_param(req)},
                            {"items", recommendations_json(engine.similar(path_param(req), n))}});
               }));
  t.server.Get("/v1/popular", t.route(Role::kRead, [&engine](const auto& req, auto& res) {
    const auto items = engine.popular(parse_count(req, "n", 10), parse_filter(req));
    send_json(res, 200, {{"items", recommendations_json(items)}});
  }));
  t.server.Get("/v1/trending", t.route(Role::kRead, [&engine](const auto& req, auto& res) {
    const auto items = engine.trending(parse_count(req, "n", 10), parse_filter(req));
    send_json(res, 200, {{"items", recommendations_json(items)}});
  }));
}

}  // namespace streamrec::api
