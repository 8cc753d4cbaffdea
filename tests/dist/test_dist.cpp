// Scale-out on one machine: a sharded table on N ranks against one table fed every rank's
// batches, and data-parallel gradients against the whole batch's. Run under mpirun (CTest
// runs 1 and 3 ranks). Only non-fatal checks: a rank that returned early would leave the
// others waiting in a collective.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <vector>

#include "streamrec/dist/dense.h"
#include "streamrec/dist/sharded_table.h"
#include "streamrec/embedding/keys.h"
#include "tests/dist/world.h"

namespace streamrec::dist {
namespace {

using embedding::EmbeddingTable;
using embedding::make_key;
using embedding::TableConfig;

// Rank q's batch at `step`: skewed keys over two slots (duplicates within and across
// ranks), batch sizes differing by rank, gradients in [-1, 1).
void batch(int step, int q, std::vector<uint64_t>& keys, std::vector<float>& grads, uint32_t dim) {
  std::mt19937_64 rng(uint64_t(step) * 1000 + uint64_t(q));
  keys.resize(150 + 10 * size_t(q));
  for (auto& k : keys) k = make_key(1 + uint32_t(rng() % 2), (rng() % 40) * (rng() % 40));
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  grads.resize(keys.size() * dim);
  for (auto& g : grads) g = u(rng);
}

TableConfig table_config() {
  TableConfig cfg;
  cfg.dim = 8;
  cfg.optimizer.kind = embedding::OptimizerKind::kAdagrad;
  cfg.seed = 5;
  cfg.ttl_seconds = 6;  // rows unseen for 6 steps expire: eviction must agree too
  return cfg;
}

// Steps [from, to) of training on `sharded` (this rank's batches) and on `one` (every
// rank's, concatenated in rank order), checking that this rank's gathers agree bit for bit
// and that both evict as many rows.
void train_both(const Comm& comm, ShardedTable& sharded, EmbeddingTable& one, int from, int to) {
  const uint32_t d = one.dim();
  for (int step = from; step < to; ++step) {
    std::vector<uint64_t> all, mine, k;
    std::vector<float> all_grads, mine_grads, g;
    size_t begin = 0;
    for (int q = 0; q < comm.size(); ++q) {
      batch(step, q, k, g, d);
      if (step % 7 == 6 && q == 0) k.clear(), g.clear();  // a rank with nothing this step
      if (q == comm.rank()) begin = all.size(), mine = k, mine_grads = g;
      all.insert(all.end(), k.begin(), k.end());
      all_grads.insert(all_grads.end(), g.begin(), g.end());
    }
    std::vector<float> out(mine.size() * d), want(all.size() * d);
    sharded.gather_train(mine, step, out);
    one.gather_train(all, step, want);
    // (memcmp of an empty vector's null data is undefined: UBSan.)
    EXPECT_TRUE(out.empty() ||
                std::memcmp(out.data(), want.data() + begin * d, out.size() * sizeof(float)) == 0)
        << "rank " << comm.rank() << " step " << step;
    sharded.apply_gradients(mine, mine_grads, step);
    one.apply_gradients(all, all_grads, step);
    EXPECT_EQ(sharded.evict_expired(step), one.evict_expired(step)) << "step " << step;
  }
}

// The same keys with the same weights, slot by slot.
void expect_same_rows(const EmbeddingTable& a, const EmbeddingTable& b, const char* what) {
  for (uint32_t slot : {1u, 2u}) {
    std::vector<uint64_t> ka, kb;
    std::vector<float> ra, rb;
    a.export_slot(slot, ka, ra);
    b.export_slot(slot, kb, rb);
    EXPECT_EQ(ka, kb) << what << ", slot " << slot;
    EXPECT_TRUE(ra == rb) << what << ", slot " << slot;
  }
}

TEST(Dist, ShardedTableMatchesOneTableFedEveryRanksBatches) {
  const Comm& comm = *testing::g_world;
  const TableConfig cfg = table_config();
  ShardedTable sharded(comm, cfg);
  EmbeddingTable one(cfg);
  const uint32_t d = cfg.dim;
  train_both(comm, sharded, one, 0, 25);
  // Every row of the one table lives, bit for bit, on its owner and nowhere else.
  size_t owned = 0;
  for (uint32_t slot : {1u, 2u}) {
    std::vector<uint64_t> keys;
    std::vector<float> rows;
    one.export_slot(slot, keys, rows);
    std::vector<float> got(d);
    for (size_t i = 0; i < keys.size(); ++i) {
      const bool mine = sharded.owner(keys[i]) == comm.rank();
      EXPECT_EQ(sharded.local().contains(keys[i]), mine) << keys[i];
      if (!mine) continue;
      ++owned;
      sharded.local().gather(std::span<const uint64_t>(&keys[i], 1), got);
      EXPECT_EQ(std::memcmp(got.data(), &rows[i * d], d * sizeof(float)), 0) << keys[i];
    }
  }
  EXPECT_EQ(sharded.local().stats().rows, owned);
  EXPECT_EQ(sharded.stats().rows, one.stats().rows);
  EXPECT_GT(one.stats().evicted, 0u);  // the TTL did evict: the comparison above covered it
  // A serving gather of keys nobody has reads the default row and inserts nothing.
  const std::vector<uint64_t> unknown = {make_key(9, 1000 + uint64_t(comm.rank())), make_key(9, 7)};
  std::vector<float> zeros(unknown.size() * d, 1.0f);
  sharded.gather(unknown, zeros);
  for (float x : zeros) EXPECT_EQ(x, 0.0f);
  EXPECT_EQ(sharded.stats().rows, one.stats().rows);
}

TEST(Dist, DataParallelGradientsAreTheWholeBatchsGradient) {
  const Comm& comm = *testing::g_world;
  // Replicas start from different values; the broadcast makes them rank 0's.
  torch::manual_seed(100 + comm.rank());
  torch::nn::Linear replica(4, 3);
  broadcast_parameters(comm, replica->parameters());
  std::vector<float> flat;
  for (const auto& p : replica->parameters()) {
    const auto c = p.detach().contiguous();
    flat.insert(flat.end(), c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
  }
  std::vector<float> sum = flat;
  comm.all_reduce_sum(sum);
  for (size_t i = 0; i < flat.size(); ++i)
    EXPECT_NEAR(sum[i], flat[i] * comm.size(), 1e-5f * (1 + std::abs(sum[i]))) << i;
  // The same data on every rank; each rank takes its 8 rows of it.
  torch::manual_seed(7);
  const int64_t n = 8;
  const auto x = torch::randn({n * comm.size(), 4}), y = torch::randn({n * comm.size(), 3});
  torch::nn::Linear whole(4, 3);
  {
    torch::NoGradGuard no_grad;
    for (size_t i = 0; i < whole->parameters().size(); ++i)
      whole->parameters()[i].copy_(replica->parameters()[i]);
  }
  torch::mse_loss(whole(x), y).backward();
  const auto rows = torch::indexing::Slice(n * comm.rank(), n * (comm.rank() + 1));
  torch::mse_loss(replica(x.index({rows})), y.index({rows})).backward();
  average_gradients(comm, replica->parameters());
  for (size_t i = 0; i < whole->parameters().size(); ++i)
    EXPECT_TRUE(
        torch::allclose(replica->parameters()[i].grad(), whole->parameters()[i].grad(), 1e-5, 1e-6))
        << "parameter " << i << " on rank " << comm.rank();
}

TEST(Dist, CheckpointsRestoreBitForBitOnAnyNumberOfRanks) {
  const Comm& comm = *testing::g_world;
  const char* env = std::getenv("STREAMREC_DIST_TMP");
  const std::string dir =
      env ? env
          : (std::filesystem::temp_directory_path() / fmt::format("streamrec-dist-{}", comm.size()))
                .string();
  if (comm.rank() == 0) std::filesystem::remove_all(dir);
  comm.barrier();
  const TableConfig cfg = table_config();
  ShardedTable sharded(comm, cfg);
  EmbeddingTable one(cfg);
  train_both(comm, sharded, one, 0, 15);
  sharded.save(dir + "/ranks");
  if (comm.rank() == 0) {  // the one table as a checkpoint of a single shard
    std::filesystem::create_directories(dir + "/one");
    one.save_full(ShardedTable::shard_path(dir + "/one", 0, 1));
    ShardedTable::write_manifest(dir + "/one", 1, cfg.dim);
  }
  comm.barrier();
  // N ranks -> N ranks, and 1 -> N: each rank holds what the trained shard holds.
  ShardedTable back(comm, cfg), resharded(comm, cfg);
  back.load(dir + "/ranks");
  resharded.load(dir + "/one");
  expect_same_rows(back.local(), sharded.local(), "N -> N");
  expect_same_rows(resharded.local(), sharded.local(), "1 -> N");
  // N -> 1: one table merging every shard file is the one table.
  EmbeddingTable merged(cfg);
  for (int s = 0; s < comm.size(); ++s)
    merged.merge_full(ShardedTable::shard_path(dir + "/ranks", s, comm.size()),
                      [](uint64_t) { return true; });
  expect_same_rows(merged, one, "N -> 1");
  // Into a table whose time base differs (its first row seen 500 s before the checkpoint's
  // first event): last-seen times keep their event time, so the TTL evicts the same rows
  // (and that first row).
  EmbeddingTable early(cfg);
  std::vector<float> row(cfg.dim);
  early.gather_train(std::vector<uint64_t>{make_key(9, 1)}, -500, row);
  for (int s = 0; s < comm.size(); ++s)
    early.merge_full(ShardedTable::shard_path(dir + "/ranks", s, comm.size()),
                     [](uint64_t) { return true; });
  EXPECT_EQ(early.evict_expired(17), merged.evict_expired(17) + 1);
  expect_same_rows(early, merged, "N -> 1, another time base");
  // Optimizer state, update counts and last-seen times came back too: training on from
  // the restored tables goes exactly as from the originals (gathers, updates, evictions).
  EmbeddingTable one_again(cfg);
  one_again.merge_full(ShardedTable::shard_path(dir + "/one", 0, 1), [](uint64_t) { return true; });
  train_both(comm, back, one_again, 15, 25);
  train_both(comm, sharded, one, 15, 25);
  expect_same_rows(back.local(), sharded.local(), "after training on");
  expect_same_rows(one_again, one, "one table after training on");
  comm.barrier();
  if (comm.rank() == 0) std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace streamrec::dist
