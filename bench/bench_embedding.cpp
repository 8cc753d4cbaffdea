// Embedding-table benchmark (one thread, dim 64, batches of 4096): gather rate against a
// plain dense-array gather of the same rows (the memory-bound limit) and against
// std::unordered_map<uint64_t, std::vector<float>>; gather + Adagrad (and row-wise Adagrad)
// update rate against the same step on a prefetched dense array (and gather_train alone,
// which splits the step); bytes per row. Rates are
// the best of 5 passes of 200 batches, the measurements' passes taking turns. Key streams:
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
#include <functional>
#include <random>
#include <string>
#include <string_view>
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

struct Measurement {
  const char* name;
  std::function<void(const uint32_t*)> batch;  // one batch of kBatch rows from the stream
  double rate = 0;                             // best rows/s
};

// Each measurement's best rate over several passes of the stream. The passes take turns
// (a pass of each measurement, then the next round), so that a ratio compares passes made
// under the same load: the machine is shared, and a pass that a neighbour slowed down says
// nothing about the code.
void race(const std::vector<uint32_t>& stream, std::vector<Measurement>& ms) {
  std::vector<Measurement*> run;
  for (auto& m : ms)
    if (g_only.empty() || std::string(m.name).find(g_only) != std::string::npos) run.push_back(&m);
  const int rounds = g_only.empty() ? 5 : 20;  // profiling: a longer loop
  for (int round = 0; round < rounds; ++round)
    for (auto* m : run) {
      // Untimed, a quarter of the pass first: the other measurements' passes have filled
      // the caches with their own data, and hot rows should be back in them as in training.
      for (size_t b = 0; b < kBatches / 4; ++b) m->batch(stream.data() + b * kBatch);
      const double t0 = now_s();
      for (size_t b = 0; b < kBatches; ++b) m->batch(stream.data() + b * kBatch);
      m->rate = std::max(m->rate, static_cast<double>(kBatch * kBatches) / (now_s() - t0));
    }
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

  // Dense baseline: rows of n x dim floats, in huge pages as the table's rows are.
  HugeFloats dense(n * kDim);
  for (size_t i = 0; i < n * kDim; ++i) dense.data[i] = static_cast<float>(i % 97);
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
    std::vector<Measurement> ms;
    ms.push_back({"dense_gather", [&](const uint32_t* idx) {
                    for (size_t j = 0; j < kBatch; ++j)
                      std::memcpy(out.data() + j * kDim, dense.data + size_t{idx[j]} * kDim,
                                  kDim * 4);
                  }});
    ms.push_back({"table_gather", [&](const uint32_t* idx) {
                    for (size_t j = 0; j < kBatch; ++j) batch_keys[j] = keys[idx[j]];
                    table.gather(batch_keys, out);
                  }});
    ms.push_back({"unordered_map_gather", [&](const uint32_t* idx) {
                    for (size_t j = 0; j < kBatch; ++j) {
                      const auto it = map.find(keys[idx[j]]);
                      std::memcpy(out.data() + j * kDim, it->second.data(), kDim * 4);
                    }
                  }});
    // The training step on a dense array, with the same row optimizer code and the same
    // software prefetching: the gather, then each position's Adagrad step in place (no key
    // lookup, no duplicate summing, no seqlock, no last-seen stamp). The memory-bound limit
    // of gather + Adagrad with these rows.
    ms.push_back({"dense_gather_adagrad", [&](const uint32_t* idx) {
                    constexpr size_t kAhead = 8;
                    auto row = [&](size_t j) {
                      return dense_train.data + size_t{idx[j]} * 2 * kDim;
                    };
                    for (size_t j = 0; j < kBatch; ++j) {
                      if (j + kAhead < kBatch)
                        for (uint32_t c = 0; c < kDim; c += 16)
                          __builtin_prefetch(row(j + kAhead) + c);
                      std::memcpy(out.data() + j * kDim, row(j), kDim * 4);
                    }
                    for (size_t j = 0; j < kBatch; ++j) {
                      if (j + kAhead < kBatch)
                        for (uint32_t c = 0; c < 2 * kDim; c += 16)
                          __builtin_prefetch(row(j + kAhead) + c);
                      float* w = row(j);
                      apply_step(cfg.optimizer, w, w + kDim, grads.data() + j * kDim, kDim, 1, w);
                    }
                  }});
    ms.push_back({"table_gather_adagrad", [&](const uint32_t* idx) {
                    for (size_t j = 0; j < kBatch; ++j) batch_keys[j] = keys[idx[j]];
                    table.gather_train(batch_keys, 1, out);
                    table.apply_gradients(batch_keys, grads, 1);
                  }});
    ms.push_back({"table_gather_train_only", [&](const uint32_t* idx) {
                    for (size_t j = 0; j < kBatch; ++j) batch_keys[j] = keys[idx[j]];
                    table.gather_train(batch_keys, 1, out);
                  }});
    ms.push_back({"table_gather_rowwise_adagrad", [&](const uint32_t* idx) {
                    for (size_t j = 0; j < kBatch; ++j) batch_keys[j] = keys[idx[j]];
                    row_table.gather_train(batch_keys, 1, out);
                    row_table.apply_gradients(batch_keys, grads, 1);
                  }});
    race(stream, ms);
    auto rate = [&](std::string_view of) {
      return std::find_if(ms.begin(), ms.end(), [&](const Measurement& m) { return m.name == of; })
          ->rate;
    };
    // A ratio only when both sides ran (the name filter may have skipped one).
    auto ratio = [&](std::string_view a, std::string_view b) {
      return rate(a) > 0 && rate(b) > 0 ? rate(a) / rate(b) : -1.0;
    };
    print("dense_gather", n, name, rate("dense_gather"), "rows/s");
    print("table_gather", n, name, rate("table_gather"), "rows/s",
          ratio("table_gather", "dense_gather"), "dense_gather");
    print("unordered_map_gather", n, name, rate("unordered_map_gather"), "rows/s",
          ratio("table_gather", "unordered_map_gather"), "table_gather/unordered_map");
    print("dense_gather_adagrad", n, name, rate("dense_gather_adagrad"), "rows/s");
    print("table_gather_adagrad", n, name, rate("table_gather_adagrad"), "rows/s",
          ratio("table_gather_adagrad", "dense_gather_adagrad"), "dense_gather_adagrad");
    print("table_gather_train_only", n, name, rate("table_gather_train_only"), "rows/s",
          ratio("table_gather_train_only", "table_gather_adagrad"), "table_gather_adagrad");
    print("table_gather_rowwise_adagrad", n, name, rate("table_gather_rowwise_adagrad"), "rows/s",
          ratio("table_gather_rowwise_adagrad", "table_gather_adagrad"), "adagrad");
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
