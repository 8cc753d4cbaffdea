#include "streamrec/train/ingest_queue.h"

#include <algorithm>

#include "streamrec/core/log.h"

namespace streamrec::train {

IngestQueue::IngestQueue(const store::EventLog& log, size_t max_queue, size_t micro_batch)
    : log_(log), max_queue_(max_queue), micro_batch_(micro_batch) {}

void IngestQueue::spill(uint64_t first, Spilled range) {
  spilled_events_ += range.events;
  spilled_total_ += range.events;
  spilled_[first] = range;
}

void IngestQueue::push(uint64_t first, std::span<const store::LoggedEvent> events) {
  const auto now = Clock::now();
  {
    std::lock_guard lock(mutex_);
    ingested_ += events.size();
    // Past max_queue, or behind batches already waiting in the log (the learner keeps log
    // order), the batch waits in the log: memory stays bounded under any burst.
    if (!spilled_.empty() || refilling_ || queue_.size() + events.size() > max_queue_) {
      spill(first, {first + events.size(), events.size(), now});
    } else {
      for (size_t x = 0; x < events.size(); ++x) queue_.push_back({0, events[x], now, first + x});
    }
  }
  arrived_cv_.notify_one();
}

void IngestQueue::restart(uint64_t covered, std::vector<Queued> to_learn) {
  std::lock_guard lock(mutex_);
  logged_at_start_ = static_cast<int64_t>(covered) - static_cast<int64_t>(ingested_);
  if (to_learn.empty()) return;
  ingested_ += to_learn.size();  // learned as if just ingested (wait_learned waits for them)
  // Past max_queue they wait in the log, as a burst of ingest does: they are its tail after
  // the checkpoint (every logged event from the first left out on).
  const size_t keep = std::min(to_learn.size(), max_queue_);
  if (keep < to_learn.size()) {
    spill(to_learn[keep].seq,
          {to_learn.back().seq + 1, to_learn.size() - keep, to_learn[keep].at, /*replayed=*/true});
  }
  queue_.insert(queue_.begin(), std::make_move_iterator(to_learn.begin()),
                std::make_move_iterator(to_learn.begin() + keep));
}

bool IngestQueue::refill_due() const {
  // The queue refills from the log once it is half empty.
  return !spilled_.empty() && queue_.size() < std::max(micro_batch_, max_queue_ / 2);
}

bool IngestQueue::take(std::vector<Queued>& batch, std::chrono::milliseconds flush) {
  batch.clear();
  for (;;) {
    std::unique_lock lock(mutex_);
    arrived_cv_.wait_for(lock, flush,
                         [&] { return stop_ || queue_.size() >= micro_batch_ || refill_due(); });
    // On stop, what is still queued stays for the next start: it is in the event log, which
    // a start learns from. Draining it could take minutes behind a slow model.
    if (stop_) return false;
    if (refill_due()) {
      lock.unlock();
      try {
        refill_from_log();
      } catch (const std::exception& e) {
        log::error("train: reading queued events back from the log failed: {}", e.what());
        lock.lock();
        arrived_cv_.wait_for(lock, std::chrono::seconds(1), [&] { return stop_; });
      }
      continue;
    }
    const size_t n = std::min(queue_.size(), micro_batch_);
    batch.assign(std::make_move_iterator(queue_.begin()),
                 std::make_move_iterator(queue_.begin() + n));
    queue_.erase(queue_.begin(), queue_.begin() + n);
    return true;
  }
}

void IngestQueue::refill_from_log() {
  std::vector<std::pair<uint64_t, Spilled>> ranges;
  uint64_t taken = 0;
  {
    std::lock_guard lock(mutex_);
    while (!spilled_.empty() && (ranges.empty() || taken < max_queue_ / 2)) {
      const auto it = spilled_.begin();
      ranges.emplace_back(it->first, it->second);
      taken += it->second.events;
      spilled_.erase(it);
    }
    spilled_events_ -= taken;
    refilling_ = !ranges.empty();
  }
  if (ranges.empty()) return;
  std::vector<Queued> got;
  got.reserve(taken);
  size_t r = 0;
  try {
    log_.scan(ranges.front().first, [&](uint64_t seq, const store::LoggedEvent& e) {
      while (r < ranges.size() && seq >= ranges[r].second.end) ++r;
      if (r == ranges.size()) return false;
      if (seq >= ranges[r].first)
        got.push_back({0, e, ranges[r].second.at, seq, ranges[r].second.replayed});
      return true;
    });
  } catch (...) {
    // Put the ranges back: they stay durable in the log and are tried again.
    std::lock_guard lock(mutex_);
    for (const auto& [first, range] : ranges) spilled_[first] = range;
    spilled_events_ += taken;
    refilling_ = false;
    throw;
  }
  {
    std::lock_guard lock(mutex_);
    for (auto& g : got) queue_.push_back(std::move(g));
    // Events a user deletion erased from the log meanwhile are not learned: done with.
    learned_ += taken - got.size();
    refilling_ = false;
  }
  learned_cv_.notify_all();
}

void IngestQueue::learned(std::span<const Queued> batch, Clock::time_point done) {
  {
    std::lock_guard lock(mutex_);
    for (const auto& b : batch)
      freshness_ms_.push(std::chrono::duration<double, std::milli>(done - b.at).count());
    learned_ += batch.size();
    ++steps_;
  }
  learned_cv_.notify_all();
}

std::optional<uint64_t> IngestQueue::unpublished(bool force) const {
  std::lock_guard lock(mutex_);
  if (published_ == learned_ && !force) return std::nullopt;
  return learned_;
}

void IngestQueue::published(uint64_t learned) {
  {
    std::lock_guard lock(mutex_);
    published_ = learned;
  }
  learned_cv_.notify_all();
}

void IngestQueue::wait_learned() const {
  ++waiters_;
  arrived_cv_.notify_one();  // an idle learner publishes at once for a waiter
  std::unique_lock lock(mutex_);
  learned_cv_.wait(lock,
                   [&] { return (learned_ >= ingested_ && published_ == learned_) || stop_; });
  --waiters_;
}

void IngestQueue::stop() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  arrived_cv_.notify_all();
  learned_cv_.notify_all();
}

QueueCounts IngestQueue::counts() const {
  std::lock_guard lock(mutex_);
  QueueCounts c;
  c.ingested = ingested_;
  c.learned = learned_;
  c.steps = steps_;
  c.queue = queue_.size() + spilled_events_;
  c.queue_in_log = spilled_events_;
  c.via_log = spilled_total_;
  c.logged = static_cast<uint64_t>(logged_at_start_ + static_cast<int64_t>(ingested_));
  c.freshness_p50_ms = percentile(freshness_ms_.values(), 50);
  c.freshness_p99_ms = percentile(freshness_ms_.values(), 99);
  return c;
}

}  // namespace streamrec::train
