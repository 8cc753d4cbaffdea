// Exact scoring of many requests in one pass over the item matrix. Scoring every item for a
// user reads the whole matrix (100,000 items x 65 floats = 26 MB): memory-bound, once per
// request. Here a request thread that finds no pass running becomes the leader and scores
// every query queued so far, block of item rows by block, so each row is read once for all
// of them (group commit: no deliberate wait; batches form when requests overlap); the
// others wait for its result and lead the next pass.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <span>
#include <vector>

namespace streamrec::serve {

class BatchScorer {
 public:
  // `items`: row-major, items.size() / dim rows (kept in blocks of 16 rows, dimension-major
  // within a block, so that a query scores 16 rows per step).
  BatchScorer(std::vector<float> items, size_t dim);
  size_t items() const { return rows_; }
  size_t dim() const { return dim_; }
  // out[i] = dot(query, row i) for every row; query.size() == dim, out.size() >= items().
  void score(std::span<const float> query, std::span<float> out);
  // Passes run and queries scored (queries / passes is the mean batch size).
  size_t passes() const;
  size_t queries() const;

 private:
  struct Pending {
    const float* query;
    float* out;
    bool done = false;
  };
  void run(const std::vector<Pending*>& batch) const;

  std::vector<float> items_;
  size_t dim_, rows_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<Pending*> queue_;
  bool running_ = false;
  size_t passes_ = 0, queries_ = 0;
};

}  // namespace streamrec::serve
