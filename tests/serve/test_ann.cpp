// The ANN index against exact inner-product search on the same vectors.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <random>
#include <set>
#include <thread>

#include "streamrec/serve/ann.h"
#include "streamrec/serve/batch_scorer.h"

namespace streamrec::serve {
namespace {

std::vector<float> gaussian(size_t n, size_t dim, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> g;
  std::vector<float> v(n * dim);
  for (auto& x : v) x = g(rng);
  return v;
}

std::vector<uint32_t> exact_top(const std::vector<float>& rows, size_t dim, const float* q,
                                size_t k) {
  std::vector<float> scores(rows.size() / dim);
  for (size_t i = 0; i < scores.size(); ++i) {
    float s = 0;
    for (size_t d = 0; d < dim; ++d) s += rows[i * dim + d] * q[d];
    scores[i] = s;
  }
  std::vector<uint32_t> out;
  for (const auto& s : models::top_k(scores, k)) out.push_back(s.item);
  return out;
}

// Recall@100 over `queries` queries: the share of the exact top 100 the index returns.
double recall_at_100(const AnnIndex& index, const std::vector<float>& rows, size_t dim,
                     const std::vector<float>& queries) {
  size_t hit = 0, total = 0;
  for (size_t q = 0; q < queries.size() / dim; ++q) {
    const auto exact = exact_top(rows, dim, &queries[q * dim], 100);
    std::set<uint32_t> found;
    const auto approx = index.search({&queries[q * dim], dim}, 100);
    for (size_t x = 0; x < approx.size(); ++x) {
      found.insert(approx[x].item);
      if (x > 0) {
        EXPECT_LE(approx[x].score, approx[x - 1].score + 1e-5f);
      }
    }
    for (uint32_t i : exact) hit += found.count(i);
    total += exact.size();
  }
  return double(hit) / total;
}

TEST(Ann, RecallAt100AgainstExactSearch) {
  // 20,000 items in 32 dims, as a model's item vectors: a few hundred clusters (items of a
  // kind) with spread, and norms that vary (popular items have larger vectors).
  const size_t n = 20000, dim = 32;
  const auto centres = gaussian(300, dim, 1);
  auto rows = gaussian(n, dim, 2);
  std::mt19937_64 rng(3);
  for (size_t i = 0; i < n; ++i) {
    const size_t c = rng() % 300;
    const float norm = 0.5f + float(rng() % 1000) / 1000.0f;
    for (size_t d = 0; d < dim; ++d)
      rows[i * dim + d] = norm * (centres[c * dim + d] + 0.5f * rows[i * dim + d]);
  }
  AnnIndex index(dim);
  EXPECT_EQ(index.sync(rows), n);
  EXPECT_EQ(index.size(), n);
  EXPECT_EQ(index.sync(rows), 0u);  // nothing changed: nothing re-inserted
  const double recall = recall_at_100(index, rows, dim, gaussian(200, dim, 4));
  std::printf("ANN recall@100 on %zu x %zu clustered vectors, 200 queries: %.4f\n", n, dim, recall);
  EXPECT_GE(recall, 0.95);
  // Unstructured Gaussian vectors, a harder case for graph search.
  const auto noise = gaussian(n, dim, 5);
  AnnIndex hard(dim);
  hard.sync(noise);
  const double hard_recall = recall_at_100(hard, noise, dim, gaussian(200, dim, 6));
  std::printf("ANN recall@100 on %zu x %zu Gaussian vectors: %.4f\n", n, dim, hard_recall);
  EXPECT_GE(hard_recall, 0.95);
}

TEST(Ann, SyncAddsAndMovesItemsWithoutARebuild) {
  const size_t n = 3000, dim = 16;
  auto rows = gaussian(n, dim, 7);
  AnnIndex index(dim);
  index.sync(rows);
  // A direction no item points to strongly yet; move 20 items onto it and add 10 new ones.
  std::vector<float> q(dim, 0.0f);
  q[0] = 1;
  std::set<uint32_t> moved;
  for (uint32_t i = 100; i < 120; ++i) {
    std::fill_n(&rows[i * dim], dim, 0.0f);
    rows[i * dim] = 50;
    moved.insert(i);
  }
  for (uint32_t i = 0; i < 10; ++i) {
    std::vector<float> extra(dim, 0.0f);
    extra[0] = 60;
    rows.insert(rows.end(), extra.begin(), extra.end());
    moved.insert(n + i);
  }
  EXPECT_EQ(index.sync(rows), 30u);
  EXPECT_EQ(index.size(), n + 10);
  const auto top = index.search(q, 30);
  ASSERT_EQ(top.size(), 30u);
  for (const auto& s : top) EXPECT_TRUE(moved.count(s.item)) << s.item;
  EXPECT_NEAR(top[0].score, 60.0f, 1e-3f);
  EXPECT_EQ(index.relinked(), n + 30);
  // A small move only overwrites the stored vector (no re-insertion), and the scores the
  // index returns are those of the new vector.
  rows[100 * dim] = 51;
  EXPECT_EQ(index.sync(rows), 1u);
  EXPECT_EQ(index.relinked(), n + 30);
  const auto again = index.search(q, 30);
  const auto it =
      std::find_if(again.begin(), again.end(), [](const auto& s) { return s.item == 100; });
  ASSERT_NE(it, again.end());
  EXPECT_NEAR(it->score, 51.0f, 1e-3f);
}

TEST(Ann, RowsOfZerosStayOutUntilTheyGetAVector) {
  // Items the model has no vector for (rows of zeros) are not inserted; one that gets a
  // vector is inserted at the next sync and found.
  const size_t n = 2000, dim = 16;
  auto rows = gaussian(n, dim, 11);
  for (size_t i = 0; i < n; i += 2) std::fill_n(&rows[i * dim], dim, 0.0f);
  AnnIndex index(dim);
  EXPECT_EQ(index.sync(rows), n / 2);
  EXPECT_EQ(index.size(), n / 2);
  std::vector<float> q(dim, 0.0f);
  q[3] = 1;
  for (const auto& s : index.search(q, n)) EXPECT_EQ(s.item % 2, 1u) << s.item;
  EXPECT_EQ(index.search(q, n).size(), n / 2);
  rows[40 * dim + 3] = 100;  // item 40 gets a vector pointing at q
  EXPECT_EQ(index.sync(rows), 1u);
  EXPECT_EQ(index.size(), n / 2 + 1);
  const auto top = index.search(q, 1);
  ASSERT_EQ(top.size(), 1u);
  EXPECT_EQ(top[0].item, 40u);
  EXPECT_NEAR(top[0].score, 100.0f, 1e-3f);
  EXPECT_EQ(index.sync(rows), 0u);
}

}  // namespace
}  // namespace streamrec::serve

