#include "streamrec/train/retrainer.h"

#include <chrono>
#include <exception>

#include "streamrec/core/clock.h"
#include "streamrec/core/log.h"

namespace streamrec::train {

bool Retrainer::start(bool scheduled) {
  std::lock_guard lock(mutex_);
  if (status_.running) return false;
  if (thread_.joinable()) thread_.join();  // finished: its status is in status_
  status_ = RetrainStatus{};
  status_.running = true;
  status_.scheduled = scheduled;
  status_.started_ms = unix_ms();
  thread_ = std::thread([this, s = status_] { run(s); });
  return true;
}

void Retrainer::run(RetrainStatus s) {
  const auto t0 = std::chrono::steady_clock::now();
  try {
    job_(s);
  } catch (const std::exception& e) {
    s.error = e.what();
    log::error("serve: retrain failed: {}", s.error);
  }
  s.running = false;
  s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  s.finished_ms = unix_ms();
  std::lock_guard lock(mutex_);
  status_ = std::move(s);
}

RetrainStatus Retrainer::status() const {
  std::lock_guard lock(mutex_);
  return status_;
}

void Retrainer::join() {
  std::thread t;
  {
    std::lock_guard lock(mutex_);
    t = std::move(thread_);
  }
  if (t.joinable()) t.join();
}

}  // namespace streamrec::train
