// Exact scoring of every item for one query, the serving path without ANN: the BatchScorer
// (blocks of 16 rows, dimension-major) against the plain row-major loop of dot products
// over the same items (what it replaced), best of 7 alternating rounds. One JSON line per
// (items, dim): microseconds per query and the ratio. With a zero share, that share of the
// rows is zero (catalog items the model has no vector for), which the BatchScorer leaves
// out of its passes and the row-wise loop still reads.
//
//   build/bench/bench_scorer [items=100000,27621] [dims=32,64] [zero_share=0]
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <random>
#include <vector>

#include <fmt/format.h>

#include "streamrec/core/simd.h"
#include "streamrec/core/text.h"
#include "streamrec/serve/batch_scorer.h"

using namespace streamrec;

namespace {

// "100000,27621" -> {100000, 27621}; exits with a message naming a bad entry.
std::vector<size_t> parse_list(const char* s) {
  std::vector<size_t> out;
  for (const auto field : text::split(s, ",")) {
    const auto v = text::parse_int(field);
    if (!v || *v <= 0) {
      fmt::print(stderr, "bench_scorer: '{}' is not a positive count\n", field);
      std::exit(2);
    }
    out.push_back(static_cast<size_t>(*v));
  }
  return out;
}

double now_us() {
  return std::chrono::duration<double, std::micro>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// The replaced kernel, cloned per instruction set as it was.
SR_PER_ISA void score_rows(const float* query, const float* rows, size_t n, size_t dim,
                           float* out) {
  for (size_t r = 0; r < n; ++r) out[r] = dot(query, rows + r * dim, dim);
}

}  // namespace

int main(int argc, char** argv) {
  const auto sizes = parse_list(argc > 1 ? argv[1] : "100000,27621");
  const auto dims = parse_list(argc > 2 ? argv[2] : "32,64");
  const double zero_share = argc > 3 ? std::atof(argv[3]) : 0.0;
  if (!(zero_share >= 0 && zero_share < 1)) {
    fmt::print(stderr, "bench_scorer: zero share '{}' is not in [0, 1)\n", argv[3]);
    return 2;
  }
  std::mt19937_64 rng(3);
  std::normal_distribution<float> g;
  std::uniform_real_distribution<double> u;
  for (const size_t n : sizes)
    for (const size_t dim : dims) {
      std::vector<float> items(n * dim), query(dim), out(n);
      for (size_t r = 0; r < n; ++r) {
        const bool zero = u(rng) < zero_share;
        for (size_t d = 0; d < dim; ++d) items[r * dim + d] = zero ? 0.0f : g(rng);
      }
      for (auto& x : query) x = g(rng);
      serve::BatchScorer scorer(items, dim);
      constexpr int kCalls = 200;
      double blocked = 1e30, rowwise = 1e30, sink = 0;
      for (int round = 0; round < 7; ++round) {
        double t0 = now_us();
        for (int c = 0; c < kCalls; ++c) {
          scorer.score(query, out);
          sink += out[c % n];
        }
        blocked = std::min(blocked, (now_us() - t0) / kCalls);
        t0 = now_us();
        for (int c = 0; c < kCalls; ++c) {
          score_rows(query.data(), items.data(), n, dim, out.data());
          sink += out[c % n];
        }
        rowwise = std::min(rowwise, (now_us() - t0) / kCalls);
      }
      fmt::print(
          "{{\"bench\": \"scorer\", \"items\": {}, \"dim\": {}, \"zero_share\": {}, "
          "\"stored_rows\": {}, \"blocked_us\": {:.1f}, \"rowwise_dot_us\": {:.1f}, "
          "\"speedup\": {:.2f}, \"checksum\": {:.3g}}}\n",
          n, dim, zero_share, scorer.stored_rows(), blocked, rowwise, rowwise / blocked, sink);
    }
  return 0;
}
