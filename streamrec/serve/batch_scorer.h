// Exact scoring of many requests in one pass over the item matrix. Scoring every item for a
// user reads the whole matrix (100,000 items x 65 floats = 26 MB): memory-bound, once per
// request. Here concurrent requests are scored together (core/group_commit.h), block of
// item rows by block, so each row is read once for all of them.
#pragma once

#include <cstddef>
#include <span>
#include <vector>

#include "streamrec/core/group_commit.h"

namespace streamrec::serve {

class BatchScorer {
 public:
  // `items`: row-major, items.size() / dim rows (kept in blocks of 16 rows, dimension-major
  // within a block, so that a query scores 16 rows per step). Rows of zeros (items the model
  // has no vector for, e.g. catalog items without events) score 0 for every query; when
  // they are at least an eighth of the rows they are left out of the passes.
  BatchScorer(std::vector<float> items, size_t dim);
  size_t items() const { return rows_; }
  // Rows each pass reads (items() less the zero rows left out).
  size_t stored_rows() const { return stored_; }
  size_t dim() const { return dim_; }
  // out[i] = dot(query, row i) for every row; query.size() == dim, out.size() >= items().
  void score(std::span<const float> query, std::span<float> out);
  // Passes run and queries scored (queries / passes is the mean batch size).
  size_t passes() const { return batches_.batches(); }
  size_t queries() const { return batches_.jobs(); }

 private:
  struct Query {
    const float* query;
    float* out;
  };
  void run(std::span<Query* const> batch) const;

  std::vector<float> items_;      // the stored rows, in blocks
  std::vector<uint32_t> row_of_;  // stored row -> item row (empty: every row is stored)
  size_t dim_, rows_, stored_ = 0;
  GroupCommit<Query> batches_;
};

}  // namespace streamrec::serve
