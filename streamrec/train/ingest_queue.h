// The online learner's inbox (module train): events that ingest made durable in the event
// log wait here, in log order, until the learner takes them in micro-batches.
//
// Memory is bounded: at most `max_queue` events (about 150 bytes each) are held. A batch
// pushed past that, or behind batches already waiting in the log, waits in the log as a seq
// range; `take` reads ranges back in order once the queue is half empty. The queue also
// keeps the loop's counters (ingested, learned, steps, published, the freshness ring) and
// the publish handshake that `wait_learned` waits on.
//
// Thread-safety: every member function may be called from any thread; one mutex guards all
// state and is never held while the log is read or a callback runs. Invariant: learned <=
// ingested, and published <= learned.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <span>
#include <vector>

#include "streamrec/core/ring.h"
#include "streamrec/store/event_log.h"

namespace streamrec::train {

using Clock = std::chrono::steady_clock;

// One event on its way to the learner.
struct Queued {
  uint32_t user_index = 0;  // set by the learner
  store::LoggedEvent event;
  Clock::time_point at;  // when it was acknowledged (freshness starts here)
  uint64_t seq = 0;      // in the event log
  // Logged before a restart, after the model's checkpoint: the state (history, counters)
  // already has it; the model learns it (no live check either).
  bool replayed = false;
};

// The counters of the loop, read together.
struct QueueCounts {
  uint64_t ingested = 0, learned = 0, steps = 0;
  uint64_t queue = 0;         // waiting, in memory and in the log
  uint64_t queue_in_log = 0;  // of `queue`, those waiting in the log
  uint64_t via_log = 0;       // events that waited in the log, since the start
  uint64_t logged = 0;        // events in the durable log (all runs)
  double freshness_p50_ms = 0, freshness_p99_ms = 0;  // acknowledged -> learned, last 1,000
};

class IngestQueue {
 public:
  IngestQueue(const store::EventLog& log, size_t max_queue, size_t micro_batch);

  // Acknowledged events [first_seq, first_seq + events.size()) of the log.
  void push(uint64_t first_seq, std::span<const store::LoggedEvent> events);
  // At a (re)fit: the model covers `covered` logged events; the later ones, `to_learn`
  // (sorted by seq, marked replayed), are queued (the tail past max_queue waits in the log)
  // and count as ingested. events_logged restarts from covered + to_learn.
  void restart(uint64_t covered, std::vector<Queued> to_learn);

  // The learner's wait: up to `micro_batch` events into `batch` (cleared first). Returns
  // false on stop. An empty batch means nothing arrived within `flush`: the learner is idle.
  bool take(std::vector<Queued>& batch, std::chrono::milliseconds flush);
  // The learner finished `batch` at `done`.
  void learned(std::span<const Queued> batch, Clock::time_point done);

  // Publish handshake: the learned count if something learned is not yet published (or
  // `force`), else nothing; then `published(count)` once it is visible.
  std::optional<uint64_t> unpublished(bool force) const;
  void published(uint64_t learned);
  // Threads waiting in wait_learned (the learner publishes at once for them).
  bool awaited() const { return waiters_.load() > 0; }
  // Blocks until every event pushed so far is learned and published (or stop).
  void wait_learned() const;

  // Wakes every waiter; take returns false from now on.
  void stop();
  QueueCounts counts() const;

 private:
  // A batch that waits in the log: seqs [first, end) hold `events` events (fewer than
  // end - first when a user deletion left gaps).
  struct Spilled {
    uint64_t end;
    uint64_t events;
    Clock::time_point at;
    bool replayed = false;
  };
  void spill(uint64_t first, Spilled range);  // lock held
  bool refill_due() const;                    // lock held
  // Reads the oldest spilled ranges (about max_queue / 2 events) back into the queue.
  void refill_from_log();

  const store::EventLog& log_;
  const size_t max_queue_, micro_batch_;
  mutable std::mutex mutex_;
  mutable std::condition_variable arrived_cv_, learned_cv_;
  // A deque: the learner takes micro-batches off the front (from a vector that moved the
  // whole backlog each time).
  std::deque<Queued> queue_;
  std::map<uint64_t, Spilled> spilled_;  // by first seq
  uint64_t spilled_events_ = 0, spilled_total_ = 0;
  bool refilling_ = false;  // ranges taken out of spilled_, not yet queued
  uint64_t ingested_ = 0, learned_ = 0, steps_ = 0, published_ = 0;
  int64_t logged_at_start_ = 0;  // events_logged = this + ingested_ (negative after deletions)
  Ring<double> freshness_ms_{1000};
  bool stop_ = false;
  mutable std::atomic<int> waiters_{0};
};

}  // namespace streamrec::train
