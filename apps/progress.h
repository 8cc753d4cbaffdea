// Terminal progress line with ETA on stderr; silent when stderr is not a TTY (CI, pipes).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

namespace streamrec::cli {

class Progress {
 public:
  explicit Progress(std::string label);
  ~Progress();
  void update(uint64_t done, uint64_t total);
  void finish();
  // A callback for models::ProgressFn.
  std::function<void(uint64_t, uint64_t)> callback();

 private:
  std::string label_;
  bool enabled_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

}  // namespace streamrec::cli
