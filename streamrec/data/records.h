// Records of the data module: events, item and user attributes, and the Dataset that
// holds them with dense ids.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "streamrec/core/id_map.h"
#include "streamrec/data/context.h"

namespace streamrec::data {

enum class EventType : uint8_t { kView, kClick, kCart, kPurchase, kRating, kLike, kShare, kOther };

const char* to_string(EventType type);
std::optional<EventType> parse_event_type(std::string_view name);

// One user-item event with dense ids. `timestamp` is Unix seconds (UTC). `value` is the
// rating for explicit feedback, else a weight (1 by default). `context` indexes
// Dataset::contexts; 0 means no context.
struct Interaction {
  uint32_t user = 0;
  uint32_t item = 0;
  float value = 1.0f;
  EventType type = EventType::kRating;
  int64_t timestamp = 0;
  uint32_t context = 0;
};

struct ItemAttributes {
  std::string title;
  std::vector<std::string> categories;  // genres, categories
  std::vector<std::string> tags;
  std::map<std::string, double> numeric;  // year, price, ...
  std::string image;                      // path of a picture (the CNN item tower reads it)
};

struct UserAttributes {
  std::map<std::string, std::string> fields;  // gender, occupation, zip, ...
  std::map<std::string, double> numeric;      // age, ...
};

// An imported data set. Events are kept in input order (the order ties are broken by);
// attributes are indexed by the dense id and sized to the id maps.
struct Dataset {
  std::string name;
  IdMap users;
  IdMap items;
  std::vector<Interaction> events;
  std::vector<Context> contexts{Context{}};
  std::vector<ItemAttributes> item_attrs;
  std::vector<UserAttributes> user_attrs;
  bool explicit_ratings = false;  // values are ratings (MAE/RMSE make sense)

  uint32_t num_users() const { return users.size(); }
  uint32_t num_items() const { return items.size(); }
  // Registers an item/user id, growing the attribute vectors to match.
  uint32_t add_item(std::string_view id);
  uint32_t add_user(std::string_view id);
  // Interns a context, returning its index (0 for an empty context).
  uint32_t add_context(Context ctx);
};

// Counts and first messages of what an import dropped under --on-error skip.
struct ImportReport {
  uint64_t rows_read = 0;
  uint64_t rows_skipped = 0;
  std::vector<std::string> messages;  // the first few problems, each naming file and line
  void skip(std::string message);
};

}  // namespace streamrec::data
