#include "streamrec/api/connection_guard.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <optional>
#include <vector>

#include "streamrec/core/log.h"

namespace streamrec::api {
namespace {

struct Peer {
  int fd;
  std::string address;
  int port;
};

// The peer of socket `fd` if it is a connection to local `port`.
std::optional<Peer> peer_of(int fd, int port) {
  sockaddr_storage local{}, remote{};
  socklen_t ll = sizeof local, rl = sizeof remote;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &ll) != 0) return std::nullopt;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&remote), &rl) != 0) return std::nullopt;
  char text[INET6_ADDRSTRLEN] = {};
  if (local.ss_family == AF_INET && remote.ss_family == AF_INET) {
    const auto& l = reinterpret_cast<const sockaddr_in&>(local);
    const auto& r = reinterpret_cast<const sockaddr_in&>(remote);
    if (ntohs(l.sin_port) != port) return std::nullopt;
    ::inet_ntop(AF_INET, &r.sin_addr, text, sizeof text);
    return Peer{fd, text, ntohs(r.sin_port)};
  }
  if (local.ss_family == AF_INET6 && remote.ss_family == AF_INET6) {
    const auto& l = reinterpret_cast<const sockaddr_in6&>(local);
    const auto& r = reinterpret_cast<const sockaddr_in6&>(remote);
    if (ntohs(l.sin6_port) != port) return std::nullopt;
    ::inet_ntop(AF_INET6, &r.sin6_addr, text, sizeof text);
    return Peer{fd, text, ntohs(r.sin6_port)};
  }
  return std::nullopt;
}

// The process's open connections to local `port` (the listening socket has no peer).
std::vector<Peer> connections(int port) {
  std::vector<Peer> out;
  DIR* dir = ::opendir("/proc/self/fd");
  if (!dir) return out;
  while (const dirent* e = ::readdir(dir)) {
    char* end = nullptr;
    const long fd = std::strtol(e->d_name, &end, 10);
    if (end == e->d_name || *end != '\0' || fd == ::dirfd(dir)) continue;
    struct stat st {};
    if (::fstat(static_cast<int>(fd), &st) != 0 || !S_ISSOCK(st.st_mode)) continue;
    if (auto p = peer_of(static_cast<int>(fd), port)) out.push_back(std::move(*p));
  }
  ::closedir(dir);
  return out;
}

// Shuts `p` down if its fd still belongs to that peer (fds are reused once closed).
bool shut_down(const Peer& p, int port) {
  const auto now = peer_of(p.fd, port);
  if (!now || now->address != p.address || now->port != p.port) return false;
  return ::shutdown(p.fd, SHUT_RDWR) == 0;
}

}  // namespace

ConnectionGuard::ConnectionGuard(int port, std::chrono::milliseconds header_timeout,
                                 size_t per_address)
    : port_(port), header_timeout_(header_timeout), per_address_(per_address) {
  thread_ = std::thread([this] { loop(); });
}

ConnectionGuard::~ConnectionGuard() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void ConnectionGuard::request_started(const std::string& address, int port) {
  std::lock_guard lock(mutex_);
  conns_[{address, port}].busy = true;
}

void ConnectionGuard::request_done(const std::string& address, int port) {
  std::lock_guard lock(mutex_);
  auto& c = conns_[{address, port}];
  c.busy = false;
  c.since = std::chrono::steady_clock::now();
}

uint64_t ConnectionGuard::shed() const {
  std::lock_guard lock(mutex_);
  return shed_;
}

void ConnectionGuard::loop() {
  std::unique_lock lock(mutex_);
  while (!cv_.wait_for(lock, std::chrono::milliseconds(250), [&] { return stopping_; })) {
    lock.unlock();
    try {
      sweep();
    } catch (const std::exception& e) {
      log::error("api: connection guard: {}", e.what());
    }
    lock.lock();
  }
}

void ConnectionGuard::sweep() {
  const auto open = connections(port_);
  const auto now = std::chrono::steady_clock::now();
  std::vector<Peer> drop;
  {
    std::lock_guard lock(mutex_);
    for (auto& [key, c] : conns_) c.seen = false;
    std::map<std::string, std::vector<std::pair<std::chrono::steady_clock::time_point, Peer>>>
        idle_by_address;
    std::map<std::string, size_t> by_address;
    for (const auto& p : open) {
      auto [it, fresh] = conns_.try_emplace({p.address, p.port});
      auto& c = it->second;
      if (fresh && c.since == std::chrono::steady_clock::time_point{}) c.since = now;
      c.seen = true;
      ++by_address[p.address];
      if (c.busy) continue;
      if (now - c.since > header_timeout_)
        drop.push_back(p);
      else
        idle_by_address[p.address].emplace_back(c.since, p);
    }
    std::erase_if(conns_, [](const auto& e) { return !e.second.seen; });
    if (per_address_ > 0)
      for (auto& [address, idle] : idle_by_address) {
        size_t over = by_address[address] > per_address_ ? by_address[address] - per_address_ : 0;
        std::sort(idle.begin(), idle.end(),
                  [](const auto& a, const auto& b) { return a.first > b.first; });  // newest first
        for (size_t k = 0; k < idle.size() && over > 0; ++k, --over) drop.push_back(idle[k].second);
      }
  }
  size_t n = 0;
  for (const auto& p : drop) n += shut_down(p, port_);
  if (n == 0) return;
  std::lock_guard lock(mutex_);
  shed_ += n;
  log::debug("api: shed {} slow or surplus connections", n);
}

}  // namespace streamrec::api
