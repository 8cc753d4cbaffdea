// The guard (module train): decides what the learning model goes back to when it may not be
// published. Two checks, both made by the engine's learner:
// - health: the model's scores are all finite before each publish. Its fallback is the live
//   serving copy once a healthy model was published, else a refit on the events before it.
// - quality: the prequential HR@10 of live checks, judged in windows (QualityWindow). A
//   window that drops fails, and the model goes back to the state at the start of the last
//   window that passed (a refit on the events before it when there is none). A window that
//   passes makes its own start the new target: that state was good for a whole window (the
//   state at its end may hold a burst that produced no checks yet).
// Not thread-safe and takes no lock: the engine's learner lock guards it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

namespace streamrec::train {

// The quality guard's bookkeeping: prequential hits of the model since the last state that
// passed, judged once there are `min_checks` of them against the HR@10 of the window before.
// A window whose HR@10 is below (1 - margin) x the baseline, by at least three standard
// errors (two-proportion z-test), fails; a passing window becomes the new baseline; after a
// failure the next window sets a fresh baseline (a lasting change of the stream rolls back
// once, not forever).
class QualityWindow {
 public:
  enum class Verdict { kWait, kPass, kFail };
  QualityWindow(double margin, uint64_t min_checks) : margin_(margin), min_checks_(min_checks) {}
  void record(bool hit) {
    hits_ += hit;
    ++checks_;
  }
  bool ready() const { return checks_ >= min_checks_; }
  Verdict judge();
  // Forget the current window (the model was replaced) and, with `rebaseline`, the baseline.
  void reset(bool rebaseline);
  double baseline() const { return baseline_; }  // negative: none yet
  double last_hr() const { return last_hr_; }
  uint64_t last_checks() const { return last_checks_; }

 private:
  double margin_;
  uint64_t min_checks_;
  uint64_t hits_ = 0, checks_ = 0;
  double baseline_ = -1, baseline_checks_ = 0, last_hr_ = 0;
  uint64_t last_checks_ = 0;
};

class Guard {
 public:
  // `margin` 0 turns the quality check off (the health check always runs).
  Guard(double margin, uint64_t checks) : margin_(margin), quality_(margin, checks) {}

  // Where the model goes back to: the state in `snapshot` (the model's saved bytes), or
  // when it is empty a refit on the first `learned` learned events; `why` is for the log.
  struct Target {
    std::string why;
    std::string snapshot;
    size_t learned = 0;
  };

  // The model was refitted on `learned` events: both checks fall back to a refit on them.
  void refitted(size_t learned);
  // A healthy model was published after `learned` events: the live copy is the health
  // check's fallback from now on.
  void published_healthy(size_t learned);
  // The health check's fallback, given the live copy's saved bytes (called only when the
  // model failed the check, since saving costs a copy).
  Target health_target(std::string why, const std::optional<std::string>& live_bytes) const;
  bool health_fallback_is_live() const { return healthy_is_live_; }

  bool watches_quality() const { return margin_ > 0; }
  void record(bool hit) { quality_.record(hit); }
  bool window_full() const { return watches_quality() && quality_.ready(); }
  // Judges the full window: the target to go back to if it failed, nullopt if it passed.
  // Call start_window next either way.
  std::optional<Target> judge_window();
  // A window starts from the model as it is now: `snapshot` (its saved bytes, empty when it
  // cannot save), after `learned` events. `rebaseline`: the model was replaced.
  void start_window(bool rebaseline, std::string snapshot, size_t learned);

 private:
  double margin_;
  QualityWindow quality_;
  bool healthy_is_live_ = false;
  size_t healthy_learned_ = 0;
  std::string good_snapshot_;    // start of the last window that passed
  size_t good_learned_ = 0;      // learned events it had seen
  std::string window_snapshot_;  // the state at the start of the current window
  size_t window_learned_ = 0;
};

}  // namespace streamrec::train
