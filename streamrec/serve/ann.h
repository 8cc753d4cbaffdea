// Approximate inner-product search over item vectors (module serve), on hnswlib's HNSW
// graph. The index is kept current from the model's published vectors: sync() adds new
// items and re-inserts the rows that changed, without a rebuild.
//
// Concurrency: hnswlib does not allow a search during an insertion, so searches share a
// reader lock and sync() takes the writer lock for at most `chunk` rows at a time; a request
// waits for one chunk at most, never for a whole sync.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <shared_mutex>
#include <span>
#include <vector>

#include "streamrec/models/recommender.h"

namespace streamrec::serve {

struct AnnOptions {
  size_t m = 32;                   // graph degree
  size_t ef_construction = 200;    // candidate list size while inserting
  size_t ef_search = 200;          // candidate list size while searching (at least k)
  size_t chunk = 64;               // rows inserted per writer-lock hold
  float change_threshold = 1e-4f;  // a row is re-inserted when an element moves more
};

class AnnIndex {
 public:
  explicit AnnIndex(size_t dim, AnnOptions options = {});
  ~AnnIndex();
  AnnIndex(const AnnIndex&) = delete;
  AnnIndex& operator=(const AnnIndex&) = delete;

  size_t dim() const { return dim_; }
  size_t size() const;
  // Brings the index up to `rows` (row i = item i, dim() floats each): inserts rows beyond
  // the indexed ones and re-inserts rows that changed since the last sync. Returns how many
  // rows were (re)inserted. One caller at a time (the maintenance thread).
  size_t sync(std::span<const float> rows);
  // The k items with the largest inner product with `query` (dim() floats), best first,
  // score = the inner product.
  std::vector<models::ScoredItem> search(std::span<const float> query, size_t k) const;

 private:
  struct Impl;
  size_t dim_;
  AnnOptions options_;
  std::unique_ptr<Impl> impl_;
  std::vector<float> indexed_;  // the rows as last inserted (sync's thread only)
  mutable std::shared_mutex mutex_;
};

}  // namespace streamrec::serve
