// Serving parts without HTTP: the durable catalog, attribute filters, MMR, context lift and
// decayed counts.
#include <gtest/gtest.h>

#include <fstream>

#include "streamrec/core/error.h"
#include "streamrec/serve/rerank.h"
#include "test_records.h"
#include "test_util.h"

namespace streamrec::serve {
namespace {

using testing::book;

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

}  // namespace
}  // namespace streamrec::serve
