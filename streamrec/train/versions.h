// The model's versions (module train): a number that grows at every fit, retrain,
// rollback or deletion refit, and the last `keep` versions with the model's snapshot
// (its saved state) for rollback.
// Thread-safety: every member may be called from any thread; one mutex guards the kept
// versions (never held while calling out), the current number is atomic.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace streamrec::train {

// A model version; restorable when the model could snapshot its state (save) then.
struct VersionInfo {
  uint64_t version = 0;
  int64_t created_ms = 0;  // wall clock, Unix ms
  std::string reason;
  uint64_t events_learned = 0;  // learned events when it was made
  double live_hr10 = 0;         // live HR@10 when it was made
  bool restorable = false;
};

class Versions {
 public:
  explicit Versions(size_t keep) : keep_(keep) {}

  // Records a new version (`info`'s number, time and restorable are set here) with the
  // model's state, if it could save; returns its number. The oldest beyond `keep` go.
  uint64_t add(VersionInfo info, const std::optional<std::string>& snapshot);
  uint64_t current() const { return current_.load(); }
  // The kept versions, oldest first.
  std::vector<VersionInfo> list() const;
  // Version `version`'s snapshot: Error(kInvalidInput) when it is not kept, kUnsupported
  // when it has none (`model` names the spec in that message).
  std::string snapshot(uint64_t version, const std::string& model) const;
  // Drops every kept version (the ids were rebuilt: the snapshots no longer match them, and
  // after a deletion they would hold the deleted user's data). The number goes on.
  void forget();

 private:
  const size_t keep_;
  std::atomic<uint64_t> current_{0};
  mutable std::mutex mutex_;
  std::deque<std::pair<VersionInfo, std::string>> kept_;
};

}  // namespace streamrec::train
