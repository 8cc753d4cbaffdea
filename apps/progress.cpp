#include "progress.h"

#include <unistd.h>

#include <cstdio>

#include <fmt/format.h>

namespace streamrec::cli {

Progress::Progress(std::string label)
    : label_(std::move(label)),
      enabled_(isatty(STDERR_FILENO) != 0),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

Progress::~Progress() { finish(); }

void Progress::update(uint64_t done, uint64_t total) {
  if (!enabled_ || total == 0) return;
  const auto now = std::chrono::steady_clock::now();
  if (done < total && now - last_draw_ < std::chrono::milliseconds(200)) return;
  last_draw_ = now;
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const double frac = static_cast<double>(done) / total;
  const double eta = frac > 0 ? elapsed * (1 - frac) / frac : 0;
  const int width = 30;
  const int filled = static_cast<int>(frac * width);
  fmt::print(stderr, "\r{:<24} [{}{}] {:5.1f}%  {:.0f}s elapsed, ETA {:.0f}s   ", label_,
             std::string(filled, '#'), std::string(width - filled, '.'), frac * 100, elapsed, eta);
  std::fflush(stderr);
  drawn_ = true;
}

void Progress::finish() {
  if (drawn_) {
    fmt::print(stderr, "\r{}\r", std::string(100, ' '));
    std::fflush(stderr);
    drawn_ = false;
  }
}

std::function<void(uint64_t, uint64_t)> Progress::callback() {
  return [this](uint64_t d, uint64_t t) { update(d, t); };
}

}  // namespace streamrec::cli
