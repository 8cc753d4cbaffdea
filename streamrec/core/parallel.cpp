#include "streamrec/core/parallel.h"

#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "streamrec/core/log.h"

namespace streamrec {
namespace {

std::atomic<int> g_threads{0};

// Long-lived helper threads for parallel_for. Fresh threads per call were costly beyond their
// start-up: libtorch sets up its thread state the first time each new thread runs a tensor
// op, and that rebuilds its pthreadpool, whose new threads then spin for tens of ms before
// they sleep. The seq learner, whose softmax workers run a few ops per micro-batch, lost
// 12-25% of its CPU time to that spinning. One job at a time: a second caller while a job
// runs (another thread, or a nested parallel_for) gets fresh threads instead of waiting.
// Helpers take the caller's niceness and SCHED_IDLE policy, so that a background job stays in
// the background.
class HelperPool {
 public:
  ~HelperPool() {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
    }
    start_cv_.notify_all();
    for (auto& t : threads_) t.join();
  }

  // Starts fn(1) .. fn(helpers) on the pool's threads and returns true (then call wait()),
  // or returns false at once (nothing started) when another job holds the pool.
  bool start(int helpers, const std::function<void(int)>& fn) {
    if (busy_.exchange(true)) return false;
    {
      std::lock_guard lock(mutex_);
      while (static_cast<int>(threads_.size()) < helpers) {
        const int index = static_cast<int>(threads_.size()) + 1;
        threads_.emplace_back([this, index] { loop(index); });
      }
      job_ = &fn;
      helpers_ = helpers;
      remaining_ = helpers;
      nice_ = thread_nice();
      idle_ = thread_sched_idle();
      ++generation_;
    }
    start_cv_.notify_all();
    return true;
  }

  // Waits for the started job's helpers and frees the pool.
  void wait() {
    {
      std::unique_lock lock(mutex_);
      done_cv_.wait(lock, [&] { return remaining_ == 0; });
      job_ = nullptr;
    }
    busy_ = false;
  }

 private:
  void loop(int index) {
    uint64_t seen = 0;
    int current_nice = thread_nice();
    bool current_idle = thread_sched_idle();
    for (;;) {
      const std::function<void(int)>* job = nullptr;
      int want_nice = 0;
      bool want_idle = false;
      {
        std::unique_lock lock(mutex_);
        start_cv_.wait(lock, [&] { return stop_ || (generation_ != seen && index <= helpers_); });
        if (stop_) return;
        seen = generation_;
        job = job_;
        want_nice = nice_;
        want_idle = idle_;
      }
      // Policy first: leaving SCHED_IDLE resets nothing else, and niceness applies in both.
      if (want_idle != current_idle && set_thread_sched_idle(want_idle)) current_idle = want_idle;
      if (want_nice != current_nice && set_thread_nice(want_nice)) current_nice = want_nice;
      (*job)(index);  // the job catches its own exceptions
      {
        std::lock_guard lock(mutex_);
        if (--remaining_ == 0) done_cv_.notify_one();
      }
    }
  }

  std::atomic<bool> busy_{false};
  std::mutex mutex_;
  std::condition_variable start_cv_, done_cv_;
  std::vector<std::thread> threads_;
  const std::function<void(int)>* job_ = nullptr;
  int helpers_ = 0, remaining_ = 0, nice_ = 0;
  bool idle_ = false;
  uint64_t generation_ = 0;
  bool stop_ = false;
};

HelperPool& helper_pool() {
  static HelperPool pool;
  return pool;
}

}  // namespace

int thread_nice() {
  errno = 0;
  const int nice = getpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)));
  return errno == 0 ? nice : 0;
}

bool set_thread_nice(int nice) {
  return setpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)), nice) == 0;
}

bool thread_sched_idle() { return sched_getscheduler(0) == SCHED_IDLE; }

bool set_thread_sched_idle(bool idle) {
  const sched_param param{};  // priority 0: the only one SCHED_IDLE and SCHED_OTHER take
  return sched_setscheduler(0, idle ? SCHED_IDLE : SCHED_OTHER, &param) == 0;
}

void lower_thread_priority(int nice, bool idle) {
  if (nice > 0 && !set_thread_nice(std::min(19, thread_nice() + nice)))
    log::debug("cannot lower a background thread's priority: {}", std::strerror(errno));
  if (idle && !set_thread_sched_idle(true))
    log::debug("cannot put a background thread under SCHED_IDLE: {}", std::strerror(errno));
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
  const std::function<void(int)> worker = [&](int t) {
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
  // The caller is worker 0; helpers run the others, on the pool's threads when it is free.
  auto& pool = helper_pool();
  if (pool.start(threads - 1, worker)) {
    worker(0);
    pool.wait();
  } else {
    std::vector<std::thread> fresh;
    for (int t = 1; t < threads; ++t) fresh.emplace_back(worker, t);
    worker(0);
    for (auto& th : fresh) th.join();
  }
  if (error) std::rethrow_exception(error);
}

}  // namespace streamrec
