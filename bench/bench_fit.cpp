// Fit-time benchmark of the classic models on ml-latest-small (or, when ../shared/data is
// absent, a generated set of similar shape). Prints one JSON object per line:
// {"bench":..., "model":..., "seconds": median, "runs": n, "ratio_vs_baseline": ...}.
// The baseline of each group is measured in the same run (the machine is shared and noisy).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "streamrec/core/runtime_env.h"
#include "streamrec/data/generator.h"
#include "streamrec/data/reader.h"
#include "streamrec/eval/split.h"
#include "streamrec/models/registry.h"

using namespace streamrec;

namespace {

double median_fit_seconds(const std::string& spec, const models::TrainData& train, int runs) {
  std::vector<double> times;
  for (int r = 0; r < runs; ++r) {
    auto model = models::make_model(spec);
    const auto t0 = std::chrono::steady_clock::now();
    model->fit(train);
    times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  configure_runtime(argc, argv);
  const int runs = argc > 1 ? std::max(1, std::atoi(argv[1])) : 3;
  data::Dataset ds;
  std::string source;
  const std::string ml = std::string(STREAMREC_SHARED_DATA) + "/ml-latest-small";
  if (std::filesystem::exists(ml)) {
    data::ImportReport r;
    ds = data::read_dataset(ml, {}, r);
    source = "ml-latest-small";
  } else {
    fmt::print(stderr, "../shared/data/ml-latest-small absent: using generated data\n");
    data::GeneratorOptions g;
    g.users = 610;
    g.items = 9700;
    g.events = 100000;
    ds = data::generate(g);
    source = "synthetic";
  }
  const auto split = eval::split_events(ds, {});
  const models::TrainData train(ds.num_users(), ds.num_items(), split.fit_for_test(), &ds);
  const char* coretype = std::getenv("OPENBLAS_CORETYPE");
  fmt::print(stderr, "data {} ({} fit events, {} items), OPENBLAS_CORETYPE={}, {} runs\n", source,
             train.events().size(), ds.num_items(), coretype ? coretype : "(unset)", runs);

  struct Group {
    std::string name;
    std::vector<std::string> specs;  // first is the baseline
  };
  const std::vector<Group> groups = {
      {"ease_fit", {"ease:lambda=500,solver=cholesky", "ease:lambda=500,solver=woodbury"}},
      {"knn_fit", {"itemknn:k=100", "usercf"}},
      {"mf_fit", {"mf:algo=als,epochs=15", "mf:algo=als,epochs=1", "mf:algo=bpr,epochs=100"}},
  };
  for (const auto& g : groups) {
    double base = 0;
    for (const auto& spec : g.specs) {
      const double s = median_fit_seconds(spec, train, runs);
      if (base == 0) base = s;
      fmt::print(
          "{{\"bench\":\"{}\",\"data\":\"{}\",\"model\":\"{}\",\"seconds\":{:.4f},"
          "\"runs\":{},\"ratio_vs_baseline\":{:.3f}}}\n",
          g.name, source, spec, s, runs, s / base);
      std::fflush(stdout);
    }
  }
  return 0;
}