namespace streamrec::serve {
namespace {

TEST(BatchScorer, ConcurrentQueriesGetExactScores) {
  // Eight threads score different queries at once (so passes carry several of them); every
  // result equals the plain dot products. Also with 70% of the rows zero (catalog items
  // without vectors), which the scorer leaves out of its passes: they must still score 0.
  for (const double zero_share : {0.0, 0.7}) {
    const size_t n = 5000, dim = 33;
    std::mt19937_64 rng(5);
    std::normal_distribution<float> normal;
    std::uniform_real_distribution<double> uniform;
    std::vector<float> items(n * dim);
    size_t zero_rows = 0;
    for (size_t i = 0; i < n; ++i) {
      const bool zero = uniform(rng) < zero_share;
      zero_rows += zero;
      for (size_t d = 0; d < dim; ++d) items[i * dim + d] = zero ? 0.0f : normal(rng);
    }
    BatchScorer scorer(items, dim);
    EXPECT_EQ(scorer.stored_rows(), zero_share > 0 ? n - zero_rows : n);
    std::vector<std::vector<float>> queries(64, std::vector<float>(dim));
    for (auto& q : queries)
      for (auto& x : q) x = normal(rng);
    std::atomic<int> wrong{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t)
      threads.emplace_back([&, t] {
        std::vector<float> out(n);
        for (size_t k = t; k < queries.size(); k += 8) {
          std::fill(out.begin(), out.end(), std::nanf(""));  // every row must be written
          scorer.score(queries[k], out);
          for (size_t i = 0; i < n; ++i) {
            double want = 0;
            for (size_t d = 0; d < dim; ++d) want += double(queries[k][d]) * items[i * dim + d];
            if (!(std::abs(out[i] - want) <= 1e-3 * (1 + std::abs(want)))) ++wrong;
          }
        }
      });
    for (auto& th : threads) th.join();
    EXPECT_EQ(wrong.load(), 0) << "zero share " << zero_share;
    EXPECT_EQ(scorer.queries(), queries.size());
    EXPECT_LE(scorer.passes(), queries.size());
    std::printf("zero share %.1f: 64 queries in %zu passes\n", zero_share, scorer.passes());
  }
}

}  // namespace
}  // namespace streamrec::serve
