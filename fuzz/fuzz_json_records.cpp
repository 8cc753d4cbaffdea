// libFuzzer: POST bodies of /v1/events, /v1/items and /v1/users, parsed and checked as the
// server does. Bad input must be an Error or a JSON exception, never a crash.
#include <nlohmann/json.hpp>

#include "streamrec/api/json_records.h"
#include "streamrec/core/error.h"
#include "streamrec/core/log.h"
#include "streamrec/engine/checks.h"

using namespace streamrec;

// The body parsed as the routes parse it (api::parse_list), then checked as the engine does.
template <typename T, typename Parse, typename Check>
void parse_and_check(const std::string& body, const char* field, Parse parse, Check check) {
  try {
    auto records = api::parse_list<T>(body, field, parse);
    for (size_t x = 0; x < records.size(); ++x) check(records[x], x);
  } catch (const Error&) {
  } catch (const nlohmann::json::exception&) {
  }
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool quiet = (log::set_level(spdlog::level::off), true);
  (void)quiet;
  const std::string body(reinterpret_cast<const char*>(data), size);
  const engine::InputLimits limits{86400, "", 100};
  parse_and_check<engine::LoggedEvent>(body, "events", api::parse_event, [&](auto& e, size_t x) {
    engine::check_event(e, x, 1'700'000'000, limits);
  });
  parse_and_check<engine::ItemRecord>(body, "items", api::parse_item,
                                      [&](auto& r, size_t x) { engine::check_item(r, x, limits); });
  parse_and_check<engine::UserRecord>(body, "users", api::parse_user,
                                      [&](auto& r, size_t x) { engine::check_user(r, x); });
  return 0;
}
