// The server's setup and its one request wrapper: authentication by API key and role,
// the rate limit, and the mapping of errors to JSON responses. The routes are in
// routes_*.cpp, one file per family.
#include "streamrec/api/http_server.h"

#include <httplib.h>

#include <algorithm>
#include <mutex>
#include <optional>
#include <unordered_map>

#include "streamrec/api/connection_guard.h"
#include "streamrec/api/http_util.h"
#include "streamrec/core/error.h"
#include "streamrec/core/log.h"
#include "streamrec/core/text.h"
#include "streamrec/engine/engine.h"

namespace streamrec::api {
namespace {

// httplib's pool whose threads run libtorch's operators on themselves alone (see
// engine::Engine::prepare_request_thread), set as each task (a connection) starts.
class RequestThreadPool : public httplib::ThreadPool {
 public:
  using httplib::ThreadPool::ThreadPool;
  void enqueue(std::function<void()> fn) override {
    httplib::ThreadPool::enqueue([fn = std::move(fn)] {
      engine::Engine::prepare_request_thread();
      fn();
    });
  }
};

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
  engine::Engine& engine;
  ServerOptions options;
  httplib::Server server;

  // Token buckets per caller (API key, or address without keys): `rate_limit` tokens per
  // second, bursts up to one second's worth. Full buckets are dropped when there are many
  // (a dropped bucket comes back full: nothing is lost), so callers cannot grow the map.
  struct Bucket {
    double tokens = 0;
    std::chrono::steady_clock::time_point last;
  };
  static constexpr size_t kMaxBuckets = 10000;
  std::mutex buckets_mutex;
  std::unordered_map<std::string, Bucket> buckets;
  std::unique_ptr<RouteTable> routes;
  std::unique_ptr<ConnectionGuard> guard;  // from bind() on
  std::vector<std::string> hosts;          // allowed Host values (empty: any)

  bool admit(const std::string& caller) {
    if (options.rate_limit <= 0) return true;
    const auto now = std::chrono::steady_clock::now();
    std::lock_guard lock(buckets_mutex);
    if (buckets.size() >= kMaxBuckets)
      std::erase_if(buckets, [&](const auto& b) {
        return now - b.second.last >= std::chrono::seconds(1);  // refilled by now
      });
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

  Impl(engine::Engine& e, ServerOptions o) : engine(e), options(std::move(o)) {
    const auto& h = options.host;
    if (!options.allowed_hosts.empty())
      hosts = options.allowed_hosts;
    else if (h == "127.0.0.1" || h == "localhost" || h == "::1")
      hosts = {"localhost", "127.0.0.1", "[::1]"};
    else if (h != "0.0.0.0" && h != "::")
      hosts = {h.find(':') != std::string::npos ? "[" + h + "]" : h};
    if (std::find(hosts.begin(), hosts.end(), "*") != hosts.end()) hosts.clear();
  }

  // A Host header's name, without its port ("[::1]:8080" -> "[::1]").
  static std::string host_name(const std::string& host) {
    const auto colon = host.rfind(':');
    if (colon == std::string::npos || host.find(']', colon) != std::string::npos) return host;
    return host.substr(0, colon);
  }

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
      engine.count_http_request();
      const auto role = role_of(req);
      if (!role) {  // (unknown keys are rate-limited by address: no unlimited guessing)
        engine.count_http_error();
        if (!admit("address " + req.remote_addr)) {
          res.set_header("Retry-After", "1");
          return send_error(res, 429, "too many requests without a valid API key");
        }
        return send_error(res, 401, kNoKey);
      }
      const std::string key = key_of(req);
      if (!admit(options.keys.empty() ? "address " + req.remote_addr : "key " + key)) {
        engine.count_http_error();
        res.set_header("Retry-After", "1");
        return send_error(res, 429,
                          fmt::format("rate limit of {:g} requests/s exceeded; retry in a second",
                                      options.rate_limit));
      }
      if (static_cast<int>(*role) < static_cast<int>(needed)) {
        engine.count_http_error();
        return send_error(res, 403,
                          fmt::format("this key has role '{}'; the route needs '{}'",
                                      role_name(*role), role_name(needed)));
      }
      const auto t0 = std::chrono::steady_clock::now();
      // Recommendation latency feeds the live percentiles (whatever the outcome).
      struct Timer {
        const httplib::Request& req;
        engine::Engine& engine;
        std::chrono::steady_clock::time_point t0;
        ~Timer() {
          if (req.path == "/v1/recommend")
            engine.record_request(
                std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                    .count());
        }
      } timer{req, engine, t0};
      try {
        fn(req, res);
      } catch (const json::exception& e) {
        engine.count_http_error();
        send_error(res, 400, std::string("malformed JSON: ") + e.what());
      } catch (const Error& e) {
        engine.count_http_error();
        send_error(res,
                   e.kind() == ErrorKind::kInvalidInput  ? 400
                   : e.kind() == ErrorKind::kUnsupported ? 409
                   : e.kind() == ErrorKind::kNoSpace     ? 507
                                                         : 500,
                   e.what());
      } catch (const std::exception& e) {
        engine.count_http_error();
        log::error("api: {} {}: {}", req.method, req.path, e.what());
        send_error(res, 500, e.what());
      }
    };
  }

