// The one logger of Streamrec (STYLE.md point 7): library code logs here and never
// prints. The binary decides the level and sink; by default messages go to stderr.
#pragma once

#include <spdlog/spdlog.h>

namespace streamrec::log {

// The shared logger ("streamrec"), created on first use, writing to stderr.
spdlog::logger& get();

void set_level(spdlog::level::level_enum level);

template <typename... Args>
void info(fmt::format_string<Args...> f, Args&&... args) {
  get().info(f, std::forward<Args>(args)...);
}
template <typename... Args>
void warn(fmt::format_string<Args...> f, Args&&... args) {
  get().warn(f, std::forward<Args>(args)...);
}
template <typename... Args>
void error(fmt::format_string<Args...> f, Args&&... args) {
  get().error(f, std::forward<Args>(args)...);
}
template <typename... Args>
void debug(fmt::format_string<Args...> f, Args&&... args) {
  get().debug(f, std::forward<Args>(args)...);
}

}  // namespace streamrec::log
