// The sharded embedding table's training step against one local table: every rank runs
// gather_train + Adagrad apply_gradients on batches of 4,096 uniformly random keys of a
// 1M-key table (dim 64), 200 batches after 50 untimed. Rank 0 first times the same step on a
// local EmbeddingTable of the same keys, alone (the other ranks wait at a barrier). Prints
// per-rank and total rows/s as JSON lines from rank 0.
//
//   mpirun -np N build/bench/bench_dist [keys=1000000]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "streamrec/dist/comm.h"
#include "streamrec/dist/sharded_table.h"
#include "streamrec/embedding/keys.h"

using namespace streamrec;
using Clock = std::chrono::steady_clock;

namespace {

constexpr size_t kBatch = 4096, kBatches = 200, kWarm = 50;
constexpr uint32_t kDim = 64;

// Batch b of this rank's stream: uniformly random keys of the table.
void keys_of(uint64_t n, int rank, size_t b, std::vector<uint64_t>& keys) {
  std::mt19937_64 rng(b * 7919 + uint64_t(rank));
  keys.resize(kBatch);
  for (auto& k : keys) k = embedding::make_key(1, rng() % n);
}

// Seconds of `batches` training steps of `step(keys)`.
template <typename Step>
double run(uint64_t n, int rank, Step&& step) {
  std::vector<uint64_t> keys;
  for (size_t b = 0; b < kWarm; ++b) keys_of(n, rank, b, keys), step(keys);
  const auto t0 = Clock::now();
  for (size_t b = 0; b < kBatches; ++b) keys_of(n, rank, kWarm + b, keys), step(keys);
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  dist::Comm comm(&argc, &argv);
  const uint64_t n = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 1000000;
  embedding::TableConfig cfg;
  cfg.dim = kDim;
  cfg.optimizer.kind = embedding::OptimizerKind::kAdagrad;
  std::vector<float> out(kBatch * kDim), grads(kBatch * kDim, 0.01f);
  std::vector<uint64_t> all(n);
  for (uint64_t i = 0; i < n; ++i) all[i] = embedding::make_key(1, i);

  double local_s = 0;
  if (comm.rank() == 0) {
    embedding::EmbeddingTable local(cfg);
    std::vector<float> rows(n * kDim);
    local.gather_train(all, 0, rows);
    local_s = run(n, 0, [&](const std::vector<uint64_t>& keys) {
      local.gather_train(keys, 1, out);
      local.apply_gradients(keys, grads, 1);
    });
  }
  comm.barrier();

  dist::ShardedTable table(comm, cfg);
  {  // every key admitted: each rank inserts its slice of them
    const uint64_t per = (n + comm.size() - 1) / comm.size();
    const uint64_t from = std::min<uint64_t>(n, per * comm.rank()), to = std::min(n, from + per);
    std::vector<float> rows((to - from) * kDim);
    table.gather_train(std::span<const uint64_t>(all.data() + from, to - from), 0, rows);
  }
  const double sharded_s = run(n, comm.rank(), [&](const std::vector<uint64_t>& keys) {
    table.gather_train(keys, 1, out);
    table.apply_gradients(keys, grads, 1);
  });
  std::vector<float> rates = {float(kBatch * kBatches / sharded_s)};
  std::vector<float> total = rates;
  comm.all_reduce_sum(total);
  if (comm.rank() == 0) {
    const double local_rate = kBatch * kBatches / local_s;
    std::printf(
        "{\"bench\": \"dist_gather_adagrad\", \"keys\": %llu, \"ranks\": %d, "
        "\"local_rows_per_s\": %.4g, \"sharded_rows_per_s_rank0\": %.4g, "
        "\"sharded_rows_per_s_total\": %.4g, \"total_over_local\": %.3f}\n",
        static_cast<unsigned long long>(n), comm.size(), local_rate, double(rates[0]),
        double(total[0]), total[0] / local_rate);
  }
  return 0;
}
