// The leader's side of replication (module train): what each publish changed, kept so
// that read replicas can follow the learner. The engine appends the state changes it makes
// (events booked, catalog records, expiries: opaque encoded ops) in the order it makes them;
// a publish closes them into a numbered record with the model's delta or full state, or
// (kState) into a record without a model, so replicas see events as soon as they are
// booked, before the model's next publish. A replica that applied record n asks for the
// records after n (long-polling for the next one); one whose n is no longer kept, or of
// another epoch (each leader process draws one at start), or before a reset (ids rebuilt:
// a refit, a deletion) must take a full snapshot instead. Nothing is kept until the first
// snapshot (start_following): a leader without replicas only numbers its publishes.
//
// Thread-safety: every member takes the log's own lock (innermost); waiters wait on it.
// Invariants: records are numbered base_+1 .. head_ without gaps; their bytes stay within
// max_bytes (the oldest go first, moving base_), except the newest, which is always kept.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace streamrec::train {

struct ReplicationRecord {
  // What `model` holds: the model's delta from the record before, its full state, or
  // nothing (the state changes only).
  enum class Kind : uint8_t { kDelta = 0, kFull = 1, kState = 2 };
  uint64_t number = 0;   // base_+1, base_+2, ... in its epoch
  uint64_t version = 0;  // the model version it belongs to
  Kind kind = Kind::kState;
  std::string model;
  std::string ops;  // the state changes since the record before, encoded, in order
  uint32_t op_count = 0;
  int64_t wall_ms = 0;  // leader's Unix ms at the publish
  size_t bytes() const { return ops.size() + model.size() + 64; }
};

// Where a snapshot taken now stands: it is record `number` plus the first `pending_ops`
// ops of record number+1 (already in the state it copies).
struct ReplicationHead {
  uint64_t epoch = 0, number = 0;
  uint32_t pending_ops = 0;
};

// A replica as the leader last saw it (from its polls).
struct FollowerInfo {
  std::string id;
  uint64_t applied = 0;  // the record it had applied when it last asked
  int64_t seen_ms = 0;   // leader's Unix ms of that poll
};

class ReplicationLog {
 public:
  explicit ReplicationLog(size_t max_bytes);

  using Kind = ReplicationRecord::Kind;
  uint64_t epoch() const { return epoch_; }
  // A state change, to go out with the next publish (dropped until start_following).
  void add_op(std::string_view op);
  // Closes the pending ops into the next record with `model` (a kState record only when
  // there are ops). `reset`: ids were rebuilt, so nothing before this record can be
  // followed (kept records and pending ops are dropped first).
  void publish(uint64_t version, Kind kind, std::string_view model, bool reset);
  // Where a snapshot taken now stands; from now on ops and records are kept. Call it with
  // no op or publish able to run meanwhile (the engine's locks).
  ReplicationHead start_following();
  // Whether a replica has started following (ops are kept): callers skip encoding ops
  // otherwise.
  bool followed() const { return active_; }
  ReplicationHead head() const;

  // The records after `after` of `epoch` (together at most about `max_bytes`, at least
  // one), waiting up to `wait` for one; empty when none came. nullopt: `after` cannot be
  // followed (take a snapshot).
  std::optional<std::vector<std::shared_ptr<const ReplicationRecord>>> after(
      uint64_t epoch, uint64_t after, std::chrono::milliseconds wait, size_t max_bytes) const;
  // Wakes every waiter in after() (the server stops).
  void stop();

  // Replicas seen in the last `window`, from their polls (at most 64 kept).
  void saw_follower(const std::string& id, uint64_t applied, int64_t now_ms);
  std::vector<FollowerInfo> followers(int64_t now_ms, int64_t window_ms) const;

 private:
  void trim();  // lock held
  const size_t max_bytes_;
  const uint64_t epoch_;
  mutable std::mutex mutex_;
  mutable std::condition_variable published_;
  std::map<uint64_t, std::shared_ptr<const ReplicationRecord>> records_;
  uint64_t base_ = 0, head_ = 0;
  size_t bytes_ = 0;
  std::string pending_;
  uint32_t pending_count_ = 0;
  bool stopping_ = false;
  std::atomic<bool> active_{false};  // a snapshot was taken: keep ops and records
  std::map<std::string, FollowerInfo> followers_;
};

}  // namespace streamrec::train
