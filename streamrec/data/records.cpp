#include "streamrec/data/records.h"

#include <algorithm>

namespace streamrec::data {
namespace {
constexpr std::pair<EventType, const char*> kTypeNames[] = {
    {EventType::kView, "view"},         {EventType::kClick, "click"},   {EventType::kCart, "cart"},
    {EventType::kPurchase, "purchase"}, {EventType::kRating, "rating"}, {EventType::kLike, "like"},
    {EventType::kShare, "share"},       {EventType::kOther, "other"},
};
constexpr size_t kMaxMessages = 20;
}  // namespace

const char* to_string(EventType type) {
  for (const auto& [t, name] : kTypeNames)
    if (t == type) return name;
  return "other";
}

std::optional<EventType> parse_event_type(std::string_view name) {
  for (const auto& [t, n] : kTypeNames)
    if (name == n) return t;
  return std::nullopt;
}

uint32_t Dataset::add_item(std::string_view id) {
  const uint32_t index = items.insert(id);
  if (item_attrs.size() <= index) item_attrs.resize(index + 1);
  return index;
}

uint32_t Dataset::add_user(std::string_view id) {
  const uint32_t index = users.insert(id);
  if (user_attrs.size() <= index) user_attrs.resize(index + 1);
  return index;
}

uint32_t Dataset::add_context(Context ctx) {
  if (ctx.empty()) return 0;
  std::sort(ctx.begin(), ctx.end());
  contexts.push_back(std::move(ctx));
  return static_cast<uint32_t>(contexts.size() - 1);
}

void ImportReport::skip(std::string message) {
  ++rows_skipped;
  if (messages.size() < kMaxMessages) messages.push_back(std::move(message));
}

}  // namespace streamrec::data
