// Guards the server's request threads against slow and greedy clients (module api).
// cpp-httplib gives each open connection a thread until it closes and times out each read
// of a request's header lines, not the whole request: a client that sends a header line
// every few seconds holds a thread for ever, and enough of them hold every thread. A
// watchdog thread looks at the server's open connections once a second (the process's
// sockets on the listening port, by their peer address) and shuts down
// - a connection that has not completed a request's headers `header_timeout` after it
//   opened or after its last response (an idle keep-alive connection is closed by
//   httplib itself after 5 s);
// - the newest connections of one client address beyond `per_address` open at once, so
//   one address cannot take every thread (busy ones, inside a request, are left alone).
// A shut-down connection's thread sees the end of its stream and returns to the pool.
// Thread-safety: request_started/request_done are called from request threads; one lock.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <map>
#include <mutex>
#include <string>
#include <thread>

namespace streamrec::api {

class ConnectionGuard {
 public:
  // Watches connections to local `port`. per_address 0: no cap.
  ConnectionGuard(int port, std::chrono::milliseconds header_timeout, size_t per_address);
  ~ConnectionGuard();
  ConnectionGuard(const ConnectionGuard&) = delete;
  ConnectionGuard& operator=(const ConnectionGuard&) = delete;

  // A request's headers are complete (the connection is inside a request).
  void request_started(const std::string& address, int port);
  // Its response is written (the connection waits for the next request's headers).
  void request_done(const std::string& address, int port);
  uint64_t shed() const;  // connections shut down so far

 private:
  struct Conn {
    std::chrono::steady_clock::time_point since;  // opened, or its last response
    bool busy = false;
    bool seen = false;  // found open by the last sweep
  };
  void loop();
  void sweep();

  const int port_;
  const std::chrono::milliseconds header_timeout_;
  const size_t per_address_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::map<std::pair<std::string, int>, Conn> conns_;  // by peer (address, port)
  uint64_t shed_ = 0;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace streamrec::api
