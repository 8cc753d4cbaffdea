#include "streamrec/core/parallel.h"

#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace streamrec {
namespace {
std::atomic<int> g_threads{0};
}

void set_num_threads(int n) { g_threads = std::max(1, n); }

int num_threads() {
  const int n = g_threads.load();
  return n > 0 ? n : std::max(1u, std::thread::hardware_concurrency());
}

void parallel_for(size_t n, const std::function<void(size_t, size_t, int)>& body, size_t grain) {
  const int threads = static_cast<int>(std::min<size_t>(num_threads(), (n + grain - 1) / grain));
  if (threads <= 1) {
    if (n > 0) body(0, n, 0);
    return;
  }
  std::atomic<size_t> next{0};
  std::exception_ptr error;
  std::mutex error_mutex;
  auto worker = [&](int t) {
    try {
      while (true) {
        const size_t b = next.fetch_add(grain);
        if (b >= n) break;
        body(b, std::min(n, b + grain), t);
      }
    } catch (...) {
      std::lock_guard lock(error_mutex);
      if (!error) error = std::current_exception();
      next = n;
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(worker, t);
  worker(0);
  for (auto& th : pool) th.join();
  if (error) std::rethrow_exception(error);
}

}  // namespace streamrec
