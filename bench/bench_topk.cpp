// models::top_k over a catalog's scores (100,000 by default; normal scores, or with 72% of
// them zero as for items without vectors; 50 excluded items) against std::partial_sort of
// (score, index) pairs, the plain way, in the same run. Best of 7 rounds of 200 calls.
//
//   build/bench/bench_topk [items=100000]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "streamrec/models/recommender.h"

using Clock = std::chrono::steady_clock;

template <typename F>
double best_us(F&& f) {
  double best = 1e18;
  for (int r = 0; r < 7; ++r) {
    const auto t0 = Clock::now();
    for (int i = 0; i < 200; ++i) f();
    best =
        std::min(best, std::chrono::duration<double, std::micro>(Clock::now() - t0).count() / 200);
  }
  return best;
}

int main(int argc, char** argv) {
  const size_t n = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 100000;
  std::mt19937 rng(3);
  std::normal_distribution<float> g;
  for (const double zero_share : {0.0, 0.72}) {
    std::vector<float> s(n);
    for (auto& v : s) v = (rng() % 1000) < zero_share * 1000 ? 0.0f : g(rng);
    std::vector<uint32_t> ex;
    for (int i = 0; i < 50; ++i) ex.push_back(static_cast<uint32_t>(rng() % n));
    std::sort(ex.begin(), ex.end());
    ex.erase(std::unique(ex.begin(), ex.end()), ex.end());
    for (const size_t k : {10, 100, 400}) {
      size_t sink = 0;
      const double ours = best_us([&] { sink += streamrec::models::top_k(s, k, ex)[0].item; });
      const double plain = best_us([&] {
        std::vector<std::pair<float, uint32_t>> v;
        v.reserve(n);
        for (uint32_t i = 0; i < n; ++i)
          if (!std::binary_search(ex.begin(), ex.end(), i)) v.push_back({-s[i], i});
        std::partial_sort(v.begin(), v.begin() + static_cast<ptrdiff_t>(k), v.end());
        sink += v[0].second;
      });
      std::printf(
          "{\"bench\": \"top_k\", \"items\": %zu, \"zero_share\": %.2f, \"k\": %zu, "
          "\"top_k_us\": %.1f, \"partial_sort_us\": %.1f, \"speedup\": %.2f, \"sink\": %zu}\n",
          n, zero_share, k, ours, plain, plain / ours, sink % 2);
    }
  }
}
