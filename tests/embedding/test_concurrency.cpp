// One writer, several readers at once: readers must never see a torn row (a row whose
// elements come from two different writes) nor crash while the table grows, evicts and
// reuses rows. Run under ThreadSanitizer in CI (STREAMREC_SANITIZE=thread).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "streamrec/embedding/table.h"

namespace streamrec::embedding {
namespace {

TEST(Concurrent, ReadersNeverSeeTornRowsWhileTheWriterGrowsAndEvicts) {
  TableConfig c;
  c.dim = 32;
  c.init = TableConfig::Init::kZeros;
  c.optimizer.kind = OptimizerKind::kSgd;
  c.optimizer.lr = 1.0f;
  EmbeddingTable table(c);
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> reads{0}, torn{0}, hits{0};
  constexpr uint64_t kKeys = 20000;

  // The writer keeps every element of a row equal: a uniform gradient moves all of them by
  // the same amount, so a row with unequal elements was read mid-write.
  std::thread writer([&] {
    std::vector<uint64_t> keys(256);
    std::vector<float> out(keys.size() * c.dim), g(keys.size() * c.dim);
    uint64_t round = 0;
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(1500);
    while (std::chrono::steady_clock::now() < until) {
      for (size_t i = 0; i < keys.size(); ++i) keys[i] = (round * 97 + i * 31) % kKeys;
      table.gather_train(keys, static_cast<int64_t>(round), out);
      for (size_t i = 0; i < keys.size(); ++i)
        std::fill_n(g.begin() + i * c.dim, c.dim, static_cast<float>((round + i) % 7) - 3.0f);
      table.apply_gradients(keys, g, static_cast<int64_t>(round));
      if (round % 50 == 49) {  // evict a band of keys; their rows get reused later
        std::vector<uint64_t> gone;
        for (uint64_t k = (round * 13) % kKeys; gone.size() < 500; ++k) gone.push_back(k % kKeys);
        table.erase(gone);
      }
      ++round;
    }
    stop = true;
  });
  std::vector<std::thread> readers;
  for (int r = 0; r < 3; ++r) {
    readers.emplace_back([&, r] {
      std::vector<uint64_t> keys(128);
      std::vector<float> out(keys.size() * c.dim);
      std::vector<uint8_t> found(keys.size());
      uint64_t n = 0;
      while (!stop.load()) {
        for (size_t i = 0; i < keys.size(); ++i) keys[i] = (n * 131 + i * 17 + r) % kKeys;
        hits += table.gather(keys, out, found);
        for (size_t i = 0; i < keys.size(); ++i) {
          const float* row = out.data() + i * c.dim;
          for (uint32_t d = 1; d < c.dim; ++d)
            if (row[d] != row[0]) {
              ++torn;
              break;
            }
        }
        reads += keys.size();
        ++n;
        (void)table.stats();
      }
    });
  }
  writer.join();
  for (auto& t : readers) t.join();
  EXPECT_EQ(torn.load(), 0u);
  EXPECT_GT(reads.load(), 10000u);
  EXPECT_GT(hits.load(), 0u);
}

}  // namespace
}  // namespace streamrec::embedding
