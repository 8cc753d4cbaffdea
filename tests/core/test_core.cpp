#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <fstream>
#include <limits>
#include <sstream>
#include <thread>

#include "streamrec/core/config.h"
#include "streamrec/core/error.h"
#include "streamrec/core/group_commit.h"
#include "streamrec/core/id_map.h"
#include "streamrec/core/parallel.h"
#include "streamrec/core/serialize.h"
#include "streamrec/core/softmax_rows.h"
#include "streamrec/core/text.h"
#include "test_util.h"

namespace streamrec {
namespace {

TEST(IdMap, AssignsDenseIndicesAndKeepsStringIds) {
  IdMap m;
  EXPECT_EQ(m.insert("0104257"), 0u);
  EXPECT_EQ(m.insert("104257"), 1u);  // not the same id as "0104257"
  EXPECT_EQ(m.insert("0104257"), 0u);
  EXPECT_EQ(m.find("104257"), 1u);
  EXPECT_EQ(m.find("x"), IdMap::kMissing);
  EXPECT_EQ(m.id(0), "0104257");
  std::stringstream buf;
  m.save(buf);
  const IdMap back = IdMap::load(buf);
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(back.id(1), "104257");
  EXPECT_EQ(back.find("0104257"), 0u);
}

TEST(Text, SplitParseAndEncodings) {
  EXPECT_EQ(text::split("a::b::", "::").size(), 3u);
  EXPECT_EQ(text::split("a::b::", "::")[2], "");
  EXPECT_EQ(text::parse_double(" 3.5 "), 3.5);
  EXPECT_FALSE(text::parse_double("3.5x"));
  EXPECT_FALSE(text::parse_double("nan"));
  EXPECT_FALSE(text::parse_int("12.5"));
  EXPECT_EQ(text::parse_int("+12"), 12);
  EXPECT_FALSE(text::invalid_utf8_at("Fant\xC3\xB4mas"));
  EXPECT_EQ(text::invalid_utf8_at("Fant\xF4mas"), 4u);  // Latin-1 byte
  EXPECT_EQ(text::invalid_utf8_at("ab\xC0\xAF"), 2u);   // overlong
  EXPECT_EQ(text::latin1_to_utf8("Fant\xF4mas"), "Fant\xC3\xB4mas");
  EXPECT_EQ(text::tokenize("The Matrix (1999)"),
            (std::vector<std::string>{"the", "matrix", "1999"}));
}

TEST(Params, ValidatesKeysRangesAndChoices) {
  Params p("model", {ParamSpec::integer("k", 10, 1, 100, "neighbours"),
                     ParamSpec::choice("algo", "a", {"a", "b"}, "algorithm")});
  p.set_from({"k=20,algo=b"});
  EXPECT_EQ(p.integer("k"), 20);
  EXPECT_EQ(p.str("algo"), "b");
  try {
    p.set("kk", "1");
    FAIL() << "unknown key accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("unknown parameter 'kk' (known: k, algo)"),
              std::string::npos)
        << e.what();
  }
  EXPECT_THROW(p.set("k", "0"), Error);
  EXPECT_THROW(p.set("k", "ten"), Error);
  EXPECT_THROW(p.set("algo", "c"), Error);
  EXPECT_EQ(p.summary(), "k=20,algo=b");
}

TEST(Serialize, RoundTripAndCorruptFilesGiveClearErrors) {
  testing::TempDir dir;
  const std::string path = (dir.path() / "f.bin").string();
  write_checked_file(path, {"thing", 2}, "hello payload");
  uint32_t version = 0;
  EXPECT_EQ(read_checked_file(path, "thing", 2, &version), "hello payload");
  EXPECT_EQ(version, 2u);
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));

  auto expect_corrupt = [&](const std::string& file, const char* kind, uint32_t max_version,
                            const std::string& needle) {
    try {
      read_checked_file(file, kind, max_version);
      FAIL() << "no error for " << needle;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kCorrupt) << e.what();
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_corrupt(path, "other", 2, "expected a 'other'");
  expect_corrupt(path, "thing", 1, "format version 2");
  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  auto flipped = bytes;
  flipped.back() ^= 0x01;
  expect_corrupt(dir.write("flip.bin", flipped), "thing", 2, "checksum");
  expect_corrupt(dir.write("trunc.bin", bytes.substr(0, bytes.size() - 3)), "thing", 2,
                 "truncated");
  expect_corrupt(dir.write("short.bin", bytes.substr(0, 10)), "thing", 2, "truncated");
  expect_corrupt(dir.write("magic.bin", "XXXX" + bytes.substr(4)), "thing", 2, "bad magic");

  // The in-memory envelope is the file's bytes, and checks the same things.
  EXPECT_EQ(checked_bytes({"thing", 2}, "hello payload"), bytes);
  EXPECT_EQ(checked_payload(bytes, "thing", 2, "snapshot", &version), "hello payload");
  auto expect_corrupt_bytes = [&](const std::string& b, const std::string& needle) {
    try {
      checked_payload(b, "thing", 2, "snapshot");
      FAIL() << "no error for " << needle;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kCorrupt) << e.what();
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("snapshot"), std::string::npos) << e.what();
    }
  };
  expect_corrupt_bytes(flipped, "checksum");
  expect_corrupt_bytes(bytes.substr(0, bytes.size() - 3), "truncated");
  expect_corrupt_bytes(bytes.substr(0, 10), "truncated");
  expect_corrupt_bytes("XXXX" + bytes.substr(4), "bad magic");
}

