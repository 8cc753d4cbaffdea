#include "streamrec/store/user_state.h"

#include <algorithm>
#include <sstream>

#include "streamrec/core/error.h"

namespace streamrec::store {

void UserState::reset(std::span<const std::string> users, std::span<const std::string> items) {
  users_ = IdMap();
  items_ = IdMap();
  for (const auto& id : users) users_.insert(id);
  for (const auto& id : items) items_.insert(id);
  history_.clear();
  seen_.clear();
}

void UserState::ensure_user(uint32_t u) {
  if (u < history_.size()) return;
  history_.resize(u + 1);
  seen_.resize(u + 1);
}

void UserState::add(uint32_t u, uint32_t i, LoggedEvent e) {
  ensure_user(u);
  auto& h = history_[u];
  h.push_back(std::move(e));
  if (h.size() > max_history_) h.pop_front();
  auto& s = seen_[u];
  const auto pos = std::lower_bound(s.begin(), s.end(), i);
  if (pos == s.end() || *pos != i) s.insert(pos, i);
}

size_t UserState::expire(int64_t before, std::vector<uint32_t>& emptied) {
  size_t dropped = 0;
  for (uint32_t u = 0; u < history_.size(); ++u) {
    auto& h = history_[u];
    size_t n = 0;
    while (!h.empty() && h.front().timestamp < before) {
      h.pop_front();
      ++n;
    }
    if (n == 0) continue;
    dropped += n;
    auto& s = seen_[u];
    s.clear();
    for (const auto& e : h) s.push_back(items_.find(e.item));
    std::sort(s.begin(), s.end());
    s.erase(std::unique(s.begin(), s.end()), s.end());
    if (h.empty()) {
      std::deque<LoggedEvent>().swap(h);
      std::vector<uint32_t>().swap(s);
      emptied.push_back(u);
    }
  }
  return dropped;
}

bool UserState::has_seen(uint32_t u, uint32_t i) const {
  return u < seen_.size() && std::binary_search(seen_[u].begin(), seen_[u].end(), i);
}

std::vector<uint32_t> UserState::last_items(uint32_t u, size_t n) const {
  std::vector<uint32_t> out;
  const auto& h = history(u);
  for (size_t k = h.size() > n ? h.size() - n : 0; k < h.size(); ++k)
    out.push_back(items_.find(h[k].item));
  return out;
}

namespace {

void save_ids(BinaryWriter& w, const IdMap& ids) {
  w.u64(ids.size());
  for (const auto& id : ids.ids()) w.str(id);
}

void load_ids(BinaryReader& r, IdMap& ids) {
  ids = IdMap();
  const uint64_t n = r.count(UINT32_MAX - 1);
  for (uint64_t k = 0; k < n; ++k) {
    const std::string id = r.str();
    SR_CHECK(ids.insert(id) == k, ErrorKind::kCorrupt, "user state: id '{}' appears twice", id);
  }
}

}  // namespace

void UserState::save(BinaryWriter& w) const {
  w.u64(max_history_);
  save_ids(w, users_);
  save_ids(w, items_);
  w.u64(history_.size());
  for (size_t u = 0; u < history_.size(); ++u) {
    w.u64(history_[u].size());
    for (const auto& e : history_[u]) w.str(EventLog::encode(e));
    w.u32s(seen_[u]);
  }
}

void UserState::load(BinaryReader& r) {
  max_history_ = r.count(UINT32_MAX);
  load_ids(r, users_);
  load_ids(r, items_);
  const uint64_t n = r.count(users_.size());
  history_.assign(n, {});
  seen_.assign(n, {});
  for (size_t u = 0; u < n; ++u) {
    const uint64_t events = r.count(max_history_);
    for (uint64_t k = 0; k < events; ++k) history_[u].push_back(EventLog::decode(r.str(), k));
    seen_[u] = r.u32s();
    for (uint32_t i : seen_[u])
      SR_CHECK(i < items_.size(), ErrorKind::kCorrupt, "user state: item index {} of {}", i,
               items_.size());
  }
}

}  // namespace streamrec::store
