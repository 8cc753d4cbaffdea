#include "streamrec/serve/ann.h"

#include <hnswlib/hnswlib.h>

#include <algorithm>
#include <cmath>
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
  const size_t n = rows.size() / dim_, known = indexed_.size() / dim_;
  std::vector<size_t> todo;
  for (size_t i = 0; i < n; ++i) {
    if (i >= known) {
      todo.push_back(i);
      continue;
    }
    const float* a = &rows[i * dim_];
    const float* b = &indexed_[i * dim_];
    for (size_t k = 0; k < dim_; ++k)
      if (std::abs(a[k] - b[k]) > options_.change_threshold) {
        todo.push_back(i);
        break;
      }
  }
  if (todo.empty()) return 0;
  if (n > impl_->graph.max_elements_) {
    std::unique_lock lock(mutex_);
    impl_->graph.resizeIndex(std::max(n, impl_->graph.max_elements_ * 2));
  }
  for (size_t start = 0; start < todo.size(); start += options_.chunk) {
    std::unique_lock lock(mutex_);
    for (size_t x = start; x < std::min(todo.size(), start + options_.chunk); ++x)
      impl_->graph.addPoint(&rows[todo[x] * dim_], todo[x]);  // an existing label: updated
  }
  indexed_.resize(n * dim_);
  for (size_t i : todo) std::copy_n(&rows[i * dim_], dim_, &indexed_[i * dim_]);
  return todo.size();
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
