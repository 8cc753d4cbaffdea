// oneDNN's sgemm behind models::sgemm_serial against libtorch's own products: every
// transpose pair, sub-matrices (row strides wider than the rows), alpha and beta.
#include <ATen/Parallel.h>
#include <gtest/gtest.h>
#include <omp.h>
#include <torch/torch.h>

#include <mutex>
#include <set>
#include <thread>

#include "streamrec/core/error.h"
#include "streamrec/models/gemm.h"
#include "streamrec/models/threads.h"

namespace streamrec::models {
namespace {

TEST(Sgemm, MatchesTorchForEveryTransposePairWithStridesAlphaAndBeta) {
  torch::manual_seed(3);
  const int64_t m = 37, n = 53, k = 19;
  for (const bool ta : {false, true}) {
    for (const bool tb : {false, true}) {
      // Each operand is the left part of a wider matrix, so its row stride exceeds its width.
      auto A_full = torch::randn({ta ? k : m, (ta ? m : k) + 5});
      auto B_full = torch::randn({tb ? n : k, (tb ? k : n) + 3});
      auto C_full = torch::randn({m, n + 7});
      auto A = A_full.narrow(1, 0, ta ? m : k), B = B_full.narrow(1, 0, tb ? k : n);
      auto C = C_full.narrow(1, 0, n);
      const auto expected = 0.5 * C + 1.5 * (ta ? A.t() : A).mm(tb ? B.t() : B);
      sgemm_serial(ta, tb, m, n, k, 1.5f, A_full.data_ptr<float>(), A_full.size(1),
                   B_full.data_ptr<float>(), B_full.size(1), 0.5f, C_full.data_ptr<float>(),
                   C_full.size(1));
      EXPECT_TRUE(torch::allclose(C, expected, 1e-4, 1e-5))
          << "ta=" << ta << " tb=" << tb << " max diff " << (C - expected).abs().max();
    }
  }
}

TEST(Sgemm, LeavesTheThreadsOpenMpCountAlone) {
  const int before = omp_get_max_threads();
  omp_set_num_threads(2);
  std::vector<float> a(4, 1.0f), b(4, 2.0f), c(4, 0.0f);
  sgemm_serial(false, false, 2, 2, 2, 1.0f, a.data(), 2, b.data(), 2, 0.0f, c.data(), 2);
  EXPECT_EQ(c, std::vector<float>(4, 4.0f));
  EXPECT_EQ(omp_get_max_threads(), 2);
  omp_set_num_threads(before);
}

TEST(Threads, UseOnlyThisThreadRunsThisThreadsOperatorsAloneAndNoOtherThreads) {
  const int before = at::get_num_threads();
  at::set_num_threads(2);
  // The threads an at::parallel_for over a large range runs its body on, seen from a
  // fresh thread that did or did not ask for itself alone.
  auto threads_of_a_parallel_for = [](bool alone) {
    int count = 0, threads_seen = 0;
    std::thread t([&] {
      if (alone) use_only_this_thread();
      count = at::get_num_threads();
      std::mutex m;
      std::set<std::thread::id> ids;
      at::parallel_for(0, 1 << 20, 1, [&](int64_t, int64_t) {
        std::lock_guard lock(m);
        ids.insert(std::this_thread::get_id());
      });
      threads_seen = static_cast<int>(ids.size());
    });
    t.join();
    return std::pair{count, threads_seen};
  };
  EXPECT_EQ(threads_of_a_parallel_for(true), std::pair(1, 1));
  EXPECT_EQ(threads_of_a_parallel_for(false).first, 2);  // other threads keep the process count
  at::set_num_threads(before);
}

TEST(Sgemm, ReportsARowStrideNarrowerThanTheRow) {
  std::vector<float> a(6), b(6), c(4);
  try {
    sgemm_serial(false, false, 2, 2, 3, 1.0f, a.data(), 2, b.data(), 2, 0.0f, c.data(), 2);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("lda=2"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace streamrec::models
