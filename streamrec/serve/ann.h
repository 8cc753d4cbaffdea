// Approximate inner-product search over item vectors (module serve), on hnswlib's HNSW
// graph. The index is kept current from the model's published vectors: sync() adds new
// items and re-inserts the rows that changed, without a rebuild.
//
// Concurrency: hnswlib does not allow a search during an insertion, so searches share a
// reader lock and sync() takes the writer lock for one re-inserted row at a time (and once
// for all overwritten vectors); a request waits for one row at most, never for a whole sync.
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
  size_t m = 32;                 // graph degree
  size_t ef_construction = 200;  // candidate list size while inserting
  size_t ef_search = 200;        // candidate list size while searching (at least k)
  // A re-inserted row's neighbours have their links repaired with this probability each
  // (hnswlib's updatePoint). 1 repairs them all, most of a re-insertion's cost; lower
  // values trade recall for speed (bench/README.md, "ANN").
  float repair_neighbors = 1.0f;
  float change_threshold = 1e-6f;  // a row counts as changed when an element moves more
  // A changed row is re-inserted (its graph links searched again) when it moved by more
  // than this share of its norm since it was last inserted (0.1: stale links cost recall,
  // 0.2 gave 0.943-1.0 top-20 overlap with exact search in the server test); smaller moves only
  // overwrite the stored vector (cheap), so scores stay exact while the links age a little.
  float relink_share = 0.1f;
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
  // the indexed ones, re-inserts rows that moved far, overwrites the stored vector of rows
  // that moved a little. A row of zeros (an item without a vector) is left out until it
  // gets one; size() counts the items in the graph. Returns how many rows changed. One
  // caller at a time (the maintenance thread).
  size_t sync(std::span<const float> rows);
  uint64_t relinked() const { return relinked_; }  // rows (re)inserted over all syncs
  // The k items with the largest inner product with `query` (dim() floats), best first,
  // score = the inner product.
  std::vector<models::ScoredItem> search(std::span<const float> query, size_t k) const;

 private:
  struct Impl;
  size_t dim_;
  AnnOptions options_;
  std::unique_ptr<Impl> impl_;
  std::vector<float> stored_;      // the rows as last stored (sync's thread only)
  std::vector<float> linked_;      // the rows as last inserted with links (sync's thread only)
  std::vector<uint8_t> in_graph_;  // 1: row i is in the graph (sync's thread only)
  uint64_t relinked_ = 0;
  mutable std::shared_mutex mutex_;
};

}  // namespace streamrec::serve
