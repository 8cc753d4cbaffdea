// ANN upkeep (module serve): keeps an AnnIndex in step with the published serving copies.
// A background thread takes the newest offered copy (older offers are skipped) and syncs
// the index to its retrieval vectors; a first build is used only once it holds every item.
// When the item numbering changes (ids rebuilt), the index is void until rebuilt.
//
// Thread-safety: every member may be called from any thread; one lock guards the index
// pointer, the inbox and the epochs, and is never held while syncing or searching (the
// index has its own lock). It takes no other lock.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <thread>
#include <vector>

#include "streamrec/models/recommender.h"
#include "streamrec/serve/ann.h"
#include "streamrec/serve/candidates.h"

namespace streamrec::serve {

class AnnUpkeep {
 public:
  // Copies with fewer than `min_items` items get no index. The thread runs at lowered
  // priority (`nice`, `idle`: see lower_thread_priority).
  AnnUpkeep(AnnOptions options, uint32_t min_items, int nice, bool idle);
  ~AnnUpkeep();  // stops the thread (a running sync finishes first)
  AnnUpkeep(const AnnUpkeep&) = delete;
  AnnUpkeep& operator=(const AnnUpkeep&) = delete;

  // The newest serving copy; the thread syncs the index to it.
  void offer(std::shared_ptr<const models::Recommender> copy);
  // Item numbers changed: the index is void until rebuilt from the next offered copy.
  void ids_rebuilt();
  // Whether an index of the current item numbering serves a model of `num_items` items.
  bool usable(uint32_t num_items) const;
  // The best `n` items by inner product with `query` that are below `num_items`, not in
  // `exclude` (sorted) and pass `ok`; nullopt when no usable index has the query's width.
  std::optional<std::vector<models::ScoredItem>> search(std::span<const float> query, size_t n,
                                                        uint32_t num_items,
                                                        const std::vector<uint32_t>& exclude,
                                                        const ItemOk& ok) const;
  struct Status {
    size_t items = 0;      // in the usable index (0: none)
    uint64_t updates = 0;  // rows (re)inserted over all syncs
    bool current = false;  // the index holds the newest offered copy's vectors
  };
  Status status() const;

 private:
  void loop(int nice, bool idle);
  void sync(const models::Recommender& model, std::shared_ptr<AnnIndex> index, uint64_t epoch);
  std::shared_ptr<AnnIndex> index() const;  // usable under the current numbering, or null

  const AnnOptions options_;
  const uint32_t min_items_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::shared_ptr<AnnIndex> index_;
  std::shared_ptr<const models::Recommender> pending_;
  uint64_t ids_epoch_ = 0, index_epoch_ = 0;  // the index is usable when they are equal
  bool busy_ = false;                         // a sync is running
  bool stopping_ = false;
  std::atomic<uint64_t> updates_{0};
  std::thread thread_;
};

}  // namespace streamrec::serve
