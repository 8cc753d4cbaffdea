#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "streamrec/core/error.h"
#include "streamrec/embedding/keys.h"
#include "streamrec/embedding/table.h"
#include "test_util.h"

namespace streamrec::embedding {
namespace {

TableConfig config(uint32_t dim = 4) {
  TableConfig c;
  c.dim = dim;
  c.optimizer.kind = OptimizerKind::kAdagrad;
  c.optimizer.lr = 0.1f;
  return c;
}

std::vector<float> gather(const EmbeddingTable& t, std::vector<uint64_t> keys) {
  std::vector<float> out(keys.size() * t.dim());
  t.gather(keys, out);
  return out;
}

TEST(Keys, SlotAndIndexRoundTrip) {
  const uint64_t k = make_key(7, 123456789);
  EXPECT_EQ(key_slot(k), 7u);
  EXPECT_EQ(key_index(k), 123456789u);
  EXPECT_NE(make_key(1, 5), make_key(2, 5));
}

TEST(Table, ServingGatherDoesNotInsertAndReadsDefault) {
  auto c = config();
  c.default_row = {1, 2, 3, 4};
  EmbeddingTable t(c);
  std::vector<uint8_t> found(2);
  std::vector<float> out(8);
  std::vector<uint64_t> keys = {5, 6};
  EXPECT_EQ(t.gather(keys, out, found), 0u);
  EXPECT_EQ(out, (std::vector<float>{1, 2, 3, 4, 1, 2, 3, 4}));
  EXPECT_EQ(t.stats().rows, 0u);
  EXPECT_THROW(t.gather(keys, std::span<float>(out.data(), 3)), Error);
}

TEST(Table, InitIsDeterministicPerKeyWhateverTheOrder) {
  auto c = config(16);
  EmbeddingTable a(c), b(c);
  std::vector<float> out(3 * 16);
  std::vector<uint64_t> k1 = {10, 20, 30}, k2 = {30, 10, 20};
  a.gather_train(k1, 0, out);
  b.gather_train(k2, 0, out);
  EXPECT_EQ(gather(a, {10, 20, 30}), gather(b, {10, 20, 30}));
  const auto v = gather(a, {10});
  double mean = 0;
  for (float x : v) mean += x;
  EXPECT_NE(v, gather(a, {20}));
  EXPECT_LT(std::abs(mean / 16), 0.02);
}

TEST(Table, DuplicateKeysAreSummedBeforeTheStep) {
  auto c = config();
  c.init = TableConfig::Init::kZeros;
  EmbeddingTable a(c), b(c);
  std::vector<float> out(8);
  std::vector<uint64_t> one = {1}, twice = {1, 1};
  a.gather_train(one, 0, std::span<float>(out.data(), 4));
  b.gather_train(one, 0, std::span<float>(out.data(), 4));
  const std::vector<float> g1 = {1, 2, 3, 4}, g2 = {0.5f, 0.5f, 0.5f, 0.5f};
  std::vector<float> both(g1);
  both.insert(both.end(), g2.begin(), g2.end());
  std::vector<float> sum = {1.5f, 2.5f, 3.5f, 4.5f};
  EXPECT_EQ(a.apply_gradients(twice, both, 1), 1u);
  EXPECT_EQ(b.apply_gradients(one, sum, 1), 1u);
  EXPECT_EQ(gather(a, {1}), gather(b, {1}));
  // Adagrad from zero: each coordinate moves by exactly -lr.
  for (float x : gather(a, {1})) EXPECT_FLOAT_EQ(x, -0.1f);
}

TEST(Table, AssignSetsRowsKeepsOptimizerStateAndSkipsMissingKeys) {
  auto c = config();
  c.init = TableConfig::Init::kZeros;
  EmbeddingTable a(c), b(c);
  std::vector<float> out(4);
  const std::vector<uint64_t> one = {1};
  const std::vector<float> g = {1, 1, 1, 1};
  for (auto* t : {&a, &b}) {
    t->gather_train(one, 0, out);
    t->apply_gradients(one, g, 1);  // Adagrad state: one squared gradient of 1 each
  }
  const std::vector<uint64_t> keys = {1, 99};  // 99 has no row
  const std::vector<float> rows = {5, 6, 7, 8, 9, 9, 9, 9};
  EXPECT_EQ(a.assign(keys, rows, 2), 1u);
  EXPECT_EQ(gather(a, {1}), (std::vector<float>{5, 6, 7, 8}));
  EXPECT_FALSE(a.contains(99));
  EXPECT_THROW(a.assign(keys, std::vector<float>(3), 2), Error);
  // The next step uses the kept state: the same move as the table never assigned.
  const std::vector<float> before_b = gather(b, {1});
  a.gather_train(one, 2, out);
  b.gather_train(one, 2, out);
  a.apply_gradients(one, g, 3);
  b.apply_gradients(one, g, 3);
  const auto after_a = gather(a, {1}), after_b = gather(b, {1});
  for (size_t i = 0; i < 4; ++i) EXPECT_FLOAT_EQ(after_a[i] - rows[i], after_b[i] - before_b[i]);
}

TEST(Table, AdmissionAfterNSightings) {
  auto c = config();
  c.admit_after = 3;
  c.default_row = {9, 9, 9, 9};
  EmbeddingTable t(c);
  std::vector<float> out(4);
  std::vector<uint64_t> k = {42};
  std::vector<float> g = {1, 1, 1, 1};
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(t.gather_train(k, i, out), 0u);
    EXPECT_EQ(out[0], 9.0f);
    EXPECT_EQ(t.apply_gradients(k, g, i), 0u);  // no trainable row yet
  }
  EXPECT_EQ(t.stats().pending_keys, 1u);  // counted in the pending map, not as a row
  EXPECT_EQ(t.stats().rows, 0u);
  EXPECT_EQ(t.gather_train(k, 2, out), 1u);
  EXPECT_TRUE(t.contains(42));
  EXPECT_EQ(t.stats().pending_keys, 0u);
  EXPECT_EQ(t.apply_gradients(k, g, 2), 1u);
}

// apply_gradients after gather_train of the same keys reuses the rows the gather found;
// these are the cases where a remembered row is not the key's row.
TEST(Table, StepReusingGatheredRowsUpdatesExactlyTheKeysRows) {
  std::vector<float> out(8), grads(8, 1.0f);
  {  // Admitted at its second sighting in the batch: the first position found no row.
    auto c = config();
    c.admit_after = 2;
    EmbeddingTable t(c);
    const std::vector<uint64_t> keys{7, 7};
    t.gather_train(keys, 0, out);
    const auto before = gather(t, {7});
    EXPECT_EQ(t.apply_gradients(keys, grads, 0), 1u);
    EXPECT_LT(gather(t, {7})[0], before[0]);  // moved against the gradient
  }
  {  // Capacity 1: admitting 9 evicted 5 and reused its row.
    auto c = config();
    c.capacity = 1;
    c.evict_fraction = 1.0f;
    EmbeddingTable t(c);
    const std::vector<uint64_t> keys{5, 9};
    t.gather_train(keys, 0, out);
    EXPECT_FALSE(t.contains(5));
    const auto before = gather(t, {9});
    EXPECT_EQ(t.apply_gradients(keys, grads, 0), 1u);  // 9 once, not 9 twice via 5's row
    const auto after = gather(t, {9});
    // One Adagrad step with gradient 1 from an empty accumulator: w - lr / (1 + eps).
    EXPECT_NEAR(after[0], before[0] - c.optimizer.lr / (1.0f + c.optimizer.eps), 1e-6);
  }
  {  // Erased between the gather and the step: nothing to update.
    EmbeddingTable t(config());
    const std::vector<uint64_t> keys{3, 4};
    t.gather_train(keys, 0, out);
    const std::vector<uint64_t> gone{3};
    t.erase(gone);
    EXPECT_EQ(t.apply_gradients(keys, grads, 0), 1u);
    EXPECT_FALSE(t.contains(3));
  }
}

TEST(Table, AdmissionWithProbability) {
  auto c = config();
  c.admit_probability = 0.25f;
  EmbeddingTable t(c);
  std::vector<uint64_t> keys(4000);
  for (size_t i = 0; i < keys.size(); ++i) keys[i] = i;
  std::vector<float> out(keys.size() * 4);
  t.gather_train(keys, 0, out);
  EXPECT_NEAR(static_cast<double>(t.stats().rows) / keys.size(), 0.25, 0.03);
}

TEST(Table, GrowsAndFindsEveryKey) {
  EmbeddingTable t(config(8));
  std::mt19937_64 rng(1);
  std::vector<uint64_t> keys(100000);
  for (auto& k : keys) k = rng();
  std::vector<float> out(keys.size() * 8);
  t.gather_train(keys, 0, out);
  std::vector<float> again(out.size());
  std::vector<uint8_t> found(keys.size());
  EXPECT_EQ(t.gather(keys, again, found), keys.size());
  EXPECT_EQ(out, again);
  const auto s = t.stats();
  EXPECT_EQ(s.rows, keys.size());
  EXPECT_GT(s.index_slots, keys.size());
}

TEST(Table, TtlKeepsMemoryFlatOnAnEndlessStreamOfNewKeys) {
  auto c = config(16);
  c.ttl_seconds = 100;
  EmbeddingTable t(c);
  std::vector<float> out(1000 * 16);
  std::vector<uint64_t> keys(1000);
  uint64_t next = 0;
  uint64_t bytes_at_warm = 0, max_rows = 0;
  for (int64_t step = 0; step < 400; ++step) {  // 400 batches of 1000 brand-new keys, 1 s apart
    for (auto& k : keys) k = next++;
    t.gather_train(keys, step, out);
    t.evict_expired(step);
    const auto s = t.stats();
    if (step == 150) bytes_at_warm = s.bytes;
    max_rows = std::max<uint64_t>(max_rows, s.rows);
    // After warm-up, rows are reused and the index is rebuilt in place: memory stays within
    // a few percent of the warm level, whatever the number of keys seen.
    if (step > 150) {
      EXPECT_LE(s.bytes, bytes_at_warm * 1.03) << "memory grew at step " << step;
    }
  }
  EXPECT_LE(max_rows, 102000u);  // ~ttl seconds of keys
  EXPECT_EQ(t.stats().evicted, next - t.stats().rows);
}

TEST(Table, CapacityEvictsLeastRecentlyUsed) {
  auto c = config();
  c.capacity = 100;
  c.evict_fraction = 0.1f;
  EmbeddingTable t(c);
  std::vector<float> out(4);
  for (uint64_t k = 0; k < 100; ++k) {
    std::vector<uint64_t> one = {k};
    t.gather_train(one, static_cast<int64_t>(k), out);
  }
  std::vector<uint64_t> old = {0};
  t.gather_train(old, 1000, out);  // key 0 becomes the most recent
  std::vector<uint64_t> fresh = {500};
  t.gather_train(fresh, 1001, out);
  EXPECT_LE(t.stats().rows, 100u);
  EXPECT_TRUE(t.contains(0));
  EXPECT_TRUE(t.contains(500));
  EXPECT_FALSE(t.contains(1));  // the oldest went
  EXPECT_TRUE(t.contains(99));
}

TEST(Table, CapacityEvictsLeastFrequentlyUpdated) {
  auto c = config();
  c.capacity = 10;
  c.evict_fraction = 0.1f;
  c.policy = TableConfig::Policy::kLfu;
  EmbeddingTable t(c);
  std::vector<float> out(4), g(4, 1.0f);
  for (uint64_t k = 0; k < 10; ++k) {
    std::vector<uint64_t> one = {k};
    t.gather_train(one, 100 - static_cast<int64_t>(k), out);  // key 9 is the oldest
    for (uint64_t u = 0; u < (k == 3 ? 1 : 5); ++u) t.apply_gradients(one, g, 100);
  }
  std::vector<uint64_t> fresh = {50};
  t.gather_train(fresh, 200, out);
  EXPECT_FALSE(t.contains(3));  // fewest updates
  EXPECT_TRUE(t.contains(9));
}

TEST(Table, EraseRemovesRowsAndPendingCounts) {
  auto c = config();
  EmbeddingTable t(c);
  std::vector<float> out(8);
  std::vector<uint64_t> keys = {1, 2};
  t.gather_train(keys, 0, out);
  std::vector<uint64_t> gone = {1};
  EXPECT_EQ(t.erase(gone), 1u);
  EXPECT_FALSE(t.contains(1));
  EXPECT_TRUE(t.contains(2));
}

TEST(Table, ExportSlot) {
  EmbeddingTable t(config());
  std::vector<uint64_t> keys = {make_key(2, 9), make_key(1, 4), make_key(2, 3)};
  std::vector<float> out(12);
  t.gather_train(keys, 0, out);
  std::vector<uint64_t> ks;
  std::vector<float> rows;
  t.export_slot(2, ks, rows);
  EXPECT_EQ(ks, (std::vector<uint64_t>{make_key(2, 3), make_key(2, 9)}));
  ASSERT_EQ(rows.size(), 8u);
  EXPECT_EQ(std::vector<float>(rows.begin(), rows.begin() + 4), gather(t, {make_key(2, 3)}));
}

// Full state of a table for bit-exact comparisons: gathered rows of the given keys.
std::vector<float> snapshot(const EmbeddingTable& t, const std::vector<uint64_t>& keys) {
  std::vector<float> out(keys.size() * t.dim());
  std::vector<uint8_t> found(keys.size());
  t.gather(keys, out, found);
  for (size_t i = 0; i < keys.size(); ++i)
    if (!found[i]) out[i * t.dim()] = -12345.0f;  // mark absence
  return out;
}

class Checkpoint : public ::testing::TestWithParam<OptimizerKind> {};

// A root merging another shard's delta (online steps on MPI ranks): the shard's rows and
// removals arrive, the root's own rows stay, and the root's next delta carries both.
TEST_P(Checkpoint, AnotherShardsDeltaMergesWithoutEndingThisTablesDelta) {
  auto c = config(8);
  c.optimizer.kind = GetParam();
  EmbeddingTable root(c), other(c), replica(c);
  std::vector<uint64_t> keys(200);
  for (uint64_t k = 0; k < 200; ++k) keys[k] = k;
  auto train = [&](EmbeddingTable& t, uint64_t from, uint64_t to, float g, int64_t now) {
    std::vector<uint64_t> ks(keys.begin() + from, keys.begin() + to);
    std::vector<float> out(ks.size() * 8), grads(ks.size() * 8, g);
    t.gather_train(ks, now, out);
    t.apply_gradients(ks, grads, now);
  };
  train(root, 0, 200, 0.5f, 1);
  const std::string base = root.save_full_bytes();
  other.load_full_bytes(base, "base");
  replica.load_full_bytes(base, "base");
  root.mark();
  train(root, 0, 50, 0.25f, 2);      // the root's own keys
  train(other, 50, 100, -0.75f, 2);  // the other shard's
  other.erase(std::vector<uint64_t>{150});
  std::vector<uint64_t> written;
  root.merge_delta_bytes(other.save_delta_bytes(), "the other shard", &written);
  EXPECT_EQ(written.size(), 51u);  // 50 rows and one removal
  const std::vector<uint64_t> theirs(keys.begin() + 50, keys.begin() + 100);
  EXPECT_EQ(snapshot(root, theirs), snapshot(other, theirs));
  EXPECT_EQ(snapshot(root, {150})[0], -12345.0f);        // removed
  EXPECT_NE(snapshot(root, {0}), snapshot(other, {0}));  // the root's own row stays its own
  replica.apply_delta_bytes(root.save_delta_bytes(), "the root's delta");
  EXPECT_EQ(snapshot(replica, keys), snapshot(root, keys));
}

TEST_P(Checkpoint, FullAndBasePlusDeltasAreBitExact) {
  streamrec::testing::TempDir dir;
  auto c = config(8);
  c.optimizer.kind = GetParam();
  EmbeddingTable live(c);
  std::mt19937_64 rng(3);
  std::vector<uint64_t> all;
  auto train_round = [&](int64_t now) {
    std::vector<uint64_t> keys(64);
    for (auto& k : keys) k = rng() % 500;
    all.insert(all.end(), keys.begin(), keys.end());
    std::vector<float> out(keys.size() * 8), g(keys.size() * 8);
    live.gather_train(keys, now, out);
    for (auto& x : g) x = std::uniform_real_distribution<float>(-1, 1)(rng);
    live.apply_gradients(keys, g, now);
  };
  for (int i = 0; i < 5; ++i) train_round(i);
  live.save_full((dir.path() / "base").string());
  live.mark();
  std::vector<std::string> delta_bytes;
  for (int d = 0; d < 3; ++d) {
    for (int i = 0; i < 4; ++i) train_round(10 + d * 4 + i);
    std::vector<uint64_t> gone = {all[d * 7], all[d * 7 + 1]};
    live.erase(gone);
    live.save_delta((dir.path() / ("delta" + std::to_string(d))).string());
    delta_bytes.push_back(live.save_delta_bytes());
    live.mark();
  }
  EmbeddingTable restored(c), restored_in_memory(c);
  restored.load_full((dir.path() / "base").string());
  restored_in_memory.load_full((dir.path() / "base").string());
  for (int d = 0; d < 3; ++d) {
    const auto path = dir.path() / ("delta" + std::to_string(d));
    restored.apply_delta(path.string());
    std::ifstream in(path, std::ios::binary);
    EXPECT_EQ(delta_bytes[d], std::string(std::istreambuf_iterator<char>(in), {}));
    restored_in_memory.apply_delta_bytes(delta_bytes[d], "test delta");
  }
  std::vector<uint64_t> keys(500);
  for (uint64_t k = 0; k < 500; ++k) keys[k] = k;
  EXPECT_EQ(snapshot(live, keys), snapshot(restored, keys));
  EXPECT_EQ(snapshot(live, keys), snapshot(restored_in_memory, keys));
  EXPECT_EQ(live.stats().rows, restored.stats().rows);
  // Optimizer state restored too: one more identical step keeps them identical.
  std::vector<float> g(keys.size() * 8, 0.25f), out(keys.size() * 8);
  live.apply_gradients(keys, g, 100);
  restored.apply_gradients(keys, g, 100);
  EXPECT_EQ(snapshot(live, keys), snapshot(restored, keys));
  // A full save of the live table restores to the same state.
  live.save_full((dir.path() / "full2").string());
  EmbeddingTable again(c);
  again.load_full((dir.path() / "full2").string());
  EXPECT_EQ(snapshot(live, keys), snapshot(again, keys));
  // In memory: the same bytes as the file, and the same restore.
  const std::string bytes = live.save_full_bytes();
  {
    std::ifstream in(dir.path() / "full2", std::ios::binary);
    EXPECT_EQ(bytes, std::string(std::istreambuf_iterator<char>(in), {}));
  }
  EmbeddingTable from_bytes(c);
  from_bytes.load_full_bytes(bytes, "test bytes");
  EXPECT_EQ(snapshot(live, keys), snapshot(from_bytes, keys));
  live.apply_gradients(keys, g, 101);
  from_bytes.apply_gradients(keys, g, 101);
  EXPECT_EQ(snapshot(live, keys), snapshot(from_bytes, keys));
}

INSTANTIATE_TEST_SUITE_P(Optimizers, Checkpoint,
                         ::testing::Values(OptimizerKind::kAdam, OptimizerKind::kRowAdagrad),
                         [](const auto& info) { return std::string(to_string(info.param)); });

TEST(Checkpoint, CorruptTruncatedAndForeignFilesGiveClearErrors) {
  streamrec::testing::TempDir dir;
  EmbeddingTable t(config());
  std::vector<uint64_t> keys = {1, 2, 3};
  std::vector<float> out(12);
  t.gather_train(keys, 0, out);
  const std::string path = (dir.path() / "t").string();
  t.save_full(path);
  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  auto expect = [&](const std::string& file, const std::string& needle) {
    EmbeddingTable u(config());
    try {
      u.load_full(file);
      FAIL() << "no error: " << needle;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  auto flipped = bytes;
  flipped[bytes.size() - 5] ^= 0x40;
  expect(dir.write("flip", flipped), "checksum");
  expect(dir.write("trunc", bytes.substr(0, bytes.size() - 10)), "truncated");
  expect(dir.write("empty", ""), "truncated");
  {
    EmbeddingTable u(config());
    try {
      u.load_full_bytes(flipped, "snapshot bytes");
      FAIL() << "no error for flipped bytes";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("'snapshot bytes' fails its checksum"),
                std::string::npos)
          << e.what();
    }
  }
  EmbeddingTable other(config(5));
  EXPECT_THROW(other.load_full(path), Error);
  EXPECT_THROW(t.apply_delta(path), Error);  // a full checkpoint is not a delta
}

TEST(Table, MemoryOverheadIsReported) {
  EmbeddingTable t(config(64));
  std::vector<uint64_t> keys(50000);
  for (size_t i = 0; i < keys.size(); ++i) keys[i] = i * 7919;
  std::vector<float> out(keys.size() * 64);
  t.gather_train(keys, 0, out);
  const auto s = t.stats();
  EXPECT_EQ(s.raw_bytes, 50000ull * 64 * 4 * 2);
  EXPECT_GT(s.overhead_bytes_per_row(), 16.0);  // the 16-byte header at least
  EXPECT_LT(s.overhead_bytes_per_row(), 200.0);
}

}  // namespace
}  // namespace streamrec::embedding
