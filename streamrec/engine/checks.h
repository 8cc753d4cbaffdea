// What the engine accepts (module engine): the checks of events and catalog records made
// before anything is written. A failure is Error(kInvalidInput) naming the record's index in
// its batch, the field and the value; nothing of the batch is then accepted.
// Thread-safety: pure functions (resolve_image reads the file system).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "streamrec/store/catalog.h"
#include "streamrec/store/event_log.h"

namespace streamrec::engine {

inline constexpr size_t kMaxIdLength = 256;
inline constexpr size_t kMaxTextLength = 4096;  // a title, a context, a field's value
inline constexpr size_t kMaxListLength = 256;   // categories, tags, fields, numeric attributes
inline constexpr size_t kMaxNameLength = 256;   // a category, a tag, an attribute's name

struct InputLimits {
  int64_t max_future_s = 86400;  // how far past the server's clock an event may be
  std::string image_root;        // where catalog images come from; empty: no image paths
  double max_value = 100;        // the largest event value (see value_range)
};

// An event's value range by type: ratings -max..max, weights of the implicit types 0..max.
std::pair<double, double> value_range(data::EventType type, double max);

void check_event(const store::LoggedEvent& e, size_t index, int64_t now, const InputLimits& limits);
// Also replaces a record's image path by the file it names under limits.image_root.
void check_item(store::ItemRecord& r, size_t index, const InputLimits& limits);
void check_user(const store::UserRecord& r, size_t index);

// The absolute path of `path` (relative, no "..") under `root`, after links: it must stay
// under root and name a regular file of at most data::kMaxImageBytes. Error(kInvalidInput)
// saying which rule it breaks.
std::string resolve_image(const std::string& root, const std::string& path);

}  // namespace streamrec::engine
