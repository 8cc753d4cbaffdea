#include "streamrec/models/data_parallel.h"

#include <numeric>

#include "streamrec/core/error.h"
#include "streamrec/embedding/table.h"

namespace streamrec::models {

void DataParallel::push_gradients(std::span<const uint64_t> keys, std::span<const float> grads) {
  SR_CHECK(keys.empty() || grads.size() % keys.size() == 0, ErrorKind::kInternal,
           "push_gradients: {} floats for {} keys", grads.size(), keys.size());
  pushed_keys_.insert(pushed_keys_.end(), keys.begin(), keys.end());
  pushed_grads_.insert(pushed_grads_.end(), grads.begin(), grads.end());
}

std::vector<int> LocalShares::mine() const {
  std::vector<int> all(static_cast<size_t>(shares_));
  std::iota(all.begin(), all.end(), 0);
  return all;
}

void LocalShares::gather_rows(embedding::EmbeddingTable& shard, std::span<const uint64_t> keys,
                              bool train, std::span<float> out) {
  if (train)
    shard.gather_train(keys, 0, out);
  else
    shard.gather(keys, out);
}

void LocalShares::apply_gradients(embedding::EmbeddingTable& shard) {
  shard.apply_gradients(pushed_keys_, pushed_grads_, 0);
  pushed_keys_.clear();
  pushed_grads_.clear();
}

std::pair<size_t, size_t> share_range(size_t n, int shares, int s) {
  const auto k = static_cast<size_t>(shares), q = static_cast<size_t>(s);
  const size_t base = n / k, extra = n % k;
  const size_t begin = q * base + std::min(q, extra);
  return {begin, begin + base + (q < extra ? 1 : 0)};
}

int user_share(uint32_t user, int shares) {
  uint64_t z = user + 0x9E3779B97F4A7C15ull;  // splitmix64's finaliser
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return static_cast<int>((z ^ (z >> 31)) % static_cast<uint64_t>(shares));
}

std::vector<uint32_t> my_shares(const DataParallel* world, std::span<const uint32_t> all) {
  if (!world) return {all.begin(), all.end()};
  std::vector<uint32_t> out;
  for (const int s : world->mine()) {
    const auto [b, e] = share_range(all.size(), world->shares(), s);
    out.insert(out.end(), all.begin() + static_cast<ptrdiff_t>(b),
               all.begin() + static_cast<ptrdiff_t>(e));
  }
  return out;
}

}  // namespace streamrec::models
