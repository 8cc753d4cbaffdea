#include "streamrec/serve/ann.h"

#include <hnswlib/hnswlib.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <mutex>

#include "streamrec/core/error.h"

namespace streamrec::serve {

struct AnnIndex::Impl {
  hnswlib::InnerProductSpace space;
  hnswlib::HierarchicalNSW<float> graph;
  Impl(size_t dim, const AnnOptions& o)
      : space(dim), graph(&space, 1024, o.m, o.ef_construction, /*random_seed=*/100) {
    graph.setEf(o.ef_search);
  }
};

AnnIndex::AnnIndex(size_t dim, AnnOptions options)
    : dim_(dim), options_(options), impl_(std::make_unique<Impl>(dim, options)) {
  SR_INPUT_CHECK(dim > 0, "ANN index: dimension must be positive");
}

AnnIndex::~AnnIndex() = default;

size_t AnnIndex::size() const {
  std::shared_lock lock(mutex_);
  return impl_->graph.cur_element_count;
}

size_t AnnIndex::sync(std::span<const float> rows) {
  SR_CHECK(rows.size() % dim_ == 0, ErrorKind::kInternal, "ANN sync: {} floats is not rows of {}",
           rows.size(), dim_);
  const size_t n = rows.size() / dim_, known = stored_.size() / dim_;
  std::vector<size_t> relink, overwrite;
  in_graph_.resize(n, 0);
  for (size_t i = 0; i < n; ++i) {
    const float* a = &rows[i * dim_];
    if (i >= known || !in_graph_[i]) {
      // A row of zeros (an item the model has no vector for yet) stays out of the graph: it
      // scores 0 against every query, and tens of thousands of identical points would make
      // every insertion and search wade through them.
      if (std::any_of(a, a + dim_, [](float x) { return x != 0.0f; })) relink.push_back(i);
      continue;
    }
    const float* b = &stored_[i * dim_];
    bool changed = false;
    for (size_t k = 0; k < dim_ && !changed; ++k)
      changed = std::abs(a[k] - b[k]) > options_.change_threshold;
    if (!changed) continue;
    const float* l = &linked_[i * dim_];
    float moved = 0, norm = 0;
    for (size_t k = 0; k < dim_; ++k) {
      moved += (a[k] - l[k]) * (a[k] - l[k]);
      norm += l[k] * l[k];
    }
    (moved > options_.relink_share * options_.relink_share * norm ? relink : overwrite)
        .push_back(i);
  }
  if (relink.empty() && overwrite.empty()) return 0;
  auto& g = impl_->graph;
  if (n > g.max_elements_) {
    std::unique_lock lock(mutex_);
    g.resizeIndex(std::max(n, g.max_elements_ * 2));
  }
  if (!overwrite.empty()) {
    std::unique_lock lock(mutex_);  // a memcpy per row: one short hold for all
    for (size_t i : overwrite)
      std::memcpy(g.getDataByInternalId(g.label_lookup_.at(i)), &rows[i * dim_],
                  dim_ * sizeof(float));
  }
  // The writer lock per row: a re-insertion takes most of a millisecond (855 us on 27,620
  // items of 33 dims, bench_ann), and holding it over 16 of them was a 14 ms wait that
  // showed in the load benchmark's p99.
  for (size_t i : relink) {
    std::unique_lock lock(mutex_);
    if (const auto it = g.label_lookup_.find(i); it != g.label_lookup_.end())
      g.updatePoint(&rows[i * dim_], it->second, options_.repair_neighbors);
    else
      g.addPoint(&rows[i * dim_], i);
  }
  relinked_ += relink.size();
  for (size_t i : relink) in_graph_[i] = 1;
  stored_.resize(n * dim_);
  linked_.resize(n * dim_);
  for (size_t i : overwrite) std::copy_n(&rows[i * dim_], dim_, &stored_[i * dim_]);
  for (size_t i : relink) {
    std::copy_n(&rows[i * dim_], dim_, &stored_[i * dim_]);
    std::copy_n(&rows[i * dim_], dim_, &linked_[i * dim_]);
  }
  return relink.size() + overwrite.size();
}

std::vector<models::ScoredItem> AnnIndex::search(std::span<const float> query, size_t k) const {
  SR_CHECK(query.size() == dim_, ErrorKind::kInternal, "ANN search: query of {} floats, index {}",
           query.size(), dim_);
  std::vector<models::ScoredItem> out;
  std::shared_lock lock(mutex_);
  if (impl_->graph.cur_element_count == 0 || k == 0) return out;
  auto found = impl_->graph.searchKnn(query.data(), std::min(k, impl_->graph.cur_element_count));
  lock.unlock();
  out.resize(found.size());
  // The queue pops the farthest first; the distance is 1 - inner product.
  for (size_t x = out.size(); x-- > 0; found.pop()) {
    out[x].item = static_cast<uint32_t>(found.top().second);
    out[x].score = 1.0f - found.top().first;
  }
  return out;
}

}  // namespace streamrec::serve
