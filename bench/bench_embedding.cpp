// Embedding-table benchmark (one thread, dim 64, batches of 4096): gather rate against a
// plain dense-array gather of the same rows (the memory-bound limit) and against
// std::unordered_map<uint64_t, std::vector<float>>; gather + Adagrad (and row-wise Adagrad)
// update rate; bytes per row. Rates are the best of 5 passes of 200 batches. Key streams:
// uniform and Zipf(1.1) over the table's keys. Prints one JSON object per line.
//
// Usage: bench_embedding [keys,keys,...] [only]
//   keys: table sizes (default 1000000,10000000); only: run just the measurements whose
//   name contains it (e.g. "adagrad"), with 20 passes, for profiling.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include <fmt/format.h>
#include <sys/mman.h>

#include "streamrec/embedding/keys.h"
#include "streamrec/embedding/table.h"

using namespace streamrec::embedding;

namespace {

constexpr uint32_t kDim = 64;
constexpr size_t kBatch = 4096;
constexpr size_t kBatches = 200;

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Row indices 0..n-1 drawn uniformly or by Zipf(s) over a random permutation of ranks.
std::vector<uint32_t> make_stream(uint64_t n, bool zipf, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<uint32_t> out(kBatch * kBatches);
  if (!zipf) {
    for (auto& x : out) x = static_cast<uint32_t>(rng() % n);
    return out;
  }
  std::vector<double> cdf(n);
  double acc = 0;
  for (uint64_t r = 0; r < n; ++r) cdf[r] = (acc += 1.0 / std::pow(r + 1.0, 1.1));
  std::uniform_real_distribution<double> u(0, acc);
  for (auto& x : out) {
    const uint64_t rank = std::lower_bound(cdf.begin(), cdf.end(), u(rng)) - cdf.begin();
    x = static_cast<uint32_t>(mix64(rank) % n);  // scatter hot ranks over the table
  }
  return out;
}

// Zeroed floats in their own mapping, asked to be transparent huge pages (as the table's
// rows are): random rows then miss the TLB about as rarely as the table's do.
struct HugeFloats {
  explicit HugeFloats(size_t n)
      : bytes((n * sizeof(float) + (2 << 20) - 1) & ~size_t{(2 << 20) - 1}) {
    void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    madvise(p, bytes, MADV_HUGEPAGE);
    data = static_cast<float*>(p);
  }
  ~HugeFloats() { munmap(data, bytes); }
  HugeFloats(const HugeFloats&) = delete;
  HugeFloats& operator=(const HugeFloats&) = delete;
  size_t bytes;
  float* data;
};

std::string g_only;  // run only the measurements whose name contains this

// The best of several passes over the stream: the machine is shared, and a pass that a
// neighbour slowed down says nothing about the code.
template <typename Fn>
double rows_per_second(const char* name, const std::vector<uint32_t>& stream, Fn&& gather_batch) {
  if (!g_only.empty() && std::string(name).find(g_only) == std::string::npos) return 0;
  gather_batch(stream.data());                 // warm-up
  const int passes = g_only.empty() ? 5 : 20;  // profiling: a longer loop
  double best = 0;
  for (int pass = 0; pass < passes; ++pass) {
    const double t0 = now_s();
    for (size_t b = 0; b < kBatches; ++b) gather_batch(stream.data() + b * kBatch);
    best = std::max(best, static_cast<double>(kBatch * kBatches) / (now_s() - t0));
  }
  return best;
}

void print(const std::string& bench, uint64_t n, const char* stream, double value, const char* unit,
           double ratio = -1, const char* ratio_of = "") {
  if (ratio >= 0)
    fmt::print(
        "{{\"bench\":\"{}\",\"keys\":{},\"stream\":\"{}\",\"value\":{:.4g},\"unit\":\"{}\","
        "\"ratio\":{:.3f},\"ratio_of\":\"{}\"}}\n",
        bench, n, stream, value, unit, ratio, ratio_of);
  else
    fmt::print(
        "{{\"bench\":\"{}\",\"keys\":{},\"stream\":\"{}\",\"value\":{:.4g},\"unit\":\"{}\"}}\n",
        bench, n, stream, value, unit);
  std::fflush(stdout);
}

void run(uint64_t n) {
  std::vector<uint64_t> keys(n);
  for (uint64_t i = 0; i < n; ++i) keys[i] = make_key(1, mix64(i) & kIndexMask);
  std::vector<float> out(kBatch * kDim);
  std::vector<uint64_t> batch_keys(kBatch);
  std::vector<float> grads(kBatch * kDim, 0.01f);

  // Dense baseline: rows of n x dim floats.
  std::vector<float> dense(n * kDim);
  for (size_t i = 0; i < dense.size(); ++i) dense[i] = static_cast<float>(i % 97);
  // The training baseline: each row's weights and Adagrad accumulators side by side (512
  // bytes, 8 whole cache lines), in transparent huge pages.
  HugeFloats dense_train(n * 2 * kDim);
  for (size_t i = 0; i < n; ++i)
    std::fill_n(dense_train.data + i * 2 * kDim, kDim, static_cast<float>(i % 97));

  TableConfig cfg;
  cfg.dim = kDim;
  cfg.optimizer.kind = OptimizerKind::kAdagrad;
  // Every key admitted, in batches.
  auto fill = [&](EmbeddingTable& t) {
    for (uint64_t b = 0; b < n; b += kBatch) {
      const size_t m = std::min<uint64_t>(kBatch, n - b);
      t.gather_train(std::span<const uint64_t>(keys.data() + b, m), 0,
                     std::span<float>(out.data(), m * kDim));
    }
  };
  EmbeddingTable table(cfg);
  fill(table);
  const auto st = table.stats();
  print("table_bytes_per_row_overhead", n, "-", st.overhead_bytes_per_row(), "bytes");
  print("table_bytes_per_row_total", n, "-", static_cast<double>(st.bytes) / st.rows, "bytes",
        static_cast<double>(st.bytes) / st.raw_bytes, "raw dim*4*(1+slots)");

  // The same keys in a table with row-wise Adagrad (one accumulator per row).
  TableConfig row_cfg = cfg;
  row_cfg.optimizer.kind = OptimizerKind::kRowAdagrad;
  EmbeddingTable row_table(row_cfg);
  fill(row_table);

  std::unordered_map<uint64_t, std::vector<float>> map;
  map.reserve(n);
  for (uint64_t i = 0; i < n; ++i) map.emplace(keys[i], std::vector<float>(kDim, 0.5f));

  for (const bool zipf : {false, true}) {
    const char* name = zipf ? "zipf1.1" : "uniform";
    const auto stream = make_stream(n, zipf, 7);
    const double dense_rate = rows_per_second("dense_gather", stream, [&](const uint32_t* idx) {
      for (size_t j = 0; j < kBatch; ++j)
        std::memcpy(out.data() + j * kDim, dense.data() + size_t{idx[j]} * kDim, kDim * 4);
    });
    const double table_rate = rows_per_second("table_gather", stream, [&](const uint32_t* idx) {
      for (size_t j = 0; j < kBatch; ++j) batch_keys[j] = keys[idx[j]];
      table.gather(batch_keys, out);
    });
    const double map_rate =
        rows_per_second("unordered_map_gather", stream, [&](const uint32_t* idx) {
          for (size_t j = 0; j < kBatch; ++j) {
            const auto it = map.find(keys[idx[j]]);
            std::memcpy(out.data() + j * kDim, it->second.data(), kDim * 4);
          }
        });
    const double row_rate =
        rows_per_second("table_gather_rowwise_adagrad", stream, [&](const uint32_t* idx) {
          for (size_t j = 0; j < kBatch; ++j) batch_keys[j] = keys[idx[j]];
          row_table.gather_train(batch_keys, 1, out);
          row_table.apply_gradients(batch_keys, grads, 1);
        });
    const double train_rate =
        rows_per_second("table_gather_adagrad", stream, [&](const uint32_t* idx) {
          for (size_t j = 0; j < kBatch; ++j) batch_keys[j] = keys[idx[j]];
          table.gather_train(batch_keys, 1, out);
          table.apply_gradients(batch_keys, grads, 1);
        });
    // The same step on a dense array, with the same row optimizer code and the same
    // software prefetching: the gather, then each position's Adagrad step in place (no key
    // lookup, no duplicate summing, no seqlock, no last-seen stamp). The memory-bound limit
    // of gather + Adagrad with these rows.
    const double dense_train_rate =
        rows_per_second("dense_gather_adagrad", stream, [&](const uint32_t* idx) {
          constexpr size_t kAhead = 8;
          auto row = [&](size_t j) { return dense_train.data + size_t{idx[j]} * 2 * kDim; };
          for (size_t j = 0; j < kBatch; ++j) {
            if (j + kAhead < kBatch)
              for (uint32_t c = 0; c < kDim; c += 16) __builtin_prefetch(row(j + kAhead) + c);
            std::memcpy(out.data() + j * kDim, row(j), kDim * 4);
          }
          for (size_t j = 0; j < kBatch; ++j) {
            if (j + kAhead < kBatch)
              for (uint32_t c = 0; c < 2 * kDim; c += 16) __builtin_prefetch(row(j + kAhead) + c);
            float* w = row(j);
            apply_step(cfg.optimizer, w, w + kDim, grads.data() + j * kDim, kDim, 1, w);
          }
        });
    print("dense_gather", n, name, dense_rate, "rows/s");
    print("table_gather", n, name, table_rate, "rows/s", table_rate / dense_rate, "dense_gather");
    print("unordered_map_gather", n, name, map_rate, "rows/s", table_rate / map_rate,
          "table_gather/unordered_map");
    print("dense_gather_adagrad", n, name, dense_train_rate, "rows/s");
    print("table_gather_adagrad", n, name, train_rate, "rows/s", train_rate / dense_train_rate,
          "dense_gather_adagrad");
    print("table_gather_rowwise_adagrad", n, name, row_rate, "rows/s", row_rate / train_rate,
          "adagrad");
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string sizes = argc > 1 ? argv[1] : "1000000,10000000";
  if (argc > 2) g_only = argv[2];
  size_t start = 0;
  while (start < sizes.size()) {
    size_t end = sizes.find(',', start);
    if (end == std::string::npos) end = sizes.size();
    run(std::stoull(sizes.substr(start, end - start)));
    start = end + 1;
  }
  return 0;
}
