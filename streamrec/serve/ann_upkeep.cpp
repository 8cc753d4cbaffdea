#include "streamrec/serve/ann_upkeep.h"

#include <algorithm>
#include <chrono>

#include "streamrec/core/log.h"
#include "streamrec/core/parallel.h"

namespace streamrec::serve {

AnnUpkeep::AnnUpkeep(AnnOptions options, uint32_t min_items, int nice, bool idle)
    : options_(options), min_items_(min_items) {
  thread_ = std::thread([this, nice, idle] { loop(nice, idle); });
}

AnnUpkeep::~AnnUpkeep() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void AnnUpkeep::offer(std::shared_ptr<const models::Recommender> copy) {
  {
    std::lock_guard lock(mutex_);
    pending_ = std::move(copy);
  }
  cv_.notify_one();
}

void AnnUpkeep::ids_rebuilt() {
  std::lock_guard lock(mutex_);
  ++ids_epoch_;
}

std::shared_ptr<AnnIndex> AnnUpkeep::index() const {
  std::lock_guard lock(mutex_);
  return index_epoch_ == ids_epoch_ ? index_ : nullptr;
}

bool AnnUpkeep::usable(uint32_t num_items) const {
  return num_items >= min_items_ && index() != nullptr;
}

AnnUpkeep::Status AnnUpkeep::status() const {
  std::lock_guard lock(mutex_);
  Status s;
  s.items = index_ && index_epoch_ == ids_epoch_ ? index_->size() : 0;
  s.updates = updates_;
  s.current = s.items > 0 && !pending_ && !busy_;
  return s;
}

void AnnUpkeep::loop(int nice, bool idle) {
  lower_thread_priority(nice, idle);
  for (;;) {
    std::shared_ptr<const models::Recommender> model;
    std::shared_ptr<AnnIndex> index;
    uint64_t epoch = 0;
    {
      std::unique_lock lock(mutex_);
      cv_.wait(lock, [&] { return stopping_ || pending_ != nullptr; });
      if (stopping_) return;
      model = std::move(pending_);
      pending_ = nullptr;
      busy_ = true;
      epoch = ids_epoch_;
      if (epoch == index_epoch_) index = index_;  // else ids were rebuilt: start over
    }
    if (model->num_items() >= min_items_) {
      try {
        sync(*model, std::move(index), epoch);
      } catch (const std::exception& e) {
        log::error("serve: ANN index update failed: {}", e.what());
      }
    }
    std::lock_guard lock(mutex_);
    busy_ = false;
  }
}

void AnnUpkeep::sync(const models::Recommender& model, std::shared_ptr<AnnIndex> index,
                     uint64_t epoch) {
  size_t dim = 0;
  const auto rows = model.retrieval_items(dim);
  if (dim == 0) return;
  const bool fresh = !index || index->dim() != dim;
  if (fresh) index = std::make_shared<AnnIndex>(dim, options_);
  const auto t0 = std::chrono::steady_clock::now();
  const size_t n = index->sync(rows);
  updates_ += n;
  if (!fresh) return;
  // A new index is used only once it holds every item (a first build takes seconds).
  {
    std::lock_guard lock(mutex_);
    index_ = index;
    index_epoch_ = epoch;
  }
  log::info("serve: ANN index built over {} items ({} dims) in {:.1f} s", n, dim,
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
}

std::optional<std::vector<models::ScoredItem>> AnnUpkeep::search(
    std::span<const float> query, size_t n, uint32_t num_items,
    const std::vector<uint32_t>& exclude, const ItemOk& ok) const {
  const auto index = num_items >= min_items_ ? this->index() : nullptr;
  if (!index || query.size() != index->dim()) return std::nullopt;
  // Ask for more until enough pass the exclusions and filters (or the index is exhausted).
  const size_t size = index->size();
  std::vector<models::ScoredItem> out;
  for (size_t k = std::min(size, std::max<size_t>(2 * n + exclude.size(), 64));;
       k = std::min(size, k * 4)) {
    out.clear();
    for (const auto& s : index->search(query, k))
      if (s.item < num_items && !std::binary_search(exclude.begin(), exclude.end(), s.item) &&
          ok(s.item)) {
        out.push_back(s);
        if (out.size() == n) return out;
      }
    if (k >= size) return out;
  }
}

}  // namespace streamrec::serve
