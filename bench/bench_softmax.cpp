// The full-softmax loss of `seq` at the ml-latest-small training shape (a step of 128
// sequences: ~5,100 target positions, 9,743 item rows, dim 50): forward + backward of the
// tiled loss (models::full_softmax_cross_entropy) against libtorch's cross_entropy on the
// whole logits (the baseline, measured in the same run), and a large square matmul for the
// GFLOP/s this machine's BLAS reaches; and one tile's three products on one thread, on
// libtorch's BLAS (OpenBLAS) against oneDNN's sgemm. Prints one JSON object per line.
// Usage: bench_softmax [positions] [items] [dim] [reps]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <utility>

#include <fmt/format.h>

#include "streamrec/core/runtime_env.h"
#include "streamrec/models/gemm.h"
#include "streamrec/models/seq_net.h"

namespace {

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

template <typename Fn>
double best_seconds(int reps, Fn&& fn) {
  fn();  // warm-up
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    const double t0 = now_s();
    fn();
    best = std::min(best, now_s() - t0);
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  streamrec::configure_runtime(argc, argv);
  const int64_t P = argc > 1 ? std::atol(argv[1]) : 5120;
  const int64_t N = argc > 2 ? std::atol(argv[2]) : 9743;
  const int64_t d = argc > 3 ? std::atol(argv[3]) : 50;
  const int reps = argc > 4 ? std::atoi(argv[4]) : 5;
  torch::set_num_threads(static_cast<int>(std::thread::hardware_concurrency()));
  torch::manual_seed(1);
  auto h = torch::randn({P, d}).requires_grad_(true);
  auto E = (torch::randn({N, d}) * 0.1).requires_grad_(true);
  auto targets = torch::randint(1, N, {P}, torch::kLong);
  auto blocked = torch::zeros({1}, torch::kLong);
  // Three products of P x N x d (logits, their gradient times E and times h), 2 flops each.
  const double flops = 3.0 * 2.0 * P * N * d;

  const double base = best_seconds(reps, [&] {
    auto logits = h.mm(E.t());
    logits.index_fill_(1, blocked, -1e9);
    torch::nn::functional::cross_entropy(logits, targets).backward();
  });
  const double tiled = best_seconds(reps, [&] {
    streamrec::models::full_softmax_cross_entropy(h, E, targets, blocked).backward();
  });
  // One tile's three products on one thread, as each worker of the tiled loss runs them:
  // libtorch's (OpenBLAS) against oneDNN's sgemm (what the loss uses).
  const int64_t tile = std::clamp<int64_t>((int64_t{1} << 20) / N, 16, 1024);
  auto ht = torch::randn({tile, d}), L = torch::empty({tile, N}), dht = torch::empty({tile, d});
  auto Ed = E.detach().contiguous(), dE = torch::zeros({N, d});
  double tile_openblas = 0, tile_onednn = 0;
  {
    const streamrec::BlasThreadsScope one_blas_thread(1);
    tile_openblas = best_seconds(reps * 4, [&] {
      torch::mm_out(L, ht, Ed.t());
      torch::mm_out(dht, L, Ed);
      dE.addmm_(L.t(), ht);
    });
    tile_onednn = best_seconds(reps * 4, [&] {
      using streamrec::models::sgemm_serial;
      sgemm_serial(false, true, tile, N, d, 1, ht.data_ptr<float>(), d, Ed.data_ptr<float>(), d, 0,
                   L.data_ptr<float>(), N);
      sgemm_serial(false, false, tile, d, N, 1, L.data_ptr<float>(), N, Ed.data_ptr<float>(), d, 0,
                   dht.data_ptr<float>(), d);
      sgemm_serial(true, false, N, d, tile, 1, L.data_ptr<float>(), N, ht.data_ptr<float>(), d, 1,
                   dE.data_ptr<float>(), d);
    });
  }
  auto a = torch::randn({2048, 2048}), b = torch::randn({2048, 2048});
  const double square = best_seconds(reps, [&] { (void)a.mm(b); });

  auto line = [&](const char* name, double s, double ratio) {
    fmt::print(
        "{{\"bench\":\"{}\",\"positions\":{},\"items\":{},\"dim\":{},\"seconds\":{:.4f},"
        "\"gflops\":{:.1f},\"speedup_vs_torch_cross_entropy\":{:.2f}}}\n",
        name, P, N, d, s, flops / s / 1e9, ratio);
  };
  line("torch_cross_entropy", base, 1.0);
  line("tiled_full_softmax", tiled, base / tiled);
  const double tile_flops = 3.0 * 2.0 * tile * N * d;
  for (const auto& [name, s] : {std::pair{"tile_products_openblas", tile_openblas},
                                std::pair{"tile_products_onednn", tile_onednn}})
    fmt::print(
        "{{\"bench\":\"{}\",\"tile\":{},\"items\":{},\"dim\":{},\"threads\":1,"
        "\"seconds\":{:.5f},\"gflops\":{:.1f},\"speedup_vs_openblas\":{:.2f}}}\n",
        name, tile, N, d, s, tile_flops / s / 1e9, tile_openblas / s);
  fmt::print("{{\"bench\":\"matmul_2048\",\"seconds\":{:.4f},\"gflops\":{:.1f}}}\n", square,
             2.0 * 2048 * 2048 * 2048 / square / 1e9);
  const char* core = std::getenv("OPENBLAS_CORETYPE");
  fmt::print(stderr, "OPENBLAS_CORETYPE={}, torch threads {}\n", core ? core : "(unset)",
             torch::get_num_threads());
  return 0;
}
