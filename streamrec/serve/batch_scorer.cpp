#include "streamrec/serve/batch_scorer.h"

#include <algorithm>
#include <cstring>

#include "streamrec/core/error.h"
#include "streamrec/core/simd.h"

namespace streamrec::serve {
namespace {
constexpr size_t kLanes = 16;  // rows per block of the item matrix
}  // namespace

BatchScorer::BatchScorer(std::vector<float> items, size_t dim)
    : dim_(dim),
      rows_(dim == 0 ? 0 : items.size() / dim),
      batches_([this](std::span<Query* const> batch) { run(batch); }) {
  SR_ASSERT(dim > 0 && items.size() % dim == 0);
  for (size_t r = 0; r < rows_; ++r) {
    const float* row = items.data() + r * dim_;
    if (std::any_of(row, row + dim_, [](float x) { return x != 0.0f; }))
      row_of_.push_back(static_cast<uint32_t>(r));
  }
  if (row_of_.size() + rows_ / 8 > rows_) row_of_.clear();  // few zero rows: keep them all
  stored_ = row_of_.empty() ? rows_ : row_of_.size();
  // Blocks of kLanes rows, dimension-major within a block: element d of stored row s sits
  // at block(s) * kLanes * dim + d * kLanes + s % kLanes; the last block is padded with zeros.
  items_.assign((stored_ + kLanes - 1) / kLanes * kLanes * dim_, 0.0f);
  for (size_t s = 0; s < stored_; ++s) {
    const size_t r = row_of_.empty() ? s : row_of_[s];
    float* dst = items_.data() + s / kLanes * kLanes * dim_ + s % kLanes;
    for (size_t d = 0; d < dim_; ++d) dst[d * kLanes] = items[r * dim_ + d];
  }
}

void BatchScorer::score(std::span<const float> query, std::span<float> out) {
  SR_ASSERT(query.size() == dim_ && out.size() >= rows_);
  Query mine{query.data(), out.data()};
  batches_.submit(mine);
}

namespace {

using Lanes = float __attribute__((vector_size(kLanes * sizeof(float))));

// out[r] = query . row r for the rows of `blocks` blocks (dimension-major, kLanes rows each):
// each step multiplies one query value into kLanes rows at once, with no horizontal sums
// (a row-major dot product per row ended in one, ~20 cycles a row at dim 32). Four blocks
// at a time keep four addition chains in flight. One copy per instruction set, picked at
// load time (the portable build only assumes SSE2).
SR_PER_ISA void score_blocks(const float* query, const float* items, size_t blocks, size_t dim,
                             float* out) {
  const size_t stride = kLanes * dim;
  size_t b = 0;
  for (; b + 4 <= blocks; b += 4) {
    const float* p = items + b * stride;
    Lanes a0 = {}, a1 = {}, a2 = {}, a3 = {};
    for (size_t d = 0; d < dim; ++d) {
      Lanes x0, x1, x2, x3;
      std::memcpy(&x0, p + d * kLanes, sizeof x0);
      std::memcpy(&x1, p + stride + d * kLanes, sizeof x1);
      std::memcpy(&x2, p + 2 * stride + d * kLanes, sizeof x2);
      std::memcpy(&x3, p + 3 * stride + d * kLanes, sizeof x3);
      const float q = query[d];
      a0 += q * x0;
      a1 += q * x1;
      a2 += q * x2;
      a3 += q * x3;
    }
    std::memcpy(out + b * kLanes, &a0, sizeof a0);
    std::memcpy(out + (b + 1) * kLanes, &a1, sizeof a1);
    std::memcpy(out + (b + 2) * kLanes, &a2, sizeof a2);
    std::memcpy(out + (b + 3) * kLanes, &a3, sizeof a3);
  }
  for (; b < blocks; ++b) {
    const float* p = items + b * stride;
    Lanes a = {};
    for (size_t d = 0; d < dim; ++d) {
      Lanes x;
      std::memcpy(&x, p + d * kLanes, sizeof x);
      a += query[d] * x;
    }
    std::memcpy(out + b * kLanes, &a, sizeof a);
  }
}

}  // namespace

void BatchScorer::run(std::span<Query* const> batch) const {
  // Stored rows' scores go to the query's output, or (zero rows left out) to a scratch row
  // per query, scattered afterwards.
  std::vector<std::vector<float>> scratch(row_of_.empty() ? 0 : batch.size());
  for (auto& s : scratch) s.resize(stored_);
  auto dst = [&](size_t q) { return scratch.empty() ? batch[q]->out : scratch[q].data(); };
  // Spans of blocks small enough to stay in L2 while every query reads them. Whole blocks
  // are scored into `tail` where they would write past a query's last row.
  const size_t blocks = (stored_ + kLanes - 1) / kLanes;
  const size_t span = std::max<size_t>(4, (64 << 10) / (kLanes * dim_ * sizeof(float)));
  alignas(64) float tail[kLanes];
  for (size_t b0 = 0; b0 < blocks; b0 += span) {
    const size_t b1 = std::min(blocks, b0 + span);
    const size_t full = std::min(b1, stored_ / kLanes);  // blocks with every row in range
    for (size_t q = 0; q < batch.size(); ++q) {
      const float* block0 = items_.data() + b0 * kLanes * dim_;
      float* out = dst(q);
      if (full > b0) score_blocks(batch[q]->query, block0, full - b0, dim_, out + b0 * kLanes);
      if (full < b1) {  // the padded last block
        score_blocks(batch[q]->query, items_.data() + full * kLanes * dim_, 1, dim_, tail);
        std::copy_n(tail, stored_ - full * kLanes, out + full * kLanes);
      }
    }
  }
  for (size_t q = 0; q < scratch.size(); ++q) {
    float* out = batch[q]->out;
    std::fill_n(out, rows_, 0.0f);
    for (size_t s = 0; s < stored_; ++s) out[row_of_[s]] = scratch[q][s];
  }
}

}  // namespace streamrec::serve
