// Events, items and users from their JSON objects (module api): each parser checks types
// and throws Error(kInvalidInput) naming the record's index and the field.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "streamrec/engine/types.h"

namespace streamrec::api {

engine::LoggedEvent parse_event(const nlohmann::json& j, size_t index);
engine::ItemRecord parse_item(const nlohmann::json& j, size_t index);
engine::UserRecord parse_user(const nlohmann::json& j, size_t index);

// A body that is one object, an array, or {"<field>": [...]}, parsed element by element.
template <typename T, typename Parse>
std::vector<T> parse_list(const std::string& body, const char* field, Parse parse) {
  const nlohmann::json j = nlohmann::json::parse(body);
  const nlohmann::json* list = &j;
  if (j.is_object() && j.contains(field)) list = &j[field];
  std::vector<T> out;
  if (list->is_array()) {
    for (size_t x = 0; x < list->size(); ++x) out.push_back(parse((*list)[x], x));
  } else {
    out.push_back(parse(*list, 0));
  }
  return out;
}

}  // namespace streamrec::api
