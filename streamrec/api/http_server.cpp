#include "streamrec/api/http_server.h"

#include <httplib.h>

#include <charconv>
#include <cmath>
#include <map>
#include <mutex>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "streamrec/core/clock.h"
#include "streamrec/core/error.h"
#include "streamrec/core/log.h"
#include "streamrec/core/text.h"
#include "streamrec/models/threads.h"
#include "streamrec/serve/service.h"

namespace streamrec::api {
namespace {

// httplib's pool whose threads run libtorch's operators on themselves alone (see
// models::use_only_this_thread), set as each task (a connection) starts.
class RequestThreadPool : public httplib::ThreadPool {
 public:
  using httplib::ThreadPool::ThreadPool;
  void enqueue(std::function<void()> fn) override {
    httplib::ThreadPool::enqueue([fn = std::move(fn)] {
      models::use_only_this_thread();
      fn();
    });
  }
};

using json = nlohmann::json;

void send_json(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(body.dump(), "application/json");
}

void send_error(httplib::Response& res, int status, const std::string& message) {
  send_json(res, status, {{"error", message}});
}

// Compares in time independent of where the strings differ (API keys).
bool constant_time_equal(const std::string& a, const std::string& b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < a.size(); ++i) diff |= a[i] ^ (i < b.size() ? b[i] : 0);
  return diff == 0;
}

const char* role_name(Role r) {
  switch (r) {
    case Role::kRead:
      return "read";
    case Role::kWrite:
      return "write";
    case Role::kAdmin:
      return "admin";
  }
  return "?";
}

// A string id from a string or integer JSON value; Error(kInvalidInput) naming the field.
std::string id_of(const json& j, const char* what, size_t index, const char* name) {
  SR_INPUT_CHECK(j.contains(name), "{} {}: field '{}' is missing", what, index, name);
  const auto& v = j.at(name);
  if (v.is_number_integer()) return std::to_string(v.get<int64_t>());
  SR_INPUT_CHECK(v.is_string(), "{} {}: field '{}' must be a string", what, index, name);
  return v.get<std::string>();
}

// One event from its JSON object; Error(kInvalidInput) naming the field.
store::LoggedEvent parse_event(const json& j, size_t index) {
  SR_INPUT_CHECK(j.is_object(), "event {}: expected a JSON object", index);
  store::LoggedEvent e;
  e.user = id_of(j, "event", index, "user");
  e.item = id_of(j, "event", index, "item");
  if (j.contains("value")) {
    SR_INPUT_CHECK(j["value"].is_number(), "event {}: field 'value' must be a number", index);
    e.value = j["value"].get<float>();
  }
  if (j.contains("type")) {
    SR_INPUT_CHECK(j["type"].is_string(), "event {}: field 'type' must be a string", index);
    const auto t = data::parse_event_type(j["type"].get<std::string>());
    SR_INPUT_CHECK(t.has_value(), "event {}: field 'type' has unknown value '{}'", index,
                   j["type"].get<std::string>());
    e.type = *t;
  }
  if (j.contains("timestamp")) {
    SR_INPUT_CHECK(j["timestamp"].is_number_integer(),
                   "event {}: field 'timestamp' must be an integer (Unix seconds)", index);
    e.timestamp = j["timestamp"].get<int64_t>();
  } else {
    e.timestamp = unix_seconds();
  }
  if (j.contains("context")) {
    SR_INPUT_CHECK(j["context"].is_object(), "event {}: field 'context' must be an object", index);
    for (const auto& [k, v] : j["context"].items()) {
      SR_INPUT_CHECK(v.is_string() || v.is_number(),
                     "event {}: context '{}' must be a string or a number", index, k);
      if (!e.context.empty()) e.context += ';';
      e.context += k + "=" + (v.is_string() ? v.get<std::string>() : v.dump());
    }
  }
  return e;
}

std::vector<std::string> string_list(const json& j, const char* name, size_t index) {
  std::vector<std::string> out;
  if (!j.contains(name)) return out;
  SR_INPUT_CHECK(j[name].is_array(), "item {}: field '{}' must be an array of strings", index,
                 name);
  for (const auto& v : j[name]) {
    SR_INPUT_CHECK(v.is_string(), "item {}: field '{}' must be an array of strings", index, name);
    out.push_back(v.get<std::string>());
  }
  return out;
}

// Attributes object: numbers to `numeric`, strings and booleans to `fields`.
void parse_attributes(const json& j, const char* what, size_t index,
                      std::map<std::string, double>& numeric,
                      std::map<std::string, std::string>& fields) {
  if (!j.contains("attributes")) return;
  SR_INPUT_CHECK(j["attributes"].is_object(), "{} {}: field 'attributes' must be an object", what,
                 index);
  for (const auto& [k, v] : j["attributes"].items()) {
    if (v.is_number())
      numeric[k] = v.get<double>();
    else if (v.is_string())
      fields[k] = v.get<std::string>();
    else if (v.is_boolean())
      fields[k] = v.get<bool>() ? "true" : "false";
    else
      SR_INPUT_CHECK(false, "{} {}: attribute '{}' must be a string, number or boolean", what,
                     index, k);
  }
}

store::ItemRecord parse_item(const json& j, size_t index) {
  SR_INPUT_CHECK(j.is_object(), "item {}: expected a JSON object", index);
  store::ItemRecord r;
  r.id = id_of(j, "item", index, "id");
  if (j.contains("title")) {
    SR_INPUT_CHECK(j["title"].is_string(), "item {}: field 'title' must be a string", index);
    r.attrs.title = j["title"].get<std::string>();
  }
  r.attrs.categories = string_list(j, "categories", index);
  r.attrs.tags = string_list(j, "tags", index);
  if (j.contains("image")) {
    SR_INPUT_CHECK(j["image"].is_string() && j["image"].get<std::string>().size() <= 4096,
                   "item {}: field 'image' must be a file path (a string of at most 4096 "
                   "characters)",
                   index);
    r.attrs.image = j["image"].get<std::string>();
  }
  parse_attributes(j, "item", index, r.attrs.numeric, r.fields);
  if (j.contains("hidden")) {
    SR_INPUT_CHECK(j["hidden"].is_boolean(), "item {}: field 'hidden' must be true or false",
                   index);
    r.hidden = j["hidden"].get<bool>();
  }
  if (j.contains("expires_at")) {
    SR_INPUT_CHECK(j["expires_at"].is_number_integer(),
                   "item {}: field 'expires_at' must be an integer (Unix seconds)", index);
    r.expires_at = j["expires_at"].get<int64_t>();
  }
  return r;
}

store::UserRecord parse_user(const json& j, size_t index) {
  SR_INPUT_CHECK(j.is_object(), "user {}: expected a JSON object", index);
  store::UserRecord r;
  r.id = id_of(j, "user", index, "id");
  parse_attributes(j, "user", index, r.attrs.numeric, r.attrs.fields);
  return r;
}

// A body that is one object, an array, or {"<field>": [...]}, parsed element by element.
template <typename T, typename Parse>
std::vector<T> parse_list(const std::string& body, const char* field, Parse parse) {
  const json j = json::parse(body);
  const json* list = &j;
  if (j.is_object() && j.contains(field)) list = &j[field];
  std::vector<T> out;
  if (list->is_array()) {
    for (size_t x = 0; x < list->size(); ++x) out.push_back(parse((*list)[x], x));
  } else {
    out.push_back(parse(*list, 0));
  }
  return out;
}

json attributes_json(const std::map<std::string, double>& numeric,
                     const std::map<std::string, std::string>& fields) {
  json a = json::object();
  for (const auto& [k, v] : numeric) a[k] = v;
  for (const auto& [k, v] : fields) a[k] = v;
  return a;
}

json recommendations_json(const std::vector<serve::Recommendation>& recs, bool explain = false) {
  json items = json::array();
  for (const auto& r : recs) {
    json j = {{"item", r.item}, {"score", r.score}, {"source", r.source}};
    if (explain) {
      j["because"] = r.because;
      json parts = json::object();
      for (const auto& [name, value] : r.parts) parts[name] = value;
      j["parts"] = std::move(parts);
    }
    items.push_back(std::move(j));
  }
  return items;
}

size_t parse_count(const httplib::Request& req, const char* name, size_t fallback) {
  if (!req.has_param(name)) return fallback;
  const auto v = req.get_param_value(name);
  size_t n = 0;
  const auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  SR_INPUT_CHECK(ec == std::errc() && ptr == v.data() + v.size(),
                 "parameter '{}' must be a non-negative integer, got '{}'", name, v);
  return n;
}

bool parse_bool(const httplib::Request& req, const char* name, bool fallback) {
  if (!req.has_param(name)) return fallback;
  const auto v = req.get_param_value(name);
  SR_INPUT_CHECK(v == "true" || v == "false" || v == "1" || v == "0",
                 "parameter '{}' must be true or false, got '{}'", name, v);
  return v == "true" || v == "1";
}

double parse_number(const httplib::Request& req, const char* name, double fallback) {
  if (!req.has_param(name)) return fallback;
  const auto v = req.get_param_value(name);
  const auto d = text::parse_double(v);
  SR_INPUT_CHECK(d.has_value(), "parameter '{}' must be a number, got {}", name, text::quote(v));
  return *d;
}

// Every value of query parameter `name`, taken from the raw target: everything after the
// parameter's first '=' (httplib's own parser keeps only the text after the last '=', which
// loses "filter=brand=acme" and "context=device=tv").
std::vector<std::string> raw_params(const httplib::Request& req, std::string_view name) {
  std::vector<std::string> out;
  const auto q = req.target.find('?');
  if (q == std::string::npos) return out;
  for (const std::string_view pair : text::split(std::string_view(req.target).substr(q + 1), "&")) {
    const auto eq = pair.find('=');
    if (eq == std::string_view::npos) continue;
    if (httplib::detail::decode_url(std::string(pair.substr(0, eq)), true) == name)
      out.push_back(httplib::detail::decode_url(std::string(pair.substr(eq + 1)), true));
  }
  return out;
}

std::vector<std::string> comma_list(const httplib::Request& req, std::string_view name) {
  std::vector<std::string> out;
  for (const auto& value : raw_params(req, name))
    for (const std::string_view v : text::split(value, ","))
      if (!text::trim(v).empty()) out.emplace_back(text::trim(v));
  return out;
}

// category=a,b  exclude_category=c  filter=price<20 (repeatable, or several joined by ';').
serve::ItemFilter parse_filter(const httplib::Request& req) {
  serve::ItemFilter f;
  f.categories = comma_list(req, "category");
  f.exclude_categories = comma_list(req, "exclude_category");
  for (const auto& value : raw_params(req, "filter"))
    for (const std::string_view p : text::split(value, ";"))
      if (!text::trim(p).empty()) f.predicates.push_back(serve::parse_predicate(p));
  return f;
}

}  // namespace

