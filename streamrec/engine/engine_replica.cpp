// The Engine's replication: the leader's snapshot and publishes (state changes as ops, the
// model's deltas), and a replica applying them in order.
#include <sstream>

#include "streamrec/core/clock.h"
#include "streamrec/core/error.h"
#include "streamrec/core/log.h"
#include "streamrec/core/serialize.h"
#include "streamrec/engine/engine.h"
#include "streamrec/engine/engine_internal.h"

namespace streamrec::engine {
namespace {

constexpr uint32_t kSnapshotFormat = 1, kUpdatesFormat = 1;
constexpr uint8_t kOpEvent = 1, kOpItem = 2, kOpExpiry = 3, kOpUser = 4;
constexpr int64_t kStaleMs = 3000;
using Kind = train::ReplicationRecord::Kind;

template <typename Fn>
std::string encoded(Fn&& fn) {
  std::ostringstream out;
  BinaryWriter w(out);
  fn(w);
  return std::move(out).str();
}

// A state change for the replicas, encoded only when one follows.
template <typename Fn>
void add_encoded(train::ReplicationLog& log, Fn&& fn) {
  if (log.followed()) log.add_op(encoded(std::forward<Fn>(fn)));
}

}  // namespace

void Engine::replicate_event(uint32_t u, uint32_t i, int64_t counted_time,
                             const store::LoggedEvent& e) {
  add_encoded(replication_, [&](BinaryWriter& w) {
    w.u8(kOpEvent);
    w.u32(u);
    w.u32(i);
    w.i64(counted_time);
    w.str(store::EventLog::encode(e));
  });
}

void Engine::replicate_item(uint32_t i, const store::ItemRecord& r) {
  add_encoded(replication_, [&](BinaryWriter& w) {
    w.u8(kOpItem);
    w.u32(i);
    w.str(r.id);
    w.str(store::Catalog::encode(r));
  });
}

void Engine::replicate_expiry(int64_t before) {
  add_encoded(replication_, [&](BinaryWriter& w) {
    w.u8(kOpExpiry);
    w.i64(before);
  });
}

void Engine::replicate_user(const store::UserRecord& r) {
  add_encoded(replication_, [&](BinaryWriter& w) {
    w.u8(kOpUser);
    w.str(store::Catalog::encode(r));
  });
}

void Engine::on_published(bool full, const std::string& bytes) {
  // Learner lock held (every publish is made under it).
  replication_.publish(versions_.current(), full ? Kind::kFull : Kind::kDelta, bytes,
                       std::exchange(replication_reset_, false));
}

std::string Engine::replication_snapshot() const {
  check_leader("replication requests");
  std::lock_guard learner(learner_mutex_);  // no publish meanwhile
  std::shared_lock state(state_mutex_);     // no op meanwhile
  const auto bytes = publisher_->live_bytes();
  SR_CHECK(bytes, ErrorKind::kUnsupported, "model {} cannot be saved, so it cannot be replicated",
           options_.model);
  const auto head = replication_.start_following();
  return encoded([&](BinaryWriter& w) {
    w.u32(kSnapshotFormat);
    w.u64(head.epoch);
    w.u64(head.number);
    w.u32(head.pending_ops);
    w.u64(versions_.current());
    w.str(options_.model);
    w.str(*bytes);
    users_.save(w);
    item_stats_.save(w);
    std::vector<std::string> records;
    catalog_.scan_users(
        [&](const store::UserRecord& r) { records.push_back(store::Catalog::encode(r)); });
    w.u64(records.size());
    for (const auto& r : records) w.str(r);
  });
}

std::optional<std::string> Engine::replication_updates(uint64_t epoch, uint64_t after,
                                                       std::chrono::milliseconds wait,
                                                       const std::string& follower) const {
  check_leader("replication requests");
  if (!follower.empty()) replication_.saw_follower(follower, after, unix_ms());
  const auto records = replication_.after(epoch, after, wait, size_t{64} << 20);
  if (!records) return std::nullopt;
  const auto head = replication_.head();
  return encoded([&](BinaryWriter& w) {
    w.u32(kUpdatesFormat);
    w.u64(head.epoch);
    w.u64(head.number);
    w.i64(unix_ms());
    w.u64(records->size());
    for (const auto& r : *records) {
      w.u64(r->number);
      w.u64(r->version);
      w.u8(static_cast<uint8_t>(r->kind));
      w.str(r->model);
      w.u32(r->op_count);
      w.str(r->ops);
      w.i64(r->wall_ms);
    }
  });
}

std::vector<train::FollowerInfo> Engine::replicas() const {
  return replication_.followers(unix_ms(), 10000);
}

Engine::FollowPosition Engine::follow_position() const {
  std::lock_guard learner(learner_mutex_);
  return {following_.loaded, following_.epoch, following_.applied};
}

void Engine::follow_snapshot(std::string_view bytes) {
  // Parsed whole before anything changes: a bad snapshot leaves the replica as it was.
  std::istringstream in{std::string(bytes)};
  BinaryReader r(in, "the leader's snapshot");
  SR_CHECK(r.u32() == kSnapshotFormat, ErrorKind::kCorrupt,
           "the leader's snapshot is of another format (a leader of another Streamrec version?)");
  Following f;
  f.epoch = r.u64();
  f.applied = r.u64();
  f.skip = r.u32();
  f.version = r.u64();
  f.spec = r.str();
  const std::string model = r.str();
  store::UserState users(options_.max_history);
  users.load(r);
  store::ItemStats items;
  items.load(r);
  std::unordered_map<std::string, store::UserRecord> records;
  for (uint64_t n = r.count(UINT32_MAX); n > 0; --n) {
    auto u = store::Catalog::decode_user(r.str(), "(snapshot)");
    records[u.id] = std::move(u);
  }
  auto publisher = std::make_unique<train::Publisher>(
      f.spec, [this](auto copy) { install_serving(std::move(copy)); });
  std::lock_guard learner(learner_mutex_);
  {
    std::unique_lock state(state_mutex_);
    users_ = std::move(users);
    item_stats_ = std::move(items);
    replica_users_ = std::move(records);
    ann_.ids_rebuilt();
  }
  publisher_ = std::move(publisher);
  publisher_->install_full(model);  // Error(kCorrupt) for a model that does not load
  f.loaded = true;
  f.head = f.applied;
  following_ = std::move(f);
  log::info(
      "replica: loaded the leader's snapshot at publish {} (model {} version {}, {} users, {} "
      "items)",
      following_.applied, following_.spec, following_.version, users_.users().size(),
      users_.items().size());
}

bool Engine::apply_ops(std::string_view ops, uint32_t count, uint32_t skip) {
  std::istringstream in{std::string(ops)};
  BinaryReader r(in, "a publish's state changes");
  for (uint32_t k = 0; k < count; ++k) {
    const uint8_t op = r.u8();
    if (op == kOpEvent) {
      const uint32_t u = r.u32(), i = r.u32();
      const int64_t counted = r.i64();
      auto e = store::EventLog::decode(r.str(), k);
      if (k < skip) continue;
      if (users_.users().insert(e.user) != u || users_.items().insert(e.item) != i) return false;
      add_to_state(u, i, counted, std::move(e));
    } else if (op == kOpItem) {
      const uint32_t i = r.u32();
      const std::string id = r.str();
      auto record = store::Catalog::decode_item(r.str(), id);
      if (k < skip) continue;
      if (users_.items().insert(id) != i) return false;
      item_stats_.set_record(i, std::move(record));
    } else if (op == kOpUser) {
      auto u = store::Catalog::decode_user(r.str(), "(publish)");
      if (k < skip) continue;
      replica_users_[u.id] = std::move(u);
    } else {
      SR_CHECK(op == kOpExpiry, ErrorKind::kCorrupt, "unknown state change {} in a publish", op);
      const int64_t before = r.i64();
      if (k < skip) continue;
      std::vector<uint32_t> emptied, idle;
      state_expired_ += users_.expire(before, emptied);
      item_stats_.expire(before, idle);
    }
  }
  return true;
}

bool Engine::follow_updates(std::string_view bytes) {
  std::istringstream in{std::string(bytes)};
  BinaryReader r(in, "the leader's publishes");
  SR_CHECK(r.u32() == kUpdatesFormat, ErrorKind::kCorrupt,
           "the leader's publishes are of another format");
  const uint64_t epoch = r.u64(), head = r.u64();
  const int64_t leader_now = r.i64(), offset = unix_ms() - leader_now;  // leader -> our clock
  std::lock_guard learner(learner_mutex_);
  if (!following_.loaded || epoch != following_.epoch) return false;
  for (uint64_t n = r.count(1 << 20); n > 0; --n) {
    const uint64_t number = r.u64(), version = r.u64();
    const uint8_t k = r.u8();
    SR_CHECK(k <= static_cast<uint8_t>(Kind::kState), ErrorKind::kCorrupt,
             "publish {}: unknown kind {}", number, k);
    const auto kind = static_cast<Kind>(k);
    const std::string model = r.str();
    const uint32_t count = r.u32();
    const std::string ops = r.str();
    const int64_t wall_ms = r.i64();
    if (number != following_.applied + 1) return false;  // a gap
    if (kind == Kind::kDelta && version != following_.version) {
      log::warn("replica: refused publish {}: a delta of model version {}, this copy is {}", number,
                version, following_.version);
      return false;
    }
    {
      std::unique_lock state(state_mutex_);
      if (!apply_ops(ops, count, std::exchange(following_.skip, 0))) {
        log::warn("replica: publish {} names ids that disagree with this copy's", number);
        return false;
      }
    }
    if (kind == Kind::kFull)
      publisher_->install_full(model);
    else if (kind == Kind::kDelta)
      publisher_->install_delta(model);
    following_.applied = number;
    if (kind != Kind::kState) following_.version = version;
    following_.lag_ms = static_cast<double>(unix_ms() - (wall_ms + offset));
  }
  following_.head = head;
  return true;
}

void Engine::note_leader_contact(bool ok) {
  if (ok) replica_contact_ms_ = unix_ms();
}

void Engine::fill_replication(EngineStats& s) const {
  if (!is_replica()) {
    s.role = "leader";
    s.replication_publish = replication_.head().number;
    s.replicas = replicas().size();
    return;
  }
  s.role = "replica";
  const int64_t contact = replica_contact_ms_, now = unix_ms();
  s.stale = contact == 0 || now - contact > kStaleMs;
  std::lock_guard learner(learner_mutex_);
  s.model = following_.spec;
  s.model_version = following_.version;
  s.replication_publish = following_.applied;
  s.behind_publishes =
      following_.head > following_.applied ? following_.head - following_.applied : 0;
  s.lag_ms = s.stale ? static_cast<double>(now - (contact == 0 ? start_ms_.load() : contact))
                     : following_.lag_ms;
}

}  // namespace streamrec::engine