TEST(Serialize, Crc32IsTheStandardCrcAndChains) {
  EXPECT_EQ(crc32("123456789"), 0xCBF43926u);  // the CRC-32 check value
  EXPECT_EQ(crc32(""), 0u);
  const std::string a = "streaming ", b = "recommendations";
  EXPECT_EQ(crc32(b, crc32(a)), crc32(a + b));
}

TEST(Serialize, ReaderRejectsImplausibleCounts) {
  std::stringstream buf;
  BinaryWriter w(buf);
  w.u64(uint64_t{1} << 60);  // a vector length no real file has
  BinaryReader r(buf, "test");
  EXPECT_THROW(r.f32s(), Error);
}

TEST(Parallel, CoversEveryIndexOnceAndRethrows) {
  std::vector<std::atomic<int>> hits(1000);
  parallel_for(
      hits.size(),
      [&](size_t b, size_t e, int) {
        for (size_t i = b; i < e; ++i) ++hits[i];
      },
      7);
  for (auto& h : hits) EXPECT_EQ(h.load(), 1);
  EXPECT_THROW(parallel_for(100, [](size_t, size_t, int) { throw Error(ErrorKind::kIo, "x"); }),
               Error);
}

TEST(Parallel, HelpersAreReusedAndConcurrentOrNestedCallsStillCoverEveryIndex) {
  const int before = num_threads();
  set_num_threads(3);
  // Reused: a helper thread already ran a chunk of the first call when the second runs.
  thread_local int chunks_on_this_thread = 0;
  std::atomic<int> helper_chunks{0}, reused{0};
  for (int call = 0; call < 2; ++call)
    parallel_for(
        600,
        [&](size_t, size_t, int t) {
          std::this_thread::sleep_for(std::chrono::milliseconds(1));
          if (t == 0) return;
          if (call == 1 && chunks_on_this_thread > 0) ++reused;
          ++chunks_on_this_thread;
          ++helper_chunks;
        },
        10);
  EXPECT_GT(helper_chunks.load(), 0);
  EXPECT_GT(reused.load(), 0);
  // Four callers at once, each nesting a parallel_for in its body.
  std::vector<std::vector<std::atomic<int>>> hits(4);
  std::vector<std::thread> callers;
  for (auto& h : hits) {
    h = std::vector<std::atomic<int>>(2000);
    callers.emplace_back([&h] {
      parallel_for(
          20,
          [&](size_t b, size_t e, int) {
            for (size_t blk = b; blk < e; ++blk)
              parallel_for(
                  100,
                  [&](size_t i, size_t j, int) {
                    for (; i < j; ++i) ++h[blk * 100 + i];
                  },
                  9);
          },
          1);
    });
  }
  for (auto& c : callers) c.join();
  for (auto& h : hits)
    for (auto& x : h) EXPECT_EQ(x.load(), 1);
  set_num_threads(before);
}

