// The event log keeps every acknowledged event or refuses to start: a write-ahead log cut
// short (as a damaged disk or a careless copy leaves it) is an error that says how to
// recover, --accept-data-loss keeps the events before the damage, and deleting a user's
// newest events does not look like a loss.
#include <gtest/gtest.h>

#include <filesystem>

#include "streamrec/core/error.h"
#include "streamrec/store/event_log.h"
#include "test_util.h"

namespace streamrec::store {
namespace {

std::vector<LoggedEvent> batch(const std::string& user, int n) {
  std::vector<LoggedEvent> out;
  for (int k = 0; k < n; ++k)
    out.push_back({user, "i" + std::to_string(k), 1.0f, data::EventType::kClick, 1000 + k, ""});
  return out;
}

size_t count(const EventLog& log) {
  size_t n = 0;
  log.scan(1, [&](uint64_t, const LoggedEvent&) { return ++n, true; });
  return n;
}

// Cuts the newest write-ahead log file short by `bytes`.
void cut_wal(const std::filesystem::path& dir, uintmax_t bytes) {
  std::filesystem::path newest;
  for (const auto& f : std::filesystem::directory_iterator(dir))
    if (f.path().extension() == ".log" && f.path().filename() != "LOG" &&
        (newest.empty() || f.path() > newest))
      newest = f.path();
  ASSERT_FALSE(newest.empty());
  std::filesystem::resize_file(newest, std::filesystem::file_size(newest) - bytes);
}

TEST(EventLog, ACutWriteAheadLogIsRefusedUnlessDataLossIsAccepted) {
  testing::TempDir dir;
  const auto path = (dir.path() / "events").string();
  {
    EventLog log(path, {.sync = true});
    for (int b = 0; b < 10; ++b) log.append(batch("u" + std::to_string(b), 20));
    EXPECT_EQ(log.last_seq(), 200u);
  }
  cut_wal(path, 30);
  try {
    EventLog log(path, {.sync = true});
    FAIL() << "a log missing acknowledged events opened";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kCorrupt);
    EXPECT_NE(std::string(e.what()).find("--accept-data-loss"), std::string::npos) << e.what();
  }
  {
    EventLog log(path, {.sync = true, .accept_data_loss = true});
    EXPECT_EQ(count(log), 180u) << "the last batch was cut: the 9 before it remain";
    log.append(batch("after", 5));
  }
  EventLog again(path, {.sync = true});  // the loss was accepted: it opens from now on
  EXPECT_EQ(count(again), 185u);
}

TEST(EventLog, DeletingTheNewestEventsIsNoLoss) {
  testing::TempDir dir;
  const auto path = (dir.path() / "events").string();
  {
    EventLog log(path, {.sync = false});
    log.append(batch("a", 5));
    log.append(batch("b", 5));
    EXPECT_EQ(log.erase_user("b"), 5u);
    EXPECT_EQ(log.last_seq(), 10u);
  }
  EventLog log(path, {.sync = false});
  EXPECT_EQ(count(log), 5u);
  EXPECT_EQ(log.last_seq(), 10u) << "numbers are not handed out twice";
  EXPECT_EQ(log.append(batch("c", 1)), 11u);
}

}  // namespace
}  // namespace streamrec::store