std::vector<ApiKey> parse_api_keys(const std::string& spec) {
  std::vector<ApiKey> keys;
  for (const std::string_view view : text::split(spec, ",")) {
    const std::string entry(view);
    if (entry.empty()) continue;
    const auto colon = entry.rfind(':');
    SR_INPUT_CHECK(colon != std::string::npos && colon > 0, "API key entry '{}' is not key:role",
                   entry.substr(0, 4) + "...");
    const auto role = entry.substr(colon + 1);
    ApiKey k{entry.substr(0, colon), Role::kRead};
    if (role == "read")
      k.role = Role::kRead;
    else if (role == "write")
      k.role = Role::kWrite;
    else if (role == "admin")
      k.role = Role::kAdmin;
    else
      SR_INPUT_CHECK(false, "API key role '{}' is not read, write or admin", role);
    SR_INPUT_CHECK(k.key.size() >= 8, "API keys must be at least 8 characters");
    keys.push_back(std::move(k));
  }
  return keys;
}

struct HttpServer::Impl {
  serve::Service& service;
  ServerOptions options;
  httplib::Server server;
  std::atomic<uint64_t> requests{0}, errors{0};

  // Token buckets per caller (API key, or address without keys): `rate_limit` tokens per
  // second, bursts up to one second's worth.
  struct Bucket {
    double tokens = 0;
    std::chrono::steady_clock::time_point last;
  };
  std::mutex buckets_mutex;
  std::unordered_map<std::string, Bucket> buckets;

