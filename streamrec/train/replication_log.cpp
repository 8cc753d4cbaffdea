#include "streamrec/train/replication_log.h"

#include <random>
#include <utility>

#include "streamrec/core/clock.h"

namespace streamrec::train {
namespace {

uint64_t draw_epoch() {
  std::random_device rd;
  const uint64_t e = (uint64_t{rd()} << 32) ^ rd() ^ static_cast<uint64_t>(unix_ms());
  return e == 0 ? 1 : e;
}

}  // namespace

ReplicationLog::ReplicationLog(size_t max_bytes) : max_bytes_(max_bytes), epoch_(draw_epoch()) {}

void ReplicationLog::add_op(std::string_view op) {
  std::lock_guard lock(mutex_);
  if (!active_) return;
  pending_.append(op);
  ++pending_count_;
}

void ReplicationLog::publish(uint64_t version, Kind kind, std::string_view model, bool reset) {
  {
    std::lock_guard lock(mutex_);
    if (kind == Kind::kState && (pending_count_ == 0 || !active_)) return;
    ++head_;
    if (reset || !active_) {  // nothing before can be followed: a replica takes a snapshot
      records_.clear();
      bytes_ = 0;
      pending_.clear();
      pending_count_ = 0;
      base_ = head_;  // a snapshot at this record is where following starts
      if (!active_) return;
    }
    auto r = std::make_shared<ReplicationRecord>();
    r->number = head_;
    r->version = version;
    r->kind = kind;
    r->model = model;
    r->wall_ms = unix_ms();
    r->ops = std::exchange(pending_, {});
    r->op_count = std::exchange(pending_count_, 0);
    bytes_ += r->bytes();
    records_.emplace(r->number, std::move(r));
    trim();
  }
  published_.notify_all();
}

ReplicationHead ReplicationLog::start_following() {
  std::lock_guard lock(mutex_);
  active_ = true;
  return {epoch_, head_, pending_count_};
}

void ReplicationLog::trim() {
  while (records_.size() > 1 && bytes_ > max_bytes_) {
    bytes_ -= records_.begin()->second->bytes();
    base_ = records_.begin()->first;
    records_.erase(records_.begin());
  }
}

ReplicationHead ReplicationLog::head() const {
  std::lock_guard lock(mutex_);
  return {epoch_, head_, pending_count_};
}

std::optional<std::vector<std::shared_ptr<const ReplicationRecord>>> ReplicationLog::after(
    uint64_t epoch, uint64_t after, std::chrono::milliseconds wait, size_t max_bytes) const {
  std::unique_lock lock(mutex_);
  if (epoch != epoch_ || after < base_ || after > head_) return std::nullopt;
  published_.wait_for(lock, wait, [&] { return stopping_ || head_ > after || after < base_; });
  if (after < base_) return std::nullopt;  // trimmed or reset while it waited
  std::vector<std::shared_ptr<const ReplicationRecord>> out;
  size_t bytes = 0;
  for (auto it = records_.upper_bound(after); it != records_.end(); ++it) {
    if (!out.empty() && bytes + it->second->bytes() > max_bytes) break;
    bytes += it->second->bytes();
    out.push_back(it->second);
  }
  return out;
}

void ReplicationLog::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  published_.notify_all();
}

void ReplicationLog::saw_follower(const std::string& id, uint64_t applied, int64_t now_ms) {
  std::lock_guard lock(mutex_);
  if (followers_.size() >= 64 && !followers_.contains(id)) {
    auto oldest = followers_.begin();
    for (auto it = followers_.begin(); it != followers_.end(); ++it)
      if (it->second.seen_ms < oldest->second.seen_ms) oldest = it;
    followers_.erase(oldest);
  }
  followers_[id] = {id, applied, now_ms};
}

std::vector<FollowerInfo> ReplicationLog::followers(int64_t now_ms, int64_t window_ms) const {
  std::lock_guard lock(mutex_);
  std::vector<FollowerInfo> out;
  for (const auto& [id, f] : followers_)
    if (now_ms - f.seen_ms <= window_ms) out.push_back(f);
  return out;
}

}  // namespace streamrec::train
