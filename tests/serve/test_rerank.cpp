// Serving parts without HTTP: the durable catalog, attribute filters, MMR, context lift and
// decayed counts.
#include <gtest/gtest.h>

#include <fstream>

#include "streamrec/core/error.h"
#include "streamrec/serve/rerank.h"
#include "streamrec/store/catalog.h"
#include "test_util.h"

namespace streamrec::serve {
namespace {

store::ItemRecord book(const std::string& id, double price, const std::string& brand) {
  store::ItemRecord r;
  r.id = id;
  r.attrs.title = "Book " + id;
  r.attrs.categories = {"books", "fiction"};
  r.attrs.tags = {"paperback"};
  r.attrs.numeric["price"] = price;
  r.fields["brand"] = brand;
  r.expires_at = 1'900'000'000;
  r.created_at = 1'800'000'000;
  return r;
}

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

TEST(Filter, PredicatesParseAndMatch) {
  const auto b = book("b1", 12.5, "acme");
  auto m = [&](const char* spec) { return matches(&b, parse_predicate(spec)); };
  EXPECT_TRUE(m("price<20"));
  EXPECT_TRUE(m("price<=12.5"));
  EXPECT_FALSE(m("price<12.5"));
  EXPECT_TRUE(m("price>=12.5"));
  EXPECT_FALSE(m("price>100"));
  EXPECT_TRUE(m("price=12.5"));
  EXPECT_TRUE(m("brand=acme"));
  EXPECT_FALSE(m("brand!=acme"));
  EXPECT_TRUE(m("category=fiction"));
  EXPECT_FALSE(m("category=horror"));
  EXPECT_TRUE(m("category!=horror"));
  EXPECT_TRUE(m("tag=paperback"));
  EXPECT_TRUE(m("title=Book b1"));
  EXPECT_FALSE(m("colour=red"));  // a missing key fails all but !=
  EXPECT_TRUE(m("colour!=red"));
  EXPECT_FALSE(matches(nullptr, parse_predicate("price<20")));  // no record
  for (const char* bad : {"price", "<20", "price<abc", "price!20", "price="}) {
    try {
      parse_predicate(bad);
      FAIL() << bad << " parsed";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kInvalidInput);
      EXPECT_NE(std::string(e.what()).find("filter"), std::string::npos) << e.what();
    }
  }
  ItemFilter f;
  f.categories = {"horror", "books"};
  EXPECT_TRUE(f.accepts(&b));
  f.exclude_categories = {"fiction"};
  EXPECT_FALSE(f.accepts(&b));
  f.exclude_categories.clear();
  f.predicates = {parse_predicate("price<10")};
  EXPECT_FALSE(f.accepts(&b));
  EXPECT_FALSE(f.accepts(nullptr));  // a category filter needs a record
  EXPECT_TRUE(ItemFilter{}.accepts(nullptr));
}

TEST(Rerank, MmrTradesRelevanceForDiversity) {
  // Candidates 0-2 are near-duplicates (similarity 1), 3 and 4 unlike everything.
  const std::vector<float> rel = {1.0f, 0.95f, 0.9f, 0.5f, 0.4f};
  auto sim = [](size_t a, size_t b) { return a < 3 && b < 3 ? 1.0f : 0.0f; };
  EXPECT_EQ(mmr_order(rel, 3, 0.0, sim), (std::vector<size_t>{0, 1, 2}));
  EXPECT_EQ(mmr_order(rel, 3, 0.5, sim), (std::vector<size_t>{0, 3, 4}));
  EXPECT_EQ(mmr_order(rel, 10, 0.5, sim).size(), 5u);
  EXPECT_TRUE(mmr_order({}, 3, 0.5, sim).empty());
}

TEST(Rerank, ContextLiftFollowsWhatTheContextPrefers) {
  ContextStats s;
  // On tv, "sport" is 4 times as common as overall; on mobile it is rare.
  for (int k = 0; k < 80; ++k) s.add("device=tv", 0, {"sport"});
  for (int k = 0; k < 20; ++k) s.add("device=tv", 0, {"drama"});
  for (int k = 0; k < 20; ++k) s.add("device=mobile", 0, {"sport"});
  for (int k = 0; k < 280; ++k) s.add("device=mobile", 0, {"drama"});
  const std::vector<std::pair<std::string, std::string>> tv = {{"device", "tv"}};
  const std::vector<std::pair<std::string, std::string>> mobile = {{"device", "mobile"}};
  EXPECT_GT(s.boost(tv, {"sport"}), 0.5);
  EXPECT_LT(s.boost(tv, {"drama"}), 0);
  EXPECT_LT(s.boost(mobile, {"sport"}), 0);
  EXPECT_EQ(s.boost({}, {"sport"}), 0);
  const std::vector<std::pair<std::string, std::string>> unknown = {{"device", "car"}};
  EXPECT_EQ(s.boost(unknown, {"sport"}), 0);
  // The hour of day comes from the event time when the context has none.
  s.add("", 20 * 3600 + 5, {"news"});
  const std::vector<std::pair<std::string, std::string>> evening = {{"hour", "20"}};
  EXPECT_GT(s.boost(evening, {"news"}), 0);
  EXPECT_THROW(parse_context("device", ","), Error);
  EXPECT_EQ(parse_context("device=tv, hour=20", ",").size(), 2u);
}

TEST(Rerank, DecayedCountsPreferRecentEvents) {
  DecayedCounts c(3600);
  c.add(0, 1000);
  c.add(0, 1000);
  c.add(1, 1000 + 3 * 3600);  // one event three half-lives later outweighs two old ones
  EXPECT_GT(c.weights()[1], c.weights()[0]);
  EXPECT_NEAR(c.weights()[1] / c.weights()[0], 4.0, 1e-9);
  // Far in the future: rescaled, still finite and in the same order.
  c.add(2, 1000 + 4000 * 3600LL);
  EXPECT_TRUE(std::isfinite(c.weights()[2]));
  EXPECT_GT(c.weights()[2], c.weights()[1]);
}

TEST(Guard, QualityWindowFailsOnADropAndRebaselinesAfterIt) {
  QualityWindow q(0.5, 100);
  auto window = [&](int hits) {
    for (int k = 0; k < 100; ++k) q.record(k < hits);
    return q.judge();
  };
  using V = QualityWindow::Verdict;
  q.record(true);
  EXPECT_EQ(q.judge(), V::kWait);  // 1 check: too few
  q.reset(false);
  EXPECT_EQ(window(30), V::kPass);  // the first window sets the baseline
  EXPECT_DOUBLE_EQ(q.baseline(), 0.3);
  EXPECT_EQ(window(18), V::kPass);  // 0.18 >= 0.5 x 0.3
  EXPECT_EQ(window(2), V::kFail);   // 0.02 < 0.5 x 0.18, z = 3.8
  EXPECT_LT(q.baseline(), 0);
  EXPECT_EQ(window(2), V::kPass);  // the stream changed for good: a new baseline, no loop
  EXPECT_EQ(window(1), V::kPass);  // 0.01 is not below half of 0.02
  EXPECT_EQ(window(4), V::kPass);
  EXPECT_EQ(window(0), V::kPass);  // 0 vs 4 hits: z = 2.0, not enough
}

}  // namespace
}  // namespace streamrec::serve
