// The durable catalog: records round-trip through RocksDB, users are erased, and a corrupt
// record is a clear error.
#include <gtest/gtest.h>

#include <fstream>

#include "streamrec/core/error.h"
#include "streamrec/store/catalog.h"
#include "test_records.h"
#include "test_util.h"

namespace streamrec::store {
namespace {

using testing::book;

TEST(Catalog, RoundTripsRecordsDurablyAndErasesUsers) {
  testing::TempDir dir;
  const auto path = (dir.path() / "catalog").string();
  {
    store::Catalog c(path);
    std::vector<store::ItemRecord> items = {book("b1", 12.5, "acme"), book("b2", 30, "zed")};
    items[0].attrs.image = "/srv/covers/b1.png";
    c.put_items(items);
    store::UserRecord u;
    u.id = "alice";
    u.attrs.fields["country"] = "pt";
    u.attrs.numeric["age"] = 31;
    c.put_users(std::span(&u, 1));
  }
  store::Catalog c(path);  // reopened: what was written is there
  const auto b1 = c.item("b1");
  ASSERT_TRUE(b1);
  EXPECT_EQ(b1->attrs.title, "Book b1");
  EXPECT_EQ(b1->attrs.categories, (std::vector<std::string>{"books", "fiction"}));
  EXPECT_EQ(b1->attrs.tags, (std::vector<std::string>{"paperback"}));
  EXPECT_EQ(b1->attrs.numeric.at("price"), 12.5);
  EXPECT_EQ(b1->fields.at("brand"), "acme");
  EXPECT_EQ(b1->expires_at, 1'900'000'000);
  EXPECT_EQ(b1->created_at, 1'800'000'000);
  EXPECT_EQ(b1->attrs.image, "/srv/covers/b1.png");
  EXPECT_EQ(c.item("b2")->attrs.image, "");
  EXPECT_FALSE(c.item("nope"));
  std::vector<std::string> ids;
  c.scan_items([&](const store::ItemRecord& r) { ids.push_back(r.id); });
  EXPECT_EQ(ids, (std::vector<std::string>{"b1", "b2"}));
  ASSERT_TRUE(c.user("alice"));
  EXPECT_EQ(c.user("alice")->attrs.numeric.at("age"), 31);
  EXPECT_TRUE(c.erase_user("alice"));
  EXPECT_FALSE(c.user("alice"));
  EXPECT_FALSE(c.erase_user("alice"));
}

TEST(Catalog, CorruptRecordIsAClearError) {
  const auto bytes = store::Catalog::encode(book("b1", 1, "x"));
  try {
    store::Catalog::decode_item(bytes.substr(0, bytes.size() - 3), "b1");
    FAIL() << "a truncated record decoded";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kCorrupt);
    EXPECT_NE(std::string(e.what()).find("catalog item 'b1'"), std::string::npos) << e.what();
  }
  EXPECT_THROW(store::Catalog::decode_item(bytes + "x", "b1"), Error);
  EXPECT_THROW(store::Catalog::decode_item("\x07" + bytes.substr(1), "b1"), Error);
}

}  // namespace
}  // namespace streamrec::store