TEST(Parallel, HelpersRunAtTheCallersNicenessAndPolicy) {
  const int before = num_threads();
  set_num_threads(2);
  // The helper starts here, at this thread's niceness: a later caller's must be taken, not
  // inherited at creation.
  parallel_for(
      2, [](size_t, size_t, int) {}, 1);
  ASSERT_FALSE(thread_sched_idle());
  int caller = 0;
  std::atomic<int> helper{-100};
  std::atomic<bool> helper_idle{false};
  std::thread background([&] {
    // Raising one's own niceness, and entering SCHED_IDLE, need no privilege.
    caller = std::min(19, thread_nice() + 3);
    ASSERT_TRUE(set_thread_nice(caller));
    ASSERT_TRUE(set_thread_sched_idle(true));
    ASSERT_TRUE(thread_sched_idle());
    parallel_for(
        20,
        [&](size_t, size_t, int t) {
          std::this_thread::sleep_for(std::chrono::milliseconds(2));
          if (t == 1) {
            helper = thread_nice();
            helper_idle = thread_sched_idle();
          }
        },
        1);
  });
  background.join();
  set_num_threads(before);
  EXPECT_FALSE(thread_sched_idle());  // the policy is the thread's, not the process's
  if (helper.load() == -100) GTEST_SKIP() << "no chunk ran on a helper thread";
  EXPECT_EQ(helper.load(), caller);
  EXPECT_TRUE(helper_idle.load());
}

TEST(GroupCommit, ConcurrentJobsRunInSharedBatchesEachExactlyOnce) {
  // Each batch doubles every job's value; a slow run makes jobs queue behind it, so batches
  // of several form.
  std::atomic<int> running{0}, overlaps{0};
  GroupCommit<int> commit([&](std::span<int* const> batch) {
    if (running.fetch_add(1) != 0) ++overlaps;
    for (int* j : batch) *j *= 2;
    std::this_thread::sleep_for(std::chrono::microseconds(200));
    running.fetch_sub(1);
  });
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      for (int k = 0; k < 50; ++k) {
        int job = t * 1000 + k;
        commit.submit(job);
        if (job != 2 * (t * 1000 + k)) ++wrong;
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(overlaps.load(), 0) << "two batches ran at once";
  EXPECT_EQ(commit.jobs(), 400u);
  EXPECT_LT(commit.batches(), 400u) << "no batch held more than one job";
}

TEST(GroupCommit, AFailedRunReachesEveryJobOfItsBatchAndTheNextBatchesRun) {
  GroupCommit<int> commit([](std::span<int* const> batch) {
    for (int* j : batch)
      if (*j < 0) throw std::runtime_error("negative job");
    for (int* j : batch) *j += 1;
  });
  int bad = -1, good = 1;
  EXPECT_THROW(commit.submit(bad), std::runtime_error);
  commit.submit(good);
  EXPECT_EQ(good, 2);
  EXPECT_EQ(commit.batches(), 2u);
}

TEST(SoftmaxRows, ExpMatchesStdExpAndRowsSumUp) {
  // Columns: not a multiple of the vector width (a scalar tail), -inf entries, a wide range.
  const int64_t rows = 3, cols = 37;
  std::vector<float> x(rows * cols), ref;
  for (int64_t i = 0; i < rows * cols; ++i) x[i] = static_cast<float>((i * 7919) % 200) * 0.5f - 60;
  x[5] = -std::numeric_limits<float>::infinity();
  x[cols + 36] = -std::numeric_limits<float>::infinity();
  x[2 * cols + 1] = -200.0f;  // exp(-200 - max) underflows to 0
  ref = x;
  std::vector<float> m(rows), s(rows);
  exp_rows(x.data(), rows, cols, m.data(), s.data());
  for (int64_t r = 0; r < rows; ++r) {
    float want_max = -std::numeric_limits<float>::infinity();
    for (int64_t j = 0; j < cols; ++j) want_max = std::max(want_max, ref[r * cols + j]);
    EXPECT_EQ(m[r], want_max);
    double sum = 0;
    for (int64_t j = 0; j < cols; ++j) {
      const double want = std::exp(static_cast<double>(ref[r * cols + j]) - want_max);
      EXPECT_NEAR(x[r * cols + j], want, 3e-7 * want + 1e-38) << r << "," << j;
      sum += x[r * cols + j];
    }
    EXPECT_NEAR(s[r], sum, 1e-5 * sum);
  }
  EXPECT_EQ(x[5], 0.0f);
  EXPECT_EQ(x[2 * cols + 1], 0.0f);
}

}  // namespace
}  // namespace streamrec
