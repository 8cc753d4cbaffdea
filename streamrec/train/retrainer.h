// Background retrains (module train): runs one retrain job at a time on its own thread and
// keeps the status of the last (or running) one. The job does the work (fit, check, swap);
// this class owns the thread, the one-at-a-time rule and the status.
//
// Thread-safety: every member may be called from any thread; one lock guards the status
// and the thread handle and is never held while the job runs. It takes no other lock.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace streamrec::train {

// The last (or running) background retrain.
struct RetrainStatus {
  bool running = false;
  int64_t started_ms = 0, finished_ms = 0;  // wall clock, Unix ms
  uint64_t events_fitted = 0;               // in the snapshot the fresh model was fitted on
  uint64_t events_caught_up = 0;            // learned online meanwhile, replayed before the swap
  double seconds = 0;
  // The check before the swap: the fresh model's HR@10 on the held-out newest events, the
  // live model's prequential HR@10 then, over how many held-out checks, and the verdict.
  double holdout_hr10 = 0, live_hr10 = 0;
  uint64_t holdout_checks = 0;
  bool accepted = false;
  bool scheduled = false;  // started by the schedule, not on demand
  std::string error;       // empty when it succeeded (a refusal is not an error)
};

class Retrainer {
 public:
  // The job fills the outcome of a retrain (events_*, holdout_*, live_hr10, accepted) in the
  // status it is given; an exception it throws becomes the status' error.
  using Job = std::function<void(RetrainStatus&)>;
  explicit Retrainer(Job job) : job_(std::move(job)) {}
  ~Retrainer() { join(); }
  Retrainer(const Retrainer&) = delete;
  Retrainer& operator=(const Retrainer&) = delete;

  // Starts a retrain; false if one is running.
  bool start(bool scheduled);
  RetrainStatus status() const;
  // Waits for a running retrain to finish.
  void join();

 private:
  void run(RetrainStatus status);

  const Job job_;
  mutable std::mutex mutex_;
  RetrainStatus status_;
  std::thread thread_;
};

}  // namespace streamrec::train