  bool admit(const std::string& caller) {
    if (options.rate_limit <= 0) return true;
    const auto now = std::chrono::steady_clock::now();
    std::lock_guard lock(buckets_mutex);
    auto [it, fresh] = buckets.try_emplace(caller, Bucket{options.rate_limit, now});
    auto& b = it->second;
    if (!fresh) {
      b.tokens = std::min(
          options.rate_limit,
          b.tokens + options.rate_limit * std::chrono::duration<double>(now - b.last).count());
      b.last = now;
    }
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  Impl(serve::Service& s, ServerOptions o) : service(s), options(std::move(o)) {}

  // The API key of a request (X-API-Key or Authorization: Bearer), or "".
  static std::string key_of(const httplib::Request& req) {
    std::string given = req.get_header_value("X-API-Key");
    const auto auth = req.get_header_value("Authorization");
    if (given.empty() && auth.rfind("Bearer ", 0) == 0) given = auth.substr(7);
    return given;
  }

  // The role of the request's key, or nullopt (401). Without configured keys, admin.
  std::optional<Role> role_of(const httplib::Request& req) const {
    if (options.keys.empty()) return Role::kAdmin;
    const std::string given = key_of(req);
    if (given.empty()) return std::nullopt;
    std::optional<Role> found;
    for (const auto& k : options.keys)  // every key compared: no early exit
      if (constant_time_equal(given, k.key)) found = k.role;
    return found;
  }

  // Wraps a route: authentication, role check, errors as JSON.
  httplib::Server::Handler route(
      Role needed, std::function<void(const httplib::Request&, httplib::Response&)> fn) {
    return [this, needed, fn = std::move(fn)](const httplib::Request& req, httplib::Response& res) {
      ++requests;
      const auto role = role_of(req);
      if (!role) {
        ++errors;
        return send_error(res, 401,
                          "missing or unknown API key (X-API-Key or Authorization: Bearer)");
      }
      const std::string key = key_of(req);
      if (!admit(key.empty() ? "address " + req.remote_addr : "key " + key)) {
        ++errors;
        res.set_header("Retry-After", "1");
        return send_error(res, 429,
                          fmt::format("rate limit of {:g} requests/s exceeded; retry in a second",
                                      options.rate_limit));
      }
      if (static_cast<int>(*role) < static_cast<int>(needed)) {
        ++errors;
        return send_error(res, 403,
                          fmt::format("this key has role '{}'; the route needs '{}'",
                                      role_name(*role), role_name(needed)));
      }
      const auto t0 = std::chrono::steady_clock::now();
      // Recommendation latency feeds the live percentiles (whatever the outcome).
      struct Timer {
        const httplib::Request& req;
        serve::Service& service;
        std::chrono::steady_clock::time_point t0;
        ~Timer() {
          if (req.path == "/v1/recommend")
            service.record_request(
                std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                    .count());
        }
      } timer{req, service, t0};
      try {
        fn(req, res);
      } catch (const json::exception& e) {
        ++errors;
        send_error(res, 400, std::string("malformed JSON: ") + e.what());
      } catch (const Error& e) {
        ++errors;
        send_error(res,
                   e.kind() == ErrorKind::kInvalidInput  ? 400
                   : e.kind() == ErrorKind::kUnsupported ? 409
                                                         : 500,
                   e.what());
      } catch (const std::exception& e) {
        ++errors;
        log::error("api: {} {}: {}", req.method, req.path, e.what());
        send_error(res, 500, e.what());
      }
    };
  }

  void install_routes() {
    server.set_payload_max_length(options.max_body);
    server.set_tcp_nodelay(true);  // no 40 ms Nagle + delayed-ACK stall on small responses
    const size_t threads = std::max<size_t>(1, options.threads);
    server.new_task_queue = [threads] { return new RequestThreadPool(threads); };
    server.set_keep_alive_max_count(1000);  // fewer reconnects (each waits for a free thread)
    if (!options.dashboard_dir.empty()) {
      const std::string uplot = options.dashboard_dir + "/node_modules/uplot/dist";
      if (!server.set_mount_point("/assets/uplot", uplot))
        log::warn("dashboard: '{}' is missing (run npm ci in the dashboard directory)", uplot);
      if (!server.set_mount_point("/", options.dashboard_dir))
        log::warn("dashboard: directory '{}' is missing; serving the API only",
                  options.dashboard_dir);
    }
    server.set_error_handler(httplib::Server::HandlerWithResponse([](const httplib::Request&,
                                                                     httplib::Response& res) {
      if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
      const char* what = res.status == 404   ? "no such route"
                         : res.status == 413 ? "request body too large"
                         : res.status == 400
                             ? "malformed HTTP request (a POST needs a body or Content-Length: 0, "
                               "e.g. curl -d '')"
                             : "request failed";
      send_error(res, res.status, what);
      return httplib::Server::HandlerResponse::Handled;
    }));

    server.Post("/v1/events", route(Role::kWrite, [this](const auto& req, auto& res) {
                  const auto events =
                      parse_list<store::LoggedEvent>(req.body, "events", parse_event);
                  const size_t n = service.ingest(events);
                  send_json(res, 200, {{"accepted", n}});
                }));

    server.Get("/v1/recommend", route(Role::kRead, [this](const auto& req, auto& res) {
                 serve::RecommendRequest r;
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
                 r.explore = parse_number(req, "explore", 0);
                 for (const auto& c : raw_params(req, "context")) {
                   auto pairs = serve::parse_context(c, ",;");
                   r.context.insert(r.context.end(), pairs.begin(), pairs.end());
                 }
                 send_json(res, 200,
                           {{"user", r.user},
                            {"items", recommendations_json(service.recommend(r), r.explain)}});
               }));

    server.Get(R"(/v1/items/([^/]+)/similar)",
               route(Role::kRead, [this](const auto& req, auto& res) {
                 const size_t n = parse_count(req, "n", 10);
                 send_json(res, 200,
                           {{"item", req.matches[1]},
                            {"items", recommendations_json(service.similar(req.matches[1], n))}});
               }));

    server.Get("/v1/popular", route(Role::kRead, [this](const auto& req, auto& res) {
                 const auto items = service.popular(parse_count(req, "n", 10), parse_filter(req));
                 send_json(res, 200, {{"items", recommendations_json(items)}});
               }));

    server.Get("/v1/trending", route(Role::kRead, [this](const auto& req, auto& res) {
                 const auto items = service.trending(parse_count(req, "n", 10), parse_filter(req));
                 send_json(res, 200, {{"items", recommendations_json(items)}});
               }));

    server.Post("/v1/items", route(Role::kWrite, [this](const auto& req, auto& res) {
                  const auto items = parse_list<store::ItemRecord>(req.body, "items", parse_item);
                  service.upsert_items(items);
                  send_json(res, 200, {{"accepted", items.size()}});
                }));

    server.Get(R"(/v1/items/([^/]+))", route(Role::kRead, [this](const auto& req, auto& res) {
                 const auto info = service.item(req.matches[1]);
                 if (!info)
                   return send_error(res, 404,
                                     fmt::format("unknown item '{}'", std::string(req.matches[1])));
                 json j = {{"id", req.matches[1]},
                           {"events", info->events},
                           {"popularity", info->popularity},
                           {"trending", info->trending},
                           {"first_seen", info->first_seen},
                           {"recommendable", info->recommendable},
                           {"in_catalog", info->record.has_value()}};
                 if (const auto& r = info->record) {
                   j["title"] = r->attrs.title;
                   j["categories"] = r->attrs.categories;
                   j["tags"] = r->attrs.tags;
                   if (!r->attrs.image.empty()) j["image"] = r->attrs.image;
                   j["attributes"] = attributes_json(r->attrs.numeric, r->fields);
                   j["hidden"] = r->hidden;
                   j["expires_at"] = r->expires_at;
                   j["created_at"] = r->created_at;
                 }
                 send_json(res, 200, j);
               }));

    server.Get(
        R"(/v1/items/([^/]+)/activity)", route(Role::kRead, [this](const auto& req, auto& res) {
          const auto a = service.item_activity(req.matches[1], parse_count(req, "buckets", 30));
          send_json(res, 200,
                    {{"item", req.matches[1]},
                     {"start", a.start},
                     {"bucket_seconds", a.bucket_seconds},
                     {"counts", a.counts}});
        }));

    server.Post("/v1/users", route(Role::kWrite, [this](const auto& req, auto& res) {
                  const auto users = parse_list<store::UserRecord>(req.body, "users", parse_user);
                  service.upsert_users(users);
                  send_json(res, 200, {{"accepted", users.size()}});
                }));

    server.Get(R"(/v1/users/([^/]+))", route(Role::kRead, [this](const auto& req, auto& res) {
                 const std::string id = req.matches[1];
                 const auto record = service.user(id);
                 const auto events = service.history(id);
                 if (!record && events.empty())
                   return send_error(res, 404, fmt::format("unknown user '{}'", id));
                 json j = {{"id", id}, {"events", events.size()}};
                 j["attributes"] =
                     record ? attributes_json(record->attrs.numeric, record->attrs.fields)
                            : json::object();
                 send_json(res, 200, j);
               }));

    server.Get(R"(/v1/users/([^/]+)/history)",
               route(Role::kRead, [this](const auto& req, auto& res) {
                 json events = json::array();
                 for (const auto& e : service.history(req.matches[1]))
                   events.push_back({{"item", e.item},
                                     {"value", e.value},
                                     {"type", data::to_string(e.type)},
                                     {"timestamp", e.timestamp}});
                 send_json(res, 200, {{"user", req.matches[1]}, {"events", events}});
               }));

    server.Delete(R"(/v1/users/([^/]+))", route(Role::kAdmin, [this](const auto& req, auto& res) {
                    const uint64_t n = service.erase_user(req.matches[1]);
                    send_json(res, 200, {{"user", req.matches[1]}, {"events_deleted", n}});
                  }));

    server.Get("/v1/health", [this](const auto&, auto& res) {
      const auto s = service.stats();
      send_json(res, 200, {{"status", "ok"}, {"model", s.model}, {"events", s.events_ingested}});
    });

    server.Get("/v1/stats", route(Role::kRead, [this](const auto&, auto& res) {
                 const auto s = service.stats();
                 send_json(res, 200,
                           {{"model", s.model},
                            {"events_ingested", s.events_ingested},
                            {"events_learned", s.events_learned},
                            {"events_logged", s.events_logged},
                            {"model_version", s.model_version},
                            {"rollbacks", s.rollbacks},
                            {"publishes_delta", s.publishes_delta},
                            {"publishes_full", s.publishes_full},
                            {"last_publish_ms", s.last_publish_ms},
                            {"learn_steps", s.learn_steps},
                            {"queue", s.queue},
                            {"queue_in_log", s.queue_in_log},
                            {"events_via_log", s.events_via_log},
                            {"users", s.users},
                            {"items", s.items},
                            {"freshness_p50_ms", s.freshness_p50_ms},
                            {"freshness_p99_ms", s.freshness_p99_ms},
                            {"live_hr10", s.live_hr10},
                            {"live_ndcg10", s.live_ndcg10},
                            {"live_scored", s.live_scored},
                            {"ranked_hr10", s.ranked_hr10},
                            {"ranked_ndcg10", s.ranked_ndcg10},
                            {"ranker_steps", s.ranker_steps},
                            {"ranker_in_use", s.ranker_in_use},
                            {"online_loss", s.online_loss},
                            {"model_rows", s.model_rows},
                            {"model_bytes", s.model_bytes},
                            {"ann_items", s.ann_items},
                            {"ann_updates", s.ann_updates},
                            {"query_jobs", s.query_jobs},
                            {"query_batches", s.query_batches},
                            {"latency_p50_ms", s.latency_p50_ms},
                            {"latency_p99_ms", s.latency_p99_ms},
                            {"requests", requests.load()},
                            {"request_errors", errors.load()}});
               }));

    server.Get("/v1/model", route(Role::kRead, [this](const auto&, auto& res) {
                 const auto r = service.retrain_status();
                 send_json(res, 200,
                           {{"model", service.model_spec()},
                            {"version", service.model_version()},
                            {"retrain",
                             {{"running", r.running},
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
                              {"error", r.error}}}});
               }));

    server.Get("/v1/model/versions", route(Role::kRead, [this](const auto&, auto& res) {
                 json list = json::array();
                 for (const auto& v : service.versions())
                   list.push_back({{"version", v.version},
                                   {"created_ms", v.created_ms},
                                   {"reason", v.reason},
                                   {"events_learned", v.events_learned},
                                   {"live_hr10", v.live_hr10},
                                   {"restorable", v.restorable}});
                 send_json(res, 200, {{"live", service.model_version()}, {"versions", list}});
               }));

    server.Post(
        "/v1/model/rollback", route(Role::kAdmin, [this](const auto& req, auto& res) {
          SR_INPUT_CHECK(req.has_param("version"), "parameter 'version' is missing");
          const auto version = parse_count(req, "version", 0);
          try {
            send_json(res, 200, {{"version", service.rollback_to(version)}, {"from", version}});
          } catch (const Error& e) {
            if (e.kind() != ErrorKind::kUnsupported) throw;
            send_error(res, 409, e.what());
          }
        }));

    server.Post("/v1/model/retrain", route(Role::kAdmin, [this](const auto&, auto& res) {
                  if (service.start_retrain())
                    send_json(res, 202, {{"started", true}, {"version", service.model_version()}});
                  else
                    send_error(res, 409, "a retrain is already running");
                }));

    // Per-second history, as columns (the dashboard's charts take arrays).
    server.Get("/v1/stats/history", route(Role::kRead, [this](const auto&, auto& res) {
                 json cols = json::object();
                 const auto points = service.history_points();
                 auto col = [&](const char* name, auto get) {
                   json a = json::array();
                   for (const auto& p : points) a.push_back(get(p));
                   cols[name] = std::move(a);
                 };
                 col("time", [](const auto& p) { return p.time_ms / 1000.0; });
                 col("ingested_per_s", [](const auto& p) { return p.ingested_per_s; });
                 col("learned_per_s", [](const auto& p) { return p.learned_per_s; });
                 col("requests_per_s", [](const auto& p) { return p.requests_per_s; });
                 col("freshness_p50_ms", [](const auto& p) { return p.freshness_p50_ms; });
                 col("freshness_p99_ms", [](const auto& p) { return p.freshness_p99_ms; });
                 col("latency_p50_ms", [](const auto& p) { return p.latency_p50_ms; });
                 col("latency_p99_ms", [](const auto& p) { return p.latency_p99_ms; });
                 col("live_hr10", [](const auto& p) { return p.live_hr10; });
                 col("live_ndcg10", [](const auto& p) { return p.live_ndcg10; });
                 col("online_loss", [](const auto& p) { return p.online_loss; });
                 col("ranked_hr10", [](const auto& p) { return p.ranked_hr10; });
                 col("model_rows", [](const auto& p) { return p.model_rows; });
                 col("model_mb", [](const auto& p) { return p.model_bytes / 1e6; });
                 col("users", [](const auto& p) { return p.users; });
                 col("items", [](const auto& p) { return p.items; });
                 col("queue", [](const auto& p) { return p.queue; });
                 send_json(res, 200, cols);
               }));

    server.Get(
        "/metrics", route(Role::kRead, [this](const auto&, auto& res) {
          const auto s = service.stats();
          std::string out;
          auto metric = [&](const char* name, const char* type, const char* help, double v) {
            const std::string value = std::isnan(v) ? "NaN" : fmt::format("{}", v);
            out += fmt::format("# HELP {} {}\n# TYPE {} {}\n{} {}\n", name, help, name, type, name,
                               value);
          };
          metric("streamrec_events_ingested_total", "counter", "events accepted",
                 s.events_ingested);
          metric("streamrec_events_learned_total", "counter", "events learned", s.events_learned);
          metric("streamrec_learn_steps_total", "counter", "micro-batch steps", s.learn_steps);
          metric("streamrec_learn_queue", "gauge", "events waiting to be learned", s.queue);
          metric("streamrec_users", "gauge", "known users", s.users);
          metric("streamrec_items", "gauge", "known items", s.items);
          metric("streamrec_freshness_p99_ms", "gauge", "ingest to learned, p99 of the last 1000",
                 s.freshness_p99_ms);
          metric("streamrec_live_hr10", "gauge", "prequential HR@10 over the last 1000 events",
                 s.live_hr10);
          metric("streamrec_online_loss", "gauge",
                 "moving average of the online training loss (NaN: none)", s.online_loss);
          metric("streamrec_ann_items", "gauge", "items in the ANN index", s.ann_items);
          metric("streamrec_model_rows", "gauge", "embedding rows of the learning model",
                 s.model_rows);
          metric("streamrec_model_bytes", "gauge", "parameter + optimizer bytes of the model",
                 s.model_bytes);
          metric("streamrec_recommend_latency_p99_ms", "gauge", "p99 of the last 1000 requests",
                 s.latency_p99_ms);
          metric("streamrec_guard_rollbacks_total", "counter", "models rolled back by the guard",
                 s.rollbacks);
          metric("streamrec_publishes_delta_total", "counter",
                 "serving-copy publishes by delta (the standby copy updated)", s.publishes_delta);
          metric("streamrec_publishes_full_total", "counter",
                 "serving-copy publishes by a full save and load", s.publishes_full);
          metric("streamrec_last_publish_ms", "gauge", "duration of the last publish",
                 s.last_publish_ms);
          metric("streamrec_http_requests_total", "counter", "API requests", requests.load());
          metric("streamrec_http_errors_total", "counter", "API requests answered 4xx/5xx",
                 errors.load());
          // Recommendation latency as a Prometheus histogram (seconds, cumulative buckets).
          const auto h = service.latency_histogram();
          out +=
              "# HELP streamrec_recommend_latency_seconds recommendation request latency\n"
              "# TYPE streamrec_recommend_latency_seconds histogram\n";
          uint64_t cumulative = 0;
          for (size_t b = 0; b < h.counts.size(); ++b) {
            cumulative += h.counts[b];
            const std::string le =
                b < serve::Service::kLatencyBuckets.size()
                    ? fmt::format("{}", serve::Service::kLatencyBuckets[b] / 1000)
                    : "+Inf";
            out += fmt::format("streamrec_recommend_latency_seconds_bucket{{le=\"{}\"}} {}\n", le,
                               cumulative);
          }
          out += fmt::format("streamrec_recommend_latency_seconds_sum {}\n", h.sum_ms / 1000);
          out += fmt::format("streamrec_recommend_latency_seconds_count {}\n", cumulative);
          res.set_content(out, "text/plain; version=0.0.4");
        }));
  }
};

HttpServer::HttpServer(serve::Service& service, ServerOptions options)
    : impl_(std::make_unique<Impl>(service, std::move(options))) {
  impl_->install_routes();
}

HttpServer::~HttpServer() = default;

int HttpServer::bind() {
  auto& o = impl_->options;
  if (o.port == 0) {
    o.port = impl_->server.bind_to_any_port(o.host);
    SR_CHECK(o.port > 0, ErrorKind::kIo, "cannot bind to {}: no free port", o.host);
  } else {
    SR_CHECK(impl_->server.bind_to_port(o.host, o.port), ErrorKind::kIo,
             "cannot bind to {}:{} (in use?)", o.host, o.port);
  }
  return o.port;
}

void HttpServer::run() { impl_->server.listen_after_bind(); }

void HttpServer::stop() { impl_->server.stop(); }

}  // namespace streamrec::api
