// Group commit of jobs from many threads: a thread that submits a job and finds no batch
// running becomes the leader and runs every job queued so far in one call; the others wait
// for it and lead the next batch. There is no deliberate wait: batches form when requests
// overlap (under load), and a job submitted alone runs at once, by its own thread. Used where
// one call for n jobs costs much less than n calls (a pass over the item matrix, a batched
// network forward).
#pragma once

#include <condition_variable>
#include <cstddef>
#include <exception>
#include <functional>
#include <mutex>
#include <span>
#include <utility>
#include <vector>

namespace streamrec {

template <class Job>
class GroupCommit {
 public:
  // `run` does every job of a batch; it runs on the leader's thread, never twice at once.
  explicit GroupCommit(std::function<void(std::span<Job* const>)> run) : run_(std::move(run)) {}

  // Returns when `job` is done, alone or in a batch; rethrows what its batch's run threw.
  void submit(Job& job) {
    Entry mine{&job, nullptr};
    std::unique_lock lock(mutex_);
    queue_.push_back(&mine);
    while (!mine.done) {
      if (running_) {
        cv_.wait(lock);
        continue;
      }
      running_ = true;
      std::vector<Entry*> batch;
      batch.swap(queue_);
      lock.unlock();
      std::vector<Job*> jobs;
      jobs.reserve(batch.size());
      for (auto* e : batch) jobs.push_back(e->job);
      std::exception_ptr error;
      try {
        run_(jobs);
      } catch (...) {
        error = std::current_exception();
      }
      lock.lock();
      for (auto* e : batch) {
        e->error = error;
        e->done = true;
      }
      running_ = false;
      ++batches_;
      jobs_ += batch.size();
      cv_.notify_all();
    }
    if (mine.error) std::rethrow_exception(mine.error);
  }

  // Batches run and jobs done (jobs / batches is the mean batch size).
  size_t batches() const {
    std::lock_guard lock(mutex_);
    return batches_;
  }
  size_t jobs() const {
    std::lock_guard lock(mutex_);
    return jobs_;
  }

 private:
  struct Entry {
    Job* job;
    std::exception_ptr error;
    bool done = false;
  };

  std::function<void(std::span<Job* const>)> run_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<Entry*> queue_;
  bool running_ = false;
  size_t batches_ = 0, jobs_ = 0;
};

}  // namespace streamrec
