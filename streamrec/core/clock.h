// Wall-clock time as Unix seconds / milliseconds (event timestamps, record times).
#pragma once

#include <chrono>
#include <cstdint>

namespace streamrec {

inline int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

inline int64_t unix_seconds() { return unix_ms() / 1000; }

}  // namespace streamrec
