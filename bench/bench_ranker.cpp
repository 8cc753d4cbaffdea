// The fusion ranker's cost per request: FusionRanker::score on a candidate list of each
// size (11 features per candidate, a ranker trained for a few steps), one thread, as a
// serving request calls it. Prints one JSON object per line: microseconds per call (median
// of the repetitions) and per candidate.
// Usage: bench_ranker [reps]
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <random>
#include <vector>

#include <fmt/format.h>

#include "streamrec/core/runtime_env.h"
#include "streamrec/models/ranker.h"

int main(int argc, char** argv) {
  streamrec::configure_runtime(argc, argv);
  const int reps = argc > 1 ? std::max(1, std::atoi(argv[1])) : 2000;
  using streamrec::models::FusionRanker;
  FusionRanker trained;
  std::mt19937 rng(3);
  std::normal_distribution<float> normal;
  const auto F = static_cast<size_t>(FusionRanker::kFeatures);
  for (int s = 0; s < 20; ++s) {  // a few steps, so that the statistics are not trivial
    std::vector<float> x(100 * F), y(100, 0.0f);
    for (auto& v : x) v = normal(rng);
    y[s % 100] = 1.0f;
    trained.train(x, y);
  }
  const auto ranker = trained.clone();  // what serving uses
  for (const size_t n : {50, 150, 300}) {
    std::vector<float> x(n * F);
    for (auto& v : x) v = normal(rng);
    std::vector<double> us;
    for (int r = 0; r < reps; ++r) {
      const auto t0 = std::chrono::steady_clock::now();
      const auto logits = ranker->score(x);
      us.push_back(
          std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
      if (logits.size() != n) return 1;
    }
    std::sort(us.begin(), us.end());
    const double median = us[us.size() / 2];
    fmt::print(
        "{{\"bench\":\"ranker_score\",\"candidates\":{},\"us_per_call\":{:.1f},"
        "\"us_per_candidate\":{:.3f},\"p99_us\":{:.1f}}}\n",
        n, median, median / n, us[us.size() * 99 / 100]);
  }
  return 0;
}
