#include "streamrec/core/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>

namespace streamrec::log {

spdlog::logger& get() {
  static std::shared_ptr<spdlog::logger> logger = [] {
    auto l = spdlog::stderr_color_mt("streamrec");
    l->set_pattern("[%H:%M:%S.%e] [%^%l%$] %v");
    l->set_level(spdlog::level::info);
    return l;
  }();
  return *logger;
}

void set_level(spdlog::level::level_enum level) { get().set_level(level); }

}  // namespace streamrec::log
