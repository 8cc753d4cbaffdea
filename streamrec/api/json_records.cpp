#include "streamrec/api/json_records.h"

#include <cstdint>

#include <nlohmann/json.hpp>

#include "streamrec/core/clock.h"
#include "streamrec/core/error.h"

namespace streamrec::api {
namespace {

using json = nlohmann::json;

// A string id from a string or integer JSON value; Error(kInvalidInput) naming the field.
std::string id_of(const json& j, const char* what, size_t index, const char* name) {
  SR_INPUT_CHECK(j.contains(name), "{} {}: field '{}' is missing", what, index, name);
  const auto& v = j.at(name);
  if (v.is_number_integer()) return std::to_string(v.get<int64_t>());
  SR_INPUT_CHECK(v.is_string(), "{} {}: field '{}' must be a string", what, index, name);
  return v.get<std::string>();
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

}  // namespace

// One event from its JSON object; Error(kInvalidInput) naming the field.
engine::LoggedEvent parse_event(const json& j, size_t index) {
  SR_INPUT_CHECK(j.is_object(), "event {}: expected a JSON object", index);
  engine::LoggedEvent e;
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
    SR_INPUT_CHECK(!j["timestamp"].is_number_unsigned() ||
                       j["timestamp"].get<uint64_t>() <= uint64_t(INT64_MAX),
                   "event {}: field 'timestamp' {} is out of range", index,
                   j["timestamp"].get<uint64_t>());
    e.timestamp = j["timestamp"].get<int64_t>();
  } else {
    e.timestamp = unix_seconds();
  }
  if (j.contains("context")) {
    SR_INPUT_CHECK(j["context"].is_object(), "event {}: field 'context' must be an object", index);
    data::Context context;
    for (const auto& [k, v] : j["context"].items()) {
      SR_INPUT_CHECK(v.is_string() || v.is_number(),
                     "event {}: context '{}' must be a string or a number", index, k);
      context.emplace_back(k, v.is_string() ? v.get<std::string>() : v.dump());
    }
    e.context = data::format_context(context);
  }
  return e;
}

engine::ItemRecord parse_item(const json& j, size_t index) {
  SR_INPUT_CHECK(j.is_object(), "item {}: expected a JSON object", index);
  engine::ItemRecord r;
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

engine::UserRecord parse_user(const json& j, size_t index) {
  SR_INPUT_CHECK(j.is_object(), "user {}: expected a JSON object", index);
  engine::UserRecord r;
  r.id = id_of(j, "user", index, "id");
  parse_attributes(j, "user", index, r.attrs.numeric, r.attrs.fields);
  return r;
}

}  // namespace streamrec::api