  static constexpr const char* kNoKey =
      "missing or unknown API key (X-API-Key or Authorization: Bearer)";

  // Before routing, from the headers alone (no body read yet): the path to route by, the
  // API key (401, also rate-limited per address), the Host and Origin (403), the content
  // type of a request that changes state (415), and whether the route takes a body at
  // all (404). A refused request's connection closes: its body is never read.
  httplib::Server::HandlerResponse pre_route(const httplib::Request& req, httplib::Response& res) {
    const_cast<httplib::Request&>(req).path = routing_path(req.target);  // httplib's object
    if (guard) guard->request_started(req.remote_addr, req.remote_port);
    const auto refuse = [&](int status, const std::string& why) {
      engine.count_http_request();
      engine.count_http_error();
      res.set_header("Connection", "close");
      send_error(res, status, why);
      return httplib::Server::HandlerResponse::Handled;
    };
    if (req.method == "OPTIONS") return preflight(req, res);
    if (const auto why = foreign_origin(req)) return refuse(403, *why);
    if (engine.is_replica() && req.method != "GET" && req.method != "HEAD") {
      // A replica takes no writes: the client repeats it at the leader (307 keeps the method
      // and body), before this server reads the body.
      engine.count_http_request();
      res.set_header("Connection", "close");
      res.set_header("Location", engine.leader() + req.target);
      send_json(res, 307,
                {{"error", "this server is a read replica; send writes to the leader"},
                 {"leader", engine.leader()}});
      return httplib::Server::HandlerResponse::Handled;
    }
    // A request that changes state is authenticated here, before its body is read (reads
    // are authenticated by their route: /v1/health and the dashboard's files are open).
    const bool changes = req.method != "GET" && req.method != "HEAD";
    if (changes && !role_of(req)) {
      if (!admit("address " + req.remote_addr)) {
        res.set_header("Retry-After", "1");
        return refuse(429, "too many requests without a valid API key; retry in a second");
      }
      return refuse(401, kNoKey);
    }
    if (changes && !routes->takes_body(req.method, req.path))
      return refuse(404, fmt::format("no route {} {}", req.method, req.path));
    const auto type = req.get_header_value("Content-Type");
    const bool json = type.rfind("application/json", 0) == 0;
    const bool has_body =
        req.has_header("Transfer-Encoding") ||
        (req.has_header("Content-Length") && req.get_header_value("Content-Length") != "0");
    if (changes && (has_body || !type.empty()) && !json)
      return refuse(415, "a request body must be JSON (Content-Type: application/json), got '" +
                             type.substr(0, 100) + "'");
    add_cors(req, res);
    return httplib::Server::HandlerResponse::Unhandled;
  }

