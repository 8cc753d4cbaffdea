// What the engine knows of each user between fits (module store): the string ids of users
// and items with their dense indices, each user's recent events (newest last, at most
// `max_history`) and the sorted set of items each user has had an event with.
//
// Thread-safety: none inside. The engine's state lock guards a UserState (shared for the
// const members, exclusive for the others). Invariant: history and seen cover every user
// index that add() or ensure_user() reached; the accessors answer empty for the others.
#pragma once

#include <cstdint>
#include <deque>
#include <span>
#include <string>
#include <vector>

#include "streamrec/core/id_map.h"
#include "streamrec/core/serialize.h"
#include "streamrec/store/event_log.h"

namespace streamrec::store {

class UserState {
 public:
  explicit UserState(size_t max_history = 200) : max_history_(max_history) {}

  IdMap& users() { return users_; }
  const IdMap& users() const { return users_; }
  IdMap& items() { return items_; }
  const IdMap& items() const { return items_; }

  // Forgets every user's events; the ids become `users` and `items`, in that order.
  void reset(std::span<const std::string> users, std::span<const std::string> items);
  // history and seen sized for user index `u`.
  void ensure_user(uint32_t u);
  // Event `e` of user `u` with item `i`: its history grows (the oldest beyond max_history
  // dropped) and `i` joins its seen set.
  void add(uint32_t u, uint32_t i, LoggedEvent e);
  bool has_seen(uint32_t u, uint32_t i) const;
  // The state TTL: drops each user's oldest events while their event time is before
  // `before` (in arrival order: stops at the first newer one); a user's seen set becomes
  // the items of what is left. Returns the events dropped; `emptied` gets the users left
  // with no events (their memory freed).
  size_t expire(int64_t before, std::vector<uint32_t>& emptied);

  // Empty for a user with no events yet (an id known only from a model's checkpoint).
  const std::deque<LoggedEvent>& history(uint32_t u) const {
    return u < history_.size() ? history_[u] : kNoHistory;
  }
  const std::vector<uint32_t>& seen(uint32_t u) const {
    return u < seen_.size() ? seen_[u] : kNoItems;
  }
  // The item indices of the user's last `n` events, oldest first.
  std::vector<uint32_t> last_items(uint32_t u, size_t n) const;

  // The whole state (ids, histories, seen sets) as bytes, and back (a replica's snapshot);
  // load replaces everything and throws Error(kCorrupt) on bytes that do not parse.
  void save(BinaryWriter& w) const;
  void load(BinaryReader& r);

 private:
  static inline const std::deque<LoggedEvent> kNoHistory{};
  static inline const std::vector<uint32_t> kNoItems{};
  size_t max_history_;
  IdMap users_, items_;
  std::vector<std::deque<LoggedEvent>> history_;
  std::vector<std::vector<uint32_t>> seen_;  // sorted item indices per user
};

}  // namespace streamrec::store
