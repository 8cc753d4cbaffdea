// The engine's options table: every flag once, each default within its own range, and a
// value out of range (or not among the choices) is an error naming the flag and value.
#include <gtest/gtest.h>

#include <set>

#include "streamrec/core/error.h"
#include "streamrec/engine/options.h"

namespace streamrec::engine {
namespace {

TEST(Options, EveryFlagOnceAndTheDefaultsPassTheirOwnChecks) {
  std::set<std::string> flags;
  for (const auto& o : engine_options()) {
    EXPECT_TRUE(flags.insert(o.flag).second) << o.flag;
    EXPECT_GT(std::string(o.help).size(), 10u) << o.flag;
  }
  EXPECT_GE(flags.size(), 25u);
  EngineOptions defaults;
  EXPECT_NO_THROW(check_options(defaults));
}

TEST(Options, OutOfRangeValuesNameTheFlagAndTheValue) {
  const auto expect_error = [](auto tweak, const char* needle) {
    EngineOptions o;
    tweak(o);
    try {
      check_options(o);
      ADD_FAILURE() << needle;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kInvalidInput);
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_error([](EngineOptions& o) { o.micro_batch = 0; }, "--micro-batch must be 1 to");
  expect_error([](EngineOptions& o) { o.quality_margin = 1; }, "--quality-margin");
  expect_error([](EngineOptions& o) { o.retrain_margin = -0.5; }, "got -0.5");
  expect_error([](EngineOptions& o) { o.ranker = "maybe"; },
               "--ranker must be one of auto, on, off");
  expect_error([](EngineOptions& o) { o.context_weight = std::nan(""); }, "--context-weight");
}

}  // namespace
}  // namespace streamrec::engine