  // Why a request from a browser on another site may not reach the API (nullopt: it may).
  std::optional<std::string> foreign_origin(const httplib::Request& req) const {
    if (!options.keys.empty()) return std::nullopt;  // the key decides
    const std::string host = req.get_header_value("Host");
    if (!hosts.empty() && std::find(hosts.begin(), hosts.end(), host_name(host)) == hosts.end())
      return "Host '" + host.substr(0, 100) +
             "' is not this server's (--allowed-hosts); a rebinding DNS name?";
    const std::string origin = req.get_header_value("Origin");
    if (origin.empty() || origin == "http://" + host || origin == "https://" + host ||
        cors_allowed(origin))
      return std::nullopt;
    return "Origin '" + origin.substr(0, 100) + "' may not call this API (--cors-origins)";
  }

  bool cors_allowed(const std::string& origin) const {
    const auto& o = options.cors_origins;
    return !origin.empty() && std::find(o.begin(), o.end(), origin) != o.end();
  }

  void add_cors(const httplib::Request& req, httplib::Response& res) const {
    const std::string origin = req.get_header_value("Origin");
    if (!cors_allowed(origin)) return;
    res.set_header("Access-Control-Allow-Origin", origin);
    res.set_header("Vary", "Origin");
  }

  // A CORS preflight: answered for configured origins only.
  httplib::Server::HandlerResponse preflight(const httplib::Request& req,
                                             httplib::Response& res) const {
    res.status = 204;
    if (cors_allowed(req.get_header_value("Origin"))) {
      add_cors(req, res);
      res.set_header("Access-Control-Allow-Methods", "GET, POST, DELETE");
      res.set_header("Access-Control-Allow-Headers", "Content-Type, X-API-Key, Authorization");
      res.set_header("Access-Control-Max-Age", "600");
    }
    return httplib::Server::HandlerResponse::Handled;
  }

  void install_routes() {
    server.set_payload_max_length(options.max_body);
    server.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
      return pre_route(req, res);
    });
    server.set_logger([this](const httplib::Request& req, const httplib::Response&) {
      if (guard) guard->request_done(req.remote_addr, req.remote_port);
    });
    server.set_tcp_nodelay(true);  // no 40 ms Nagle + delayed-ACK stall on small responses
    const size_t threads = std::max<size_t>(1, options.threads);
    server.new_task_queue = [threads] { return new RequestThreadPool(threads); };
    server.set_keep_alive_max_count(1000);  // fewer reconnects (each waits for a free thread)
    if (!options.dashboard_dir.empty()) mount_dashboard();
    server.set_error_handler(httplib::Server::HandlerWithResponse(error_response));
    routes = std::make_unique<RouteTable>(
        RouteTable{server,
                   engine,
                   [this](Role needed, Handler fn) { return route(needed, std::move(fn)); },
                   options.max_body,
                   {}});
    add_event_routes(*routes);
    add_recommend_routes(*routes);
    add_catalog_routes(*routes);
    add_model_routes(*routes);
    add_stats_routes(*routes);
    add_replication_routes(*routes);
  }

  void mount_dashboard() {
    const std::string uplot = options.dashboard_dir + "/node_modules/uplot/dist";
    if (!server.set_mount_point("/assets/uplot", uplot))
      log::warn("dashboard: '{}' is missing (run npm ci in the dashboard directory)", uplot);
    if (!server.set_mount_point("/", options.dashboard_dir))
      log::warn("dashboard: directory '{}' is missing; serving the API only",
                options.dashboard_dir);
  }

  // httplib's own errors (no route, body too large, bad request) as JSON.
  static httplib::Server::HandlerResponse error_response(const httplib::Request&,
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
  }
};

HttpServer::HttpServer(engine::Engine& engine, ServerOptions options)
    : impl_(std::make_unique<Impl>(engine, std::move(options))) {
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
  const size_t per_address = o.max_connections_per_client > 0 ? o.max_connections_per_client
                                                              : std::max<size_t>(1, o.threads / 2);
  impl_->guard = std::make_unique<ConnectionGuard>(
      o.port, std::chrono::milliseconds(o.header_timeout_ms), per_address);
  return o.port;
}

void HttpServer::run() { impl_->server.listen_after_bind(); }

void HttpServer::stop() { impl_->server.stop(); }

}  // namespace streamrec::api
