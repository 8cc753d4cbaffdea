#include <gtest/gtest.h>

#include "streamrec/core/error.h"
#include "streamrec/data/reader.h"
#include "test_util.h"

namespace streamrec::data {
namespace {

using streamrec::testing::TempDir;

Dataset read(const TempDir& dir, const std::string& format = "auto",
             OnError policy = OnError::kFail, ImportReport* report = nullptr,
             std::vector<std::string> columns = {}) {
  ReadOptions o;
  o.format = format;
  o.on_error = policy;
  o.columns = std::move(columns);
  ImportReport local;
  return read_dataset(dir.path().string(), o, report ? *report : local);
}

// Expects reading to fail with an invalid-input error containing every needle.
void expect_error(const TempDir& dir, std::initializer_list<std::string> needles,
                  const std::string& format = "auto") {
  try {
    read(dir, format);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidInput) << e.what();
    for (const auto& n : needles)
      EXPECT_NE(std::string(e.what()).find(n), std::string::npos)
          << "missing '" << n << "' in: " << e.what();
  }
}

TEST(MovieLensDat, ReadsRatingsMoviesAndKeepsStringIds) {
  TempDir dir;
  dir.write("ratings.dat",
            "1::0104257::8::1365029107\n2::0104257::7::1365029100\n"
            "2::1074638::10::1365029200\n");
  dir.write("movies.dat",
            "0104257::A Few Good Men (1992)::Crime|Drama|Thriller\n"
            "1074638::Skyfall (2012)::\n");
  const Dataset ds = read(dir);
  EXPECT_EQ(ds.events.size(), 3u);
  EXPECT_EQ(ds.num_users(), 2u);
  EXPECT_EQ(ds.items.id(ds.events[0].item), "0104257");
  EXPECT_TRUE(ds.explicit_ratings);
  EXPECT_FLOAT_EQ(ds.events[2].value, 10.0f);
  const auto& a = ds.item_attrs[ds.items.find("0104257")];
  EXPECT_EQ(a.title, "A Few Good Men (1992)");
  EXPECT_EQ(a.categories, (std::vector<std::string>{"Crime", "Drama", "Thriller"}));
  EXPECT_EQ(a.numeric.at("year"), 1992);
  EXPECT_TRUE(ds.item_attrs[ds.items.find("1074638")].categories.empty());
}

TEST(MovieLensDat, Latin1MoviesFileIsConverted) {
  TempDir dir;
  dir.write("ratings.dat", "1::1::5::978300760\n");
  dir.write("movies.dat", "1::Fant\xF4mas (1913)::Crime\n");
  const Dataset ds = read(dir);
  EXPECT_EQ(ds.item_attrs[0].title, "Fant\xC3\xB4mas (1913)");
}

TEST(BadInput, TruncatedLineNamesFileLineAndFieldCount) {
  TempDir dir;
  dir.write("ratings.dat", "1::10::5::978300760\n1::11::4\n");
  expect_error(dir, {"ratings.dat:2", "expected 4 fields", "found 3"});
}

TEST(BadInput, NonNumericRatingNamesColumnAndValue) {
  TempDir dir;
  dir.write("ratings.dat", "1::10::5::978300760\n1::11::five::978300761\n");
  expect_error(dir, {"ratings.dat:2", "column 3 (rating)", "expected a number", "'five'"});
}

TEST(BadInput, BadTimestampAndEmptyId) {
  TempDir dir;
  dir.write("ratings.dat", "1::10::5::yesterday\n");
  expect_error(dir, {"ratings.dat:1", "column 4 (timestamp)", "'yesterday'"});
  TempDir dir2;
  dir2.write("ratings.dat", "::10::5::1\n");
  expect_error(dir2, {"ratings.dat:1", "column 1 (user)", "empty id"});
}

TEST(BadInput, InvalidUtf8InRatingsIsAnEncodingError) {
  TempDir dir;
  dir.write("ratings.csv", "userId,movieId,rating,timestamp\n1,\xFF\xFE,4,1\n");
  expect_error(dir, {"ratings.csv:2", "not valid UTF-8"});
}

TEST(BadInput, InvalidUtf8InAGenericHeaderIsAnEncodingError) {
  // (found by fuzz_readers: the header's encoding error escaped as a bare exception)
  TempDir dir;
  dir.write("items.csv", "item,title,\xCDgenres,year\ni1,Film,Drama,1999\n");
  dir.write("events.csv", "user,item,timestamp\nu1,i1,5\n");
  expect_error(dir, {"items.csv:1", "header", "not valid UTF-8"});
}

TEST(BadInput, AnIntegerBeyondItsRangeIsABadField) {
  // (found by fuzz_readers: the float fallback cast 9.6e19 to int64, undefined behaviour)
  TempDir dir;
  dir.write("ratings.csv", "userId,movieId,rating,timestamp\n1,1,4.0,96498270355555555555\n");
  expect_error(dir, {"ratings.csv:2", "timestamp", "expected an integer"});
}

TEST(BadInput, EmptyFileAndHeaderOnly) {
  TempDir dir;
  dir.write("ratings.dat", "");
  expect_error(dir, {"ratings.dat", "no data rows"});
  TempDir dir2;
  dir2.write("ratings.csv", "userId,movieId,rating,timestamp\n");
  expect_error(dir2, {"ratings.csv", "no data rows"});
}

TEST(BadInput, UnknownFormatAndMissingPath) {
  TempDir dir;
  dir.write("notes.txt", "hello");
  expect_error(dir, {"cannot tell the format"});
  expect_error(dir, {"unknown format 'parquet'"}, "parquet");
  ReadOptions o;
  ImportReport r;
  EXPECT_THROW(read_dataset("/nonexistent/streamrec", o, r), Error);
}

TEST(BadInput, SkipPolicyCountsDropsAndKeepsGoodRows) {
  TempDir dir;
  dir.write("ratings.dat",
            "1::10::5::978300760\n1::11\n2::12::x::978300762\n\n3::13::4::978300763\n");
  ImportReport report;
  const Dataset ds = read(dir, "auto", OnError::kSkip, &report);
  EXPECT_EQ(ds.events.size(), 2u);
  EXPECT_EQ(report.rows_skipped, 2u);
  EXPECT_EQ(report.rows_read, 4u);
  ASSERT_EQ(report.messages.size(), 2u);
  EXPECT_NE(report.messages[0].find("ratings.dat:2"), std::string::npos);
  EXPECT_NE(report.messages[1].find("ratings.dat:3"), std::string::npos);
}

TEST(MovieLens100K, TabRatingsAndLatin1GenreFlags) {
  TempDir dir;
  dir.write("u.data", "196\t242\t3\t881250949\n186\t302\t3\t891717742\n");
  std::string flags = "|0|0|0|1|1|0|0|0|0|0|0|0|0|0|0|0|0|0|0";  // Animation, Children's
  dir.write("u.item", "242|Kolya (1996)|24-Jan-1997||http://x" + flags +
                          "\n302|L\xE9on (1994)|01-Jan-1994||http://y" + flags + "\n");
  dir.write("u.user", "196|49|M|writer|55105\n");
  const Dataset ds = read(dir);
  EXPECT_EQ(ds.events.size(), 2u);
  const auto& a = ds.item_attrs[ds.items.find("302")];
  EXPECT_EQ(a.title, "L\xC3\xA9on (1994)");
  EXPECT_EQ(a.categories, (std::vector<std::string>{"Animation", "Children's"}));
  EXPECT_EQ(ds.user_attrs[ds.users.find("196")].fields.at("occupation"), "writer");
  TempDir bad;
  bad.write("u.data", "196\t242\t3\t881250949\n");
  bad.write("u.item", "242|Kolya (1996)|x\n");
  expect_error(bad, {"u.item:1", "expected 24 fields"});
}

TEST(MovieLensCsv, QuotedTitlesWithCommasAndTags) {
  TempDir dir;
  dir.write("ratings.csv",
            "userId,movieId,rating,timestamp\n1,1,4.0,964982703\n1,2,0.5,964981247\n");
  dir.write("movies.csv",
            "movieId,title,genres\n1,\"American President, The (1995)\",Comedy|Drama|Romance\n"
            "2,\"Say \"\"Hi\"\" (2000)\",(no genres listed)\n");
  dir.write("tags.csv", "userId,movieId,tag,timestamp\n2,1,Funny,1445714994\n3,1,funny,1\n");
  const Dataset ds = read(dir);
  EXPECT_FLOAT_EQ(ds.events[1].value, 0.5f);
  EXPECT_EQ(ds.item_attrs[ds.items.find("1")].title, "American President, The (1995)");
  EXPECT_EQ(ds.item_attrs[ds.items.find("1")].tags, (std::vector<std::string>{"funny"}));
  EXPECT_EQ(ds.item_attrs[ds.items.find("2")].title, "Say \"Hi\" (2000)");
  EXPECT_TRUE(ds.item_attrs[ds.items.find("2")].categories.empty());
}

TEST(RecBole, TypedHeadersAndSideFiles) {
  TempDir dir;
  dir.write("ml.inter",
            "user_id:token\titem_id:token\trating:float\ttimestamp:float\n1\t10\t4\t100.0\n"
            "2\t11\t3\t101\n");
  dir.write("ml.item",
            "item_id:token\tmovie_title:token_seq\tclass:token_seq\tyear:float\n"
            "10\tToy Story\tAnimation Comedy\t1995\n");
  dir.write("ml.user", "user_id:token\tage:float\tgender:token\n1\t24\tF\n");
  const Dataset ds = read(dir);
  EXPECT_EQ(ds.name, "ml");
  EXPECT_EQ(ds.events.size(), 2u);
  EXPECT_EQ(ds.events[0].timestamp, 100);
  const auto& a = ds.item_attrs[ds.items.find("10")];
  EXPECT_EQ(a.title, "Toy Story");
  EXPECT_EQ(a.categories, (std::vector<std::string>{"Animation", "Comedy"}));
  EXPECT_EQ(a.numeric.at("year"), 1995);
  EXPECT_EQ(ds.user_attrs[ds.users.find("1")].fields.at("gender"), "F");
  TempDir bad;
  bad.write("x.inter", "user_id:token\titem_id:blob\n1\t2\n");
  expect_error(bad, {"x.inter:1", "unknown type 'blob'"});
}

TEST(GenericCsv, ColumnMappingContextAndIsoDates) {
  TempDir dir;
  dir.write("events.csv",
            "uid,sku,action,when,ctx.device,context\n"
            "a,p1,purchase,2024-01-02T03:04:05Z,mobile,city=paris;hour=3\n"
            "b,p2,view,1700000000,,\n");
  dir.write("items.csv",
            "item,title,categories,price,image\n"
            "p1,\"Red shoe, size 9\",shoes|red,19.5,img/p1.png\n"
            "p2,Blue hat,hats,5,/abs/p2.jpg\n");
  const Dataset ds =
      read(dir, "auto", OnError::kFail, nullptr, {"user=uid,item=sku,type=action,timestamp=when"});
  ASSERT_EQ(ds.events.size(), 2u);
  EXPECT_EQ(ds.events[0].type, EventType::kPurchase);
  EXPECT_EQ(ds.events[0].timestamp, 1704164645);
  const auto& ctx = ds.contexts[ds.events[0].context];
  EXPECT_EQ(ctx, (Context{{"city", "paris"}, {"device", "mobile"}, {"hour", "3"}}));
  EXPECT_EQ(ds.events[1].context, 0u);
  const auto& a = ds.item_attrs[ds.items.find("p1")];
  EXPECT_EQ(a.title, "Red shoe, size 9");
  EXPECT_EQ(a.numeric.at("price"), 19.5);
  // Image paths are relative to the items file (absolute ones stay as they are).
  EXPECT_EQ(a.image, (dir.path() / "img" / "p1.png").string());
  EXPECT_EQ(ds.item_attrs[ds.items.find("p2")].image, "/abs/p2.jpg");
  TempDir bad;
  bad.write("events.csv", "user,item,type\na,p1,teleport\n");
  expect_error(bad, {"events.csv:2", "column 3 (type)", "unknown event type", "'teleport'"});
  TempDir unmapped;
  unmapped.write("events.csv", "who,what\na,b\n");
  expect_error(unmapped, {"cannot find the user and item columns"});
}

TEST(GenericJsonl, ObjectsWithContext) {
  TempDir dir;
  dir.write("events.jsonl",
            "{\"user\":\"u1\",\"item\":\"i1\",\"type\":\"click\",\"timestamp\":5,"
            "\"context\":{\"device\":\"tv\"}}\n{\"user\":\"u2\",\"item\":\"i1\"}\nnot json\n");
  ImportReport report;
  const Dataset ds = read(dir, "auto", OnError::kSkip, &report);
  EXPECT_EQ(ds.events.size(), 2u);
  EXPECT_EQ(report.rows_skipped, 1u);
  EXPECT_EQ(ds.contexts[ds.events[0].context], (Context{{"device", "tv"}}));
  expect_error(dir, {"events.jsonl:3", "not a JSON object"});
}

}  // namespace
}  // namespace streamrec::data
