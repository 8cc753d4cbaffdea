#include "streamrec/api/http_util.h"

#include <charconv>

#include "streamrec/core/error.h"
#include "streamrec/core/text.h"

namespace streamrec::api {
namespace {

std::vector<std::string> comma_list(const httplib::Request& req, std::string_view name) {
  std::vector<std::string> out;
  for (const auto& value : raw_params(req, name))
    for (const std::string_view v : text::split(value, ","))
      if (!text::trim(v).empty()) out.emplace_back(text::trim(v));
  return out;
}

// Percent-decodes `s` ("%2F" -> "/"), as httplib decodes paths ('+' stays '+').
std::string percent_decode(std::string_view s) {
  return httplib::detail::decode_url(std::string(s), false);
}

}  // namespace

std::string routing_path(std::string_view target) {
  const auto path = target.substr(0, target.find('?'));
  std::string out;
  size_t start = 0;
  while (start <= path.size()) {
    const size_t end = std::min(path.find('/', start), path.size());
    for (char c : percent_decode(path.substr(start, end - start))) {
      if (c == '%')
        out += "%25";
      else if (c == '/')
        out += "%2F";
      else
        out.push_back(c);
    }
    if (end == path.size()) break;
    out.push_back('/');
    start = end + 1;
  }
  return out;
}

std::string path_param(const httplib::Request& req, size_t k) {
  return percent_decode(req.matches[k].str());
}

void RouteTable::post(const std::string& pattern, Role role, Handler fn) {
  body_routes.emplace_back("POST", std::regex(pattern));
  server.Post(pattern, [this, wrapped = route(role, std::move(fn))](
                           const httplib::Request& req, httplib::Response& res,
                           const httplib::ContentReader& reader) {
    std::string body;
    bool too_big = false;
    const bool read = reader([&](const char* data, size_t n) {
      if (body.size() + n > max_body) return !(too_big = true);
      body.append(data, n);
      return true;
    });
    too_big = too_big || res.status == 413;  // (httplib's own check of Content-Length)
    if (too_big || !read) {
      res.set_header("Connection", "close");
      return too_big ? send_error(res, 413,
                                  fmt::format("request body over {} bytes (--max-body)", max_body))
                     : send_error(res, 400, "the request body could not be read (cut short?)");
    }
    const_cast<httplib::Request&>(req).body = std::move(body);  // httplib's own object
    wrapped(req, res);
  });
}

void RouteTable::del(const std::string& pattern, Role role, Handler fn) {
  body_routes.emplace_back("DELETE", std::regex(pattern));
  server.Delete(pattern, [this, wrapped = route(role, std::move(fn))](
                             const httplib::Request& req, httplib::Response& res,
                             const httplib::ContentReader& reader) {
    bool any = false;  // a deletion takes no body: stop at its first byte
    reader([&](const char*, size_t n) { return !(any = any || n > 0); });
    if (any) {
      res.set_header("Connection", "close");
      return send_error(res, 413, "DELETE takes no request body");
    }
    wrapped(req, res);
  });
}

bool RouteTable::takes_body(const std::string& method, const std::string& path) const {
  for (const auto& [m, r] : body_routes)
    if (m == method && std::regex_match(path, r)) return true;
  return false;
}

void send_json(httplib::Response& res, int status, const json& body) {
  res.status = status;
  // Text that is not UTF-8 (an id or a message quoting the request) is sent with U+FFFD in
  // place of its bad bytes rather than failing the response.
  res.set_content(body.dump(-1, ' ', false, json::error_handler_t::replace), "application/json");
}

void send_error(httplib::Response& res, int status, const std::string& message) {
  send_json(res, status, {{"error", message}});
}

json attributes_json(const std::map<std::string, double>& numeric,
                     const std::map<std::string, std::string>& fields) {
  json a = json::object();
  for (const auto& [k, v] : numeric) a[k] = v;
  for (const auto& [k, v] : fields) a[k] = v;
  return a;
}

json recommendations_json(const std::vector<engine::Recommendation>& recs, bool explain) {
  json items = json::array();
  for (const auto& r : recs) {
    json j = {{"item", r.item}, {"score", r.score}, {"source", r.source}};
    if (explain) {
      j["because"] = r.because;
      json parts = json::object();
      for (const auto& [name, value] : r.parts) parts[name] = value;
      j["parts"] = std::move(parts);
      if (!r.attention.empty()) {
        json attention = json::array();
        for (const auto& [item, weight] : r.attention)
          attention.push_back({{"item", item}, {"weight", weight}});
        j["attention"] = std::move(attention);
      }
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

// category=a,b  exclude_category=c  filter=price<20 (repeatable, or several joined by ';').
engine::ItemFilter parse_filter(const httplib::Request& req) {
  engine::ItemFilter f;
  f.categories = comma_list(req, "category");
  f.exclude_categories = comma_list(req, "exclude_category");
  for (const auto& value : raw_params(req, "filter"))
    for (const std::string_view p : text::split(value, ";"))
      if (!text::trim(p).empty()) f.predicates.push_back(engine::parse_predicate(p));
  return f;
}

}  // namespace streamrec::api
