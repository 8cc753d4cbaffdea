#include "streamrec/dist/data_parallel.h"

#include <chrono>

#include "streamrec/dist/sharded_table.h"
#include "streamrec/embedding/table.h"

namespace streamrec::dist {
namespace {

// Adds the seconds `fn` takes to `seconds`.
template <typename Fn>
void timed(double& seconds, Fn&& fn) {
  const auto t0 = std::chrono::steady_clock::now();
  fn();
  seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// The bytes an all-reduce of `bytes` sends from one rank (a ring: 2 (N-1)/N of them).
uint64_t reduce_bytes(size_t bytes, int ranks) {
  return ranks <= 1 ? 0
                    : 2 * bytes * static_cast<uint64_t>(ranks - 1) / static_cast<uint64_t>(ranks);
}

}  // namespace

void RankShares::sum(std::span<float> values) {
  timed(traffic_.comm_seconds, [&] { comm_.all_reduce_sum(values); });
  traffic_.reduce_bytes += reduce_bytes(values.size_bytes(), comm_.size());
}

void RankShares::sum(std::span<double> values) {
  timed(traffic_.comm_seconds, [&] { comm_.all_reduce_sum(values); });
  traffic_.reduce_bytes += reduce_bytes(values.size_bytes(), comm_.size());
}

double RankShares::from_root(double value) {
  timed(traffic_.comm_seconds, [&] { comm_.broadcast(std::span<double>(&value, 1)); });
  return value;
}

void RankShares::from_root(std::string& bytes) {
  timed(traffic_.comm_seconds, [&] { comm_.broadcast(bytes); });
  if (root()) traffic_.call_bytes += bytes.size();
}

void RankShares::gather_rows(embedding::EmbeddingTable& shard, std::span<const uint64_t> keys,
                             bool train, std::span<float> out) {
  ShardedTable table(comm_, shard);
  timed(traffic_.comm_seconds, [&] {
    if (train)
      table.gather_train(keys, 0, out);
    else
      table.gather(keys, out);
  });
  traffic_.row_bytes += table.sent().keys + table.sent().rows;
}

void RankShares::apply_gradients(embedding::EmbeddingTable& shard) {
  ShardedTable table(comm_, shard);
  timed(traffic_.comm_seconds, [&] { table.apply_gradients(pushed_keys_, pushed_grads_, 0); });
  traffic_.gradient_bytes += table.sent().keys + table.sent().gradients;
  pushed_keys_.clear();
  pushed_grads_.clear();
}

void RankShares::unshard(embedding::EmbeddingTable& shard) {
  std::vector<std::string> shards;
  timed(traffic_.comm_seconds, [&] { shards = comm_.all_gather(shard.save_full_bytes()); });
  shard.clear();
  for (size_t r = 0; r < shards.size(); ++r)
    shard.merge_full_bytes(shards[r], "rank " + std::to_string(r) + "'s shard",
                           [](uint64_t) { return true; });
}

void RankShares::to_root(embedding::EmbeddingTable& shard) {
  std::string changed;
  if (!root()) {
    changed = shard.save_delta_bytes();
    shard.mark();
    traffic_.root_bytes += changed.size();
  }
  std::vector<std::string> deltas;
  timed(traffic_.comm_seconds, [&] { deltas = comm_.gather(changed); });
  for (size_t r = 1; r < deltas.size(); ++r)
    shard.merge_delta_bytes(deltas[r], "rank " + std::to_string(r) + "'s changed rows");
}

}  // namespace streamrec::dist
