// The retrainer without an engine: one job at a time, the status while it runs and after,
// and a job's exception as the status' error.
#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <stdexcept>

#include "streamrec/train/retrainer.h"

namespace streamrec::train {
namespace {

TEST(Retrainer, OneJobAtATimeWithItsOutcomeInTheStatus) {
  std::mutex m;
  std::condition_variable cv;
  bool release = false, entered = false;
  int runs = 0;
  Retrainer r([&](RetrainStatus& s) {
    std::unique_lock lock(m);
    entered = true;
    ++runs;
    cv.notify_all();
    cv.wait(lock, [&] { return release; });
    if (runs == 2) throw std::runtime_error("the model was replaced");
    s.events_fitted = 40;
    s.accepted = true;
  });
  EXPECT_FALSE(r.status().running);
  ASSERT_TRUE(r.start(/*scheduled=*/true));
  {
    std::unique_lock lock(m);
    cv.wait(lock, [&] { return entered; });
  }
  EXPECT_TRUE(r.status().running);
  EXPECT_TRUE(r.status().scheduled);
  EXPECT_GT(r.status().started_ms, 0);
  EXPECT_FALSE(r.start(false)) << "one at a time";
  {
    std::lock_guard lock(m);
    release = true;
  }
  cv.notify_all();
  r.join();
  auto s = r.status();
  EXPECT_FALSE(s.running);
  EXPECT_EQ(s.events_fitted, 40u);
  EXPECT_TRUE(s.accepted);
  EXPECT_TRUE(s.error.empty());
  EXPECT_GE(s.finished_ms, s.started_ms);

  ASSERT_TRUE(r.start(false));  // the second run throws
  r.join();
  s = r.status();
  EXPECT_FALSE(s.running);
  EXPECT_FALSE(s.scheduled);
  EXPECT_FALSE(s.accepted);
  EXPECT_EQ(s.error, "the model was replaced");
  EXPECT_EQ(runs, 2);
}

}  // namespace
}  // namespace streamrec::train
