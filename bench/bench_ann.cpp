// ANN retrieval against exact scoring on the same vectors: one thread, N items of `dim`
// floats (clustered, norms varying like a model's item vectors), queries for the top k.
// Prints per-query microseconds of exact (dot with every item + top_k) and HNSW search,
// the ratio, recall@k, and the index build rate; one JSON line per (N, k); then the time
// sync() takes per changed row, for rows that moved far (re-inserted) and a little.
//
//   build/bench/bench_ann [items=100000] [dim=33] [repair_neighbors=1]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <set>
#include <vector>

#include "streamrec/serve/ann.h"

using namespace streamrec;
using Clock = std::chrono::steady_clock;

int main(int argc, char** argv) {
  const size_t n = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 100000;
  const size_t dim = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 33;
  std::mt19937_64 rng(1);
  std::normal_distribution<float> g;
  std::vector<float> centres(500 * dim), rows(n * dim), queries(200 * dim);
  for (auto& x : centres) x = g(rng);
  for (size_t i = 0; i < n; ++i) {
    const size_t c = rng() % 500;
    const float norm = 0.5f + float(rng() % 1000) / 1000.0f;
    for (size_t d = 0; d < dim; ++d)
      rows[i * dim + d] = norm * (centres[c * dim + d] + 0.5f * g(rng));
  }
  for (auto& x : queries) x = g(rng);

  serve::AnnOptions options;
  if (argc > 3) options.repair_neighbors = std::strtof(argv[3], nullptr);
  serve::AnnIndex index(dim, options);
  const auto b0 = Clock::now();
  index.sync(rows);
  const double build_s = std::chrono::duration<double>(Clock::now() - b0).count();
  std::printf("built %zu x %zu in %.1f s (%.0f items/s)\n", n, dim, build_s, n / build_s);

  for (size_t k : {10, 100, 400}) {
    const size_t nq = queries.size() / dim;
    std::vector<float> scores(n);
    double exact_us = 0, ann_us = 0, recall = 0;
    for (size_t q = 0; q < nq; ++q) {
      const float* qv = &queries[q * dim];
      auto t0 = Clock::now();
      for (size_t i = 0; i < n; ++i) {
        const float* r = &rows[i * dim];
        float s = 0;
        for (size_t d = 0; d < dim; ++d) s += qv[d] * r[d];
        scores[i] = s;
      }
      const auto exact = models::top_k(scores, k);
      auto t1 = Clock::now();
      const auto approx = index.search({qv, dim}, k);
      auto t2 = Clock::now();
      exact_us += std::chrono::duration<double, std::micro>(t1 - t0).count();
      ann_us += std::chrono::duration<double, std::micro>(t2 - t1).count();
      std::set<uint32_t> found;
      for (const auto& s : approx) found.insert(s.item);
      size_t hit = 0;
      for (const auto& s : exact) hit += found.count(s.item);
      recall += double(hit) / exact.size();
    }
    std::printf(
        "{\"bench\": \"ann\", \"items\": %zu, \"dim\": %zu, \"k\": %zu, \"exact_us\": %.1f, "
        "\"ann_us\": %.1f, \"speedup\": %.2f, \"recall\": %.4f}\n",
        n, dim, k, exact_us / nq, ann_us / nq, exact_us / ann_us, recall / nq);
  }

  // Keeping the index current: five rounds of 2,000 random items moving far (each
  // re-inserted: its links searched again and its neighbours' repaired), then 2,000 moving
  // a little (each vector overwritten); recall@100 after each round.
  // Per changed row, the time sync() takes, which is also how long searches may wait on it.
  const size_t moves = std::min<size_t>(2000, n);
  for (const bool far : {true, true, true, true, true, false}) {
    for (size_t x = 0; x < moves; ++x) {
      float* r = &rows[((x + rng() % n) * 7919 % n) * dim];
      for (size_t d = 0; d < dim; ++d) r[d] = far ? -r[d] + 0.5f * g(rng) : r[d] * 1.01f;
    }
    const auto t0 = Clock::now();
    const size_t changed = index.sync(rows);
    const double us = std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
    // Recall@100 afterwards, over 50 queries.
    double recall = 0;
    std::vector<float> scores(n);
    for (size_t q = 0; q < 50; ++q) {
      const float* qv = &queries[q * dim];
      for (size_t i = 0; i < n; ++i) {
        float s = 0;
        for (size_t d = 0; d < dim; ++d) s += qv[d] * rows[i * dim + d];
        scores[i] = s;
      }
      std::set<uint32_t> found;
      for (const auto& s : index.search({qv, dim}, 100)) found.insert(s.item);
      size_t hit = 0;
      for (const auto& s : models::top_k(scores, 100)) hit += found.count(s.item);
      recall += hit / 100.0 / 50;
    }
    std::printf(
        "{\"bench\": \"ann_sync\", \"items\": %zu, \"dim\": %zu, \"move\": \"%s\", "
        "\"repair_neighbors\": %.2f, \"changed\": %zu, \"relinked\": %llu, "
        "\"us_per_changed_row\": %.1f, \"recall_after\": %.4f}\n",
        n, dim, far ? "far" : "near", options.repair_neighbors, changed,
        static_cast<unsigned long long>(index.relinked()), us / changed, recall);
  }
}
