// Versions: numbers grow by one, only the last `keep` are kept, a snapshot comes back for a
// kept restorable version, and the errors say which version and why.
#include <gtest/gtest.h>

#include "streamrec/core/error.h"
#include "streamrec/train/versions.h"

namespace streamrec::train {
namespace {

TEST(Versions, KeepTheLastNWithTheirSnapshotsAndNumberOnAfterForget) {
  Versions v(2);
  VersionInfo info;
  info.reason = "start";
  EXPECT_EQ(v.add(info, std::string("s1")), 1u);
  info.reason = "retrain";
  EXPECT_EQ(v.add(info, std::string("s2")), 2u);
  EXPECT_EQ(v.add(info, std::nullopt), 3u);  // a model that cannot save
  const auto list = v.list();
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list.front().version, 2u);
  EXPECT_TRUE(list.front().restorable);
  EXPECT_FALSE(list.back().restorable);
  EXPECT_GT(list.back().created_ms, 0);
  EXPECT_EQ(v.snapshot(2, "mf"), "s2");
  try {
    v.snapshot(1, "mf");
    ADD_FAILURE() << "version 1 is no longer kept";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidInput);
    EXPECT_NE(std::string(e.what()).find("version 1 is not kept"), std::string::npos);
  }
  try {
    v.snapshot(3, "itemknn");
    ADD_FAILURE() << "version 3 has no snapshot";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kUnsupported);
    EXPECT_NE(std::string(e.what()).find("itemknn cannot save"), std::string::npos);
  }
  v.forget();
  EXPECT_TRUE(v.list().empty());
  EXPECT_EQ(v.current(), 3u);
  EXPECT_EQ(v.add(info, std::string("s4")), 4u);
}

}  // namespace
}  // namespace streamrec::train
