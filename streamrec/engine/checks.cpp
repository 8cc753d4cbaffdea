#include "streamrec/engine/checks.h"

#include <cmath>
#include <filesystem>
#include <system_error>

#include "streamrec/core/error.h"
#include "streamrec/core/text.h"
#include "streamrec/data/image.h"

namespace streamrec::engine {
namespace fs = std::filesystem;

std::pair<double, double> value_range(data::EventType type, double max) {
  return type == data::EventType::kRating ? std::pair{-max, max} : std::pair{0.0, max};
}

void check_event(const store::LoggedEvent& e, size_t x, int64_t now, const InputLimits& limits) {
  SR_INPUT_CHECK(!e.user.empty() && e.user.size() <= kMaxIdLength,
                 "event {}: field 'user' must be 1 to {} characters", x, kMaxIdLength);
  SR_INPUT_CHECK(!e.item.empty() && e.item.size() <= kMaxIdLength,
                 "event {}: field 'item' must be 1 to {} characters", x, kMaxIdLength);
  const auto [lo, hi] = value_range(e.type, limits.max_value);
  SR_INPUT_CHECK(std::isfinite(e.value) && e.value >= lo && e.value <= hi,
                 "event {}: field 'value' {} is outside {} to {} (type {}; see --max-value)", x,
                 e.value, lo, hi, data::to_string(e.type));
  SR_INPUT_CHECK(e.timestamp >= 0, "event {}: field 'timestamp' {} is negative", x, e.timestamp);
  SR_INPUT_CHECK(e.timestamp <= now + limits.max_future_s,
                 "event {}: field 'timestamp' {} is more than {} s ahead of the server's clock "
                 "({}); see --max-future-s",
                 x, e.timestamp, limits.max_future_s, now);
  SR_INPUT_CHECK(e.context.size() <= kMaxTextLength,
                 "event {}: field 'context' has {} characters, more than {}", x, e.context.size(),
                 kMaxTextLength);
}

namespace {

void check_names(const std::vector<std::string>& list, const char* what, size_t x) {
  SR_INPUT_CHECK(list.size() <= kMaxListLength, "item {}: field '{}' has {} entries, more than {}",
                 x, what, list.size(), kMaxListLength);
  for (const auto& s : list)
    SR_INPUT_CHECK(!s.empty() && s.size() <= kMaxNameLength,
                   "item {}: field '{}' has an entry of {} characters (1 to {})", x, what, s.size(),
                   kMaxNameLength);
}

template <typename Map>
void check_map(const Map& map, const char* who, const char* what, size_t x) {
  SR_INPUT_CHECK(map.size() <= kMaxListLength, "{} {}: {} {} attributes, more than {}", who, x,
                 map.size(), what, kMaxListLength);
  for (const auto& [k, v] : map) {
    SR_INPUT_CHECK(!k.empty() && k.size() <= kMaxNameLength,
                   "{} {}: attribute name of {} characters (1 to {})", who, x, k.size(),
                   kMaxNameLength);
    if constexpr (std::is_same_v<std::decay_t<decltype(v)>, double>)
      SR_INPUT_CHECK(std::isfinite(v), "{} {}: attribute '{}' is not a finite number", who, x, k);
    else
      SR_INPUT_CHECK(v.size() <= kMaxTextLength,
                     "{} {}: attribute '{}' has {} characters, more "
                     "than {}",
                     who, x, k, v.size(), kMaxTextLength);
  }
}

}  // namespace

void check_item(store::ItemRecord& r, size_t x, const InputLimits& limits) {
  SR_INPUT_CHECK(!r.id.empty() && r.id.size() <= kMaxIdLength,
                 "item {}: field 'id' must be 1 to {} characters", x, kMaxIdLength);
  SR_INPUT_CHECK(r.attrs.title.size() <= kMaxTextLength,
                 "item {}: field 'title' has {} characters, more than {}", x, r.attrs.title.size(),
                 kMaxTextLength);
  check_names(r.attrs.categories, "categories", x);
  check_names(r.attrs.tags, "tags", x);
  check_map(r.attrs.numeric, "item", "numeric", x);
  check_map(r.fields, "item", "string", x);
  SR_INPUT_CHECK(r.expires_at >= 0, "item {}: field 'expires_at' {} is negative", x, r.expires_at);
  if (r.attrs.image.empty()) return;
  SR_INPUT_CHECK(!limits.image_root.empty(),
                 "item {}: field 'image': this server takes no image paths (start it with "
                 "--image-root DIR and give paths relative to DIR)",
                 x);
  try {
    r.attrs.image = resolve_image(limits.image_root, r.attrs.image);
  } catch (const Error& e) {
    throw Error(ErrorKind::kInvalidInput, fmt::format("item {}: field 'image': {}", x, e.what()));
  }
}

void check_user(const store::UserRecord& r, size_t x) {
  SR_INPUT_CHECK(!r.id.empty() && r.id.size() <= kMaxIdLength,
                 "user {}: field 'id' must be 1 to {} characters", x, kMaxIdLength);
  check_map(r.attrs.numeric, "user", "numeric", x);
  check_map(r.attrs.fields, "user", "string", x);
}

std::string resolve_image(const std::string& root, const std::string& path) {
  const fs::path p(path);
  SR_INPUT_CHECK(!path.empty() && p.is_relative(), "{} must be a path relative to the image root",
                 text::quote(path, 200));
  for (const auto& part : p)
    SR_INPUT_CHECK(part != "..", "{} must not contain '..'", text::quote(path, 200));
  std::error_code ec;
  const fs::path base = fs::canonical(root, ec);
  SR_INPUT_CHECK(!ec, "the image root '{}' is not usable: {}", root, ec.message());
  const fs::path full = fs::canonical(base / p, ec);  // follows links
  SR_INPUT_CHECK(!ec, "{} not found under the image root", text::quote(path, 200));
  const auto rel = full.lexically_relative(base);
  SR_INPUT_CHECK(!rel.empty() && *rel.begin() != "..", "{} leads out of the image root (by a link)",
                 text::quote(path, 200));
  const auto status = fs::status(full, ec);
  SR_INPUT_CHECK(!ec && fs::is_regular_file(status), "{} is not a regular file",
                 text::quote(path, 200));
  const auto size = fs::file_size(full, ec);
  SR_INPUT_CHECK(!ec && size <= data::kMaxImageBytes, "{} has {} bytes, more than {}",
                 text::quote(path, 200), size, data::kMaxImageBytes);
  return full.string();
}

}  // namespace streamrec::engine
