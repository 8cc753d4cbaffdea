// What the engine accepts, without an engine: value ranges by event type, timestamps no
// further ahead than the allowed skew, bounded text, and item images only as regular files
// under the image root (no absolute path, no '..', no link out, no FIFO); the image loader
// itself refuses a FIFO at once instead of waiting for a writer.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>

#include "streamrec/core/error.h"
#include "streamrec/data/image.h"
#include "streamrec/engine/checks.h"
#include "test_util.h"

namespace streamrec::engine {
namespace {

constexpr int64_t kNow = 1'700'000'000;

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidInput);
    return e.what();
  }
  return "";
}

store::LoggedEvent event(float value, data::EventType type, int64_t t) {
  return {"u", "i", value, type, t, ""};
}

TEST(Checks, EventValuesByTypeAndTimestampsWithinTheSkew) {
  const InputLimits limits{3600, "", 100};
  using T = data::EventType;
  auto check = [&](const store::LoggedEvent& e) {
    return error_of([&] { check_event(e, 7, kNow, limits); });
  };
  EXPECT_EQ(check(event(4.5f, T::kRating, kNow)), "");
  EXPECT_EQ(check(event(-3, T::kRating, kNow)), "");
  EXPECT_EQ(check(event(1, T::kClick, kNow + 3600)), "");
  const auto big = check(event(3e38f, T::kClick, kNow));
  EXPECT_NE(big.find("event 7: field 'value'"), std::string::npos) << big;
  EXPECT_NE(big.find("0 to 100"), std::string::npos) << big;
  EXPECT_NE(check(event(-1, T::kPurchase, kNow)), "");
  EXPECT_NE(check(event(101, T::kRating, kNow)), "");
  const auto future = check(event(1, T::kClick, kNow + 3601));
  EXPECT_NE(future.find("more than 3600 s ahead"), std::string::npos) << future;
  EXPECT_NE(check(event(1, T::kClick, std::numeric_limits<int64_t>::max())), "");
  auto e = event(1, T::kClick, kNow);
  e.context = std::string(kMaxTextLength + 1, 'x');
  EXPECT_NE(check(e).find("'context'"), std::string::npos);
}

TEST(Checks, ItemTextAndListsAreBounded) {
  store::ItemRecord r;
  r.id = "i1";
  r.attrs.title = std::string(kMaxTextLength + 1, 't');
  EXPECT_NE(error_of([&] { check_item(r, 2, {}); }).find("item 2: field 'title'"),
            std::string::npos);
  r.attrs.title = "ok";
  r.attrs.categories.assign(kMaxListLength + 1, "c");
  EXPECT_NE(error_of([&] { check_item(r, 2, {}); }).find("'categories'"), std::string::npos);
  r.attrs.categories = {"drama", std::string(kMaxNameLength + 1, 'c')};
  EXPECT_NE(error_of([&] { check_item(r, 2, {}); }), "");
  r.attrs.categories = {"drama"};
  r.fields["brand"] = std::string(kMaxTextLength + 1, 'b');
  EXPECT_NE(error_of([&] { check_item(r, 2, {}); }).find("'brand'"), std::string::npos);
  r.fields["brand"] = "acme";
  EXPECT_EQ(error_of([&] { check_item(r, 2, {}); }), "");
}

TEST(Checks, ImagesOnlyAsRegularFilesUnderTheRoot) {
  testing::TempDir dir;
  const auto root = dir.path() / "images";
  std::filesystem::create_directories(root / "sub");
  ASSERT_TRUE(data::save_png_rgb((root / "sub" / "a.png").string(), 4,
                                 std::vector<uint8_t>(3 * 4 * 4, 128)));
  const auto outside = dir.write("secret.txt", "not for the API");
  std::filesystem::create_symlink(outside, root / "link.png");
  ASSERT_EQ(::mkfifo((root / "fifo.png").c_str(), 0600), 0);
  const std::string r = root.string();

  EXPECT_EQ(resolve_image(r, "sub/a.png"), (root / "sub" / "a.png").string());
  auto refused = [&](const std::string& path, const std::string& why) {
    const auto e = error_of([&] { resolve_image(r, path); });
    EXPECT_NE(e.find(why), std::string::npos) << path << ": " << e;
  };
  refused("/etc/shadow", "relative to the image root");
  refused("sub/../../secret.txt", "'..'");
  refused("link.png", "out of the image root");
  refused("fifo.png", "not a regular file");
  refused("missing.png", "not found");

  store::ItemRecord item;
  item.id = "i1";
  item.attrs.image = "sub/a.png";
  const auto none = error_of([&] { check_item(item, 0, {}); });
  EXPECT_NE(none.find("--image-root"), std::string::npos) << none;
  check_item(item, 0, {86400, r, 100});
  EXPECT_EQ(item.attrs.image, (root / "sub" / "a.png").string()) << "stored resolved";

  // The loader opens without blocking: a FIFO without a writer fails at once.
  std::vector<uint8_t> px;
  std::string error;
  EXPECT_FALSE(data::load_image_rgb((root / "fifo.png").string(), 4, px, error));
  EXPECT_EQ(error, "not a regular file");
  EXPECT_TRUE(data::load_image_rgb((root / "sub" / "a.png").string(), 4, px, error)) << error;
}

}  // namespace
}  // namespace streamrec::engine
