// Internal to module api: the JSON and query-parameter helpers the route families share,
// and the table they add their routes to. Every parser throws Error(kInvalidInput) naming
// the field or parameter and the value; the route wrapper turns that into a 400.
#pragma once

#include <httplib.h>

#include <functional>
#include <map>
#include <regex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "streamrec/api/http_server.h"
#include "streamrec/api/json_records.h"
#include "streamrec/engine/types.h"

namespace streamrec::engine {
class Engine;
}

namespace streamrec::api {

using json = nlohmann::json;
using Handler = std::function<void(const httplib::Request&, httplib::Response&)>;

// Where a route family adds its routes: `route` wraps a handler with the role check, the
// rate limit and the one mapping of errors to JSON responses (the key itself is checked
// before routing, from the headers alone).
struct RouteTable {
  httplib::Server& server;
  engine::Engine& engine;
  std::function<httplib::Server::Handler(Role, Handler)> route;
  size_t max_body;
  // The routes that take a body, by method: any other request with a body is refused
  // before the body is read.
  std::vector<std::pair<std::string, std::regex>> body_routes;

  // Routes with a body. The body is read here, at most max_body bytes however it is
  // framed (Content-Length, chunked, or until the connection closes): more is a 413 and
  // the connection closes. The handler then finds it in req.body.
  void post(const std::string& pattern, Role role, Handler fn);
  void del(const std::string& pattern, Role role, Handler fn);
  // Whether `method` on `path` is one of the routes above.
  bool takes_body(const std::string& method, const std::string& path) const;
};

// Path parameter `k` of a route, percent-decoded: any id ingest accepts, '/' included.
std::string path_param(const httplib::Request& req, size_t k = 1);
// The path requests are routed by: the raw target's path with each segment decoded, then
// '%' and '/' escaped again, so that an id with '/' stays one segment ([^/]+) and
// path_param gives it back whole.
std::string routing_path(std::string_view target);

// The route families (routes_*.cpp).
void add_event_routes(RouteTable& t);        // POST /v1/events, users and their history
void add_recommend_routes(RouteTable& t);    // recommend, similar, popular, trending
void add_catalog_routes(RouteTable& t);      // items
void add_model_routes(RouteTable& t);        // model, versions, rollback, retrain
void add_stats_routes(RouteTable& t);        // health, stats, history, Prometheus metrics
void add_replication_routes(RouteTable& t);  // a leader's snapshot and publishes

void send_json(httplib::Response& res, int status, const json& body);
void send_error(httplib::Response& res, int status, const std::string& message);

// Query parameters: absent -> `fallback`; present and malformed -> Error(kInvalidInput).
size_t parse_count(const httplib::Request& req, const char* name, size_t fallback);
bool parse_bool(const httplib::Request& req, const char* name, bool fallback);
double parse_number(const httplib::Request& req, const char* name, double fallback);
// Every value of query parameter `name`, taken from the raw target: everything after the
// parameter's first '=' ("filter=brand=acme", "context=device=tv").
std::vector<std::string> raw_params(const httplib::Request& req, std::string_view name);
// category=a,b  exclude_category=c  filter=price<20 (repeatable, or several joined by ';').
engine::ItemFilter parse_filter(const httplib::Request& req);

json attributes_json(const std::map<std::string, double>& numeric,
                     const std::map<std::string, std::string>& fields);
json recommendations_json(const std::vector<engine::Recommendation>& recs, bool explain = false);

// POST `path` (role write): the body is a list of `T` (one object, an array, or
// {"<field>": [...]}, each parsed by `parse`); `accept` takes them all and returns how many
// it accepted, which the answer reports.
template <typename T, typename Parse, typename Accept>
void add_list_route(RouteTable& t, const char* path, const char* field, Parse parse,
                    Accept accept) {
  t.post(path, Role::kWrite, [=](const auto& req, auto& res) {
    const auto records = parse_list<T>(req.body, field, parse);
    send_json(res, 200, {{"accepted", accept(records)}});
  });
}

}  // namespace streamrec::api
