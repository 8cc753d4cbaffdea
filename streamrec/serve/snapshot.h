// The serving snapshot (module serve): what queries read. The published model copy, the
// fusion ranker published with it, and a batch scorer over the copy's retrieval vectors are
// installed together and read together, so a query never mixes two publishes. A query's
// retrieval vector is computed in one batch with the concurrent queries' (GroupCommit).
//
// Thread-safety: every member may be called from any thread. One lock guards the three
// pointers and is held only to copy them (shared_ptr: a copy lives while a query uses it);
// it takes no other lock.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "streamrec/core/group_commit.h"
#include "streamrec/models/ranker.h"
#include "streamrec/models/recommender.h"
#include "streamrec/serve/batch_scorer.h"

namespace streamrec::serve {

class ServingSnapshot {
 public:
  struct View {
    std::shared_ptr<const models::Recommender> model;  // null: nothing published
    std::shared_ptr<const models::FusionRanker> ranker;
    std::shared_ptr<BatchScorer> scorer;  // over model's retrieval vectors (or null)
  };
  // `batch_scoring`: build a BatchScorer for each installed copy that has retrieval
  // vectors. `batch_queries`: compute retrieval queries in batches across threads.
  ServingSnapshot(bool batch_scoring, bool batch_queries);

  // Makes `model` (null: none) and `ranker` what queries read from now on.
  void install(std::shared_ptr<const models::Recommender> model,
               std::shared_ptr<const models::FusionRanker> ranker);
  View view() const;
  std::shared_ptr<const models::Recommender> model() const { return view().model; }
  // `model`'s retrieval query for `user` (Recommender::retrieval_query); false if it has none.
  bool retrieval_query(const models::Recommender& model, uint32_t user,
                       std::vector<float>& query) const;
  uint64_t query_jobs() const { return query_batches_.jobs(); }
  uint64_t query_batches() const { return query_batches_.batches(); }

 private:
  struct QueryJob {
    const models::Recommender* model;
    uint32_t user;
    std::vector<float> query;  // empty: the model has none for this user
  };
  const bool batch_scoring_, batch_queries_;
  mutable GroupCommit<QueryJob> query_batches_;
  mutable std::mutex mutex_;
  View current_;
};

}  // namespace streamrec::serve
