// The one Context type: parse_context and format_context round-trip, and a bad entry is a
// clear error naming it.
#include <gtest/gtest.h>

#include "streamrec/core/error.h"
#include "streamrec/data/context.h"

namespace streamrec::data {
namespace {

TEST(Context, ParsesPairsWithEitherSeparatorAndFormatsThemBack) {
  const Context c = parse_context(" device = tv ; hour=20;;", ";");
  EXPECT_EQ(c, (Context{{"device", "tv"}, {"hour", "20"}}));
  EXPECT_EQ(format_context(c), "device=tv;hour=20");
  EXPECT_EQ(parse_context(format_context(c)), c);
  EXPECT_EQ(parse_context("device=tv, hour=20", ",;").size(), 2u);
  EXPECT_EQ(parse_context("filter=a=b").front().second, "a=b");  // the first '=' splits
  EXPECT_TRUE(parse_context("").empty());
}

TEST(Context, AnEntryWithoutKeyOrEqualsSignIsAnError) {
  for (const char* bad : {"device", "=tv", " =tv"}) {
    try {
      parse_context(bad);
      ADD_FAILURE() << bad;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kInvalidInput);
      EXPECT_NE(std::string(e.what()).find("is not key=value"), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace streamrec::data
