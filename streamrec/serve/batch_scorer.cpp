#include "streamrec/serve/batch_scorer.h"

#include <algorithm>

#include "streamrec/core/error.h"
#include "streamrec/core/simd.h"

namespace streamrec::serve {
BatchScorer::BatchScorer(std::vector<float> items, size_t dim)
    : items_(std::move(items)), dim_(dim), rows_(dim == 0 ? 0 : items_.size() / dim) {
  SR_ASSERT(dim > 0 && items_.size() % dim == 0);
}

void BatchScorer::score(std::span<const float> query, std::span<float> out) {
  SR_ASSERT(query.size() == dim_ && out.size() >= rows_);
  Pending mine{query.data(), out.data()};
  std::unique_lock lock(mutex_);
  queue_.push_back(&mine);
  while (!mine.done) {
    if (running_) {
      cv_.wait(lock);
      continue;
    }
    // Lead a pass for everything queued (this request included).
    running_ = true;
    std::vector<Pending*> batch;
    batch.swap(queue_);
    lock.unlock();
    run(batch);
    lock.lock();
    for (auto* p : batch) p->done = true;
    running_ = false;
    ++passes_;
    queries_ += batch.size();
    cv_.notify_all();
  }
}

namespace {

// out[r] = query . rows[r] for n rows; one copy per instruction set, picked at load time,
// so the dot products run on AVX2/AVX-512 where the CPU has them (the portable build only
// assumes SSE2).
SR_PER_ISA void score_rows(const float* query, const float* rows, size_t n, size_t dim,
                           float* out) {
  for (size_t r = 0; r < n; ++r) out[r] = dot(query, rows + r * dim, dim);
}

}  // namespace

void BatchScorer::run(const std::vector<Pending*>& batch) const {
  // Blocks of rows small enough to stay in L2 while every query reads them.
  const size_t block = std::max<size_t>(1, (64 << 10) / (dim_ * sizeof(float)));
  for (size_t r0 = 0; r0 < rows_; r0 += block) {
    const size_t r1 = std::min(rows_, r0 + block);
    for (const auto* p : batch)
      score_rows(p->query, items_.data() + r0 * dim_, r1 - r0, dim_, p->out + r0);
  }
}

size_t BatchScorer::passes() const {
  std::lock_guard lock(mutex_);
  return passes_;
}

size_t BatchScorer::queries() const {
  std::lock_guard lock(mutex_);
  return queries_;
}

}  // namespace streamrec::serve
