#include "streamrec/serve/snapshot.h"

#include <span>

namespace streamrec::serve {

ServingSnapshot::ServingSnapshot(bool batch_scoring, bool batch_queries)
    : batch_scoring_(batch_scoring),
      batch_queries_(batch_queries),
      query_batches_([](std::span<QueryJob* const> batch) {
        // One retrieval_queries call per model copy in the batch (a publish in between
        // can leave two).
        std::vector<QueryJob*> left(batch.begin(), batch.end());
        while (!left.empty()) {
          const auto* model = left.front()->model;
          std::vector<uint32_t> users;
          for (const auto* j : left)
            if (j->model == model) users.push_back(j->user);
          auto queries = model->retrieval_queries(users);
          size_t k = 0;
          std::erase_if(left, [&](QueryJob* j) {
            if (j->model != model) return false;
            j->query = std::move(queries[k++]);
            return true;
          });
        }
      }) {}

void ServingSnapshot::install(std::shared_ptr<const models::Recommender> model,
                              std::shared_ptr<const models::FusionRanker> ranker) {
  std::shared_ptr<BatchScorer> scorer;
  if (model && batch_scoring_) {
    size_t dim = 0;
    auto rows = model->retrieval_items(dim);
    if (dim > 0 && rows.size() == size_t{model->num_items()} * dim)
      scorer = std::make_shared<BatchScorer>(std::move(rows), dim);
  }
  std::lock_guard lock(mutex_);
  current_ = View{std::move(model), std::move(ranker), std::move(scorer)};
}

ServingSnapshot::View ServingSnapshot::view() const {
  std::lock_guard lock(mutex_);
  return current_;
}

bool ServingSnapshot::retrieval_query(const models::Recommender& model, uint32_t user,
                                      std::vector<float>& query) const {
  if (!batch_queries_) return model.retrieval_query(user, query);
  QueryJob job{&model, user, {}};
  query_batches_.submit(job);
  query = std::move(job.query);
  return !query.empty();
}

}  // namespace streamrec::serve
