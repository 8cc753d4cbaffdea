// The HTTP JSON API (module api) over engine::Engine, with cpp-httplib. Routes, bodies and
// errors are documented in docs/openapi.yaml. Every error is a JSON body
// {"error": "..."} with a 4xx status naming the problem; the server keeps serving.
#pragma once

#include <memory>
#include <string>
#include <vector>

namespace streamrec::engine {
class Engine;
}

namespace streamrec::api {

// read: recommendations and queries; write: also ingest; admin: also deletion.
enum class Role { kRead = 0, kWrite = 1, kAdmin = 2 };

struct ApiKey {
  std::string key;
  Role role = Role::kRead;
};

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;            // 0 = any free port
  std::vector<ApiKey> keys;   // empty: no authentication (local use)
  size_t max_body = 4 << 20;  // bytes; larger requests get 413
  double rate_limit = 0;      // requests/s per API key (or client address); 0 = none; 429
  // Static dashboard files served at / (index.html, app.js; uPlot from its npm package under
  // node_modules). Empty or missing: no dashboard.
  std::string dashboard_dir;
  // Request threads. httplib keeps each keep-alive connection on one thread while it waits
  // for the next request, so more open connections than threads queue behind idle ones.
  size_t threads = 64;
  // Slow and greedy clients (api/connection_guard.h): a connection that has not sent a
  // request's headers this long after it opened or after its last response is closed, and
  // one client address may hold at most this many connections (0: threads / 2).
  int header_timeout_ms = 10000;
  size_t max_connections_per_client = 0;
  // Without API keys, browsers on other sites must not reach the API: a request's Host
  // must be one of these (DNS rebinding), and an Origin header must name one of
  // cors_origins or the Host itself (CSRF). Empty: the loopback names when bound to
  // loopback, else the bound address; "*" allows any. With keys the key decides.
  std::vector<std::string> allowed_hosts;
  // Origins that get CORS headers (Access-Control-Allow-Origin) and may call the API.
  std::vector<std::string> cors_origins;
};

// Parses "key:role,key:role" (role read|write|admin); Error(kInvalidInput) on a bad entry.
std::vector<ApiKey> parse_api_keys(const std::string& spec);

class HttpServer {
 public:
  HttpServer(engine::Engine& service, ServerOptions options);
  ~HttpServer();
  // Binds the socket; returns the port (useful with port 0). Error(kIo) if it cannot.
  int bind();
  // Serves until stop() (from another thread or a signal handler's thread).
  void run();
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace streamrec::api
