// Events, items and users from their JSON objects (module api): each parser checks types
// and throws Error(kInvalidInput) naming the record's index and the field.
#pragma once

#include <cstddef>

#include <nlohmann/json_fwd.hpp>

#include "streamrec/engine/types.h"

namespace streamrec::api {

engine::LoggedEvent parse_event(const nlohmann::json& j, size_t index);
engine::ItemRecord parse_item(const nlohmann::json& j, size_t index);
engine::UserRecord parse_user(const nlohmann::json& j, size_t index);

}  // namespace streamrec::api
