// The recommend pipeline without an engine or HTTP: an mf model over a stream where users
// fall in four groups, each taking its own six items. The answer excludes seen and
// excluded items, honours filters and hidden items, fills unknown users with popular
// items, puts fresh items in exploration slots and explains model candidates by the user's
// recent items.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "streamrec/core/error.h"
#include "streamrec/models/registry.h"
#include "streamrec/serve/pipeline.h"

namespace streamrec::serve {
namespace {

constexpr int64_t kNow = 2'000'000'000;

struct World {
  store::UserState users;
  store::ItemStats items;
  std::unique_ptr<models::Recommender> model = models::make_model("mf:factors=8");

  World() {
    for (uint32_t i = 0; i < 24; ++i) items.ensure(users.items().insert(id(i)));
    std::vector<data::Interaction> events;
    for (uint32_t u = 0; u < 40; ++u) {
      const std::string user = std::to_string(u).insert(0, "u");
      const uint32_t uu = users.users().insert(user);
      for (uint32_t k = 0; k < (u < 4 ? 3u : 6u); ++k) {  // users 0..3 saw half their group
        const uint32_t i = (u % 4) * 6 + k;
        const int64_t t = 1000 + u * 10 + k;
        users.add(uu, i, {user, id(i), 1.0f, data::EventType::kClick, t, ""});
        items.count_event(i, t, "device=tv");
        events.push_back({uu, i, 1.0f, data::EventType::kClick, t, 0});
      }
    }
    model->fit(models::TrainData(users.users().size(), users.items().size(), events));
  }
  static std::string id(uint32_t i) { return std::to_string(i).insert(0, "i"); }
  ServingView view() const {
    ServingView v{*model, users, items, nullptr, {}, {}, {}};
    v.score_all = [this](uint32_t user, std::span<float> scores) {
      model->score_all(user, scores);
    };
    return v;
  }
  std::vector<Recommendation> ask(RecommendRequest r) const { return recommend(view(), r, kNow); }
};

std::set<std::string> ids_of(const std::vector<Recommendation>& recs) {
  std::set<std::string> out;
  for (const auto& r : recs) out.insert(r.item);
  return out;
}

TEST(Pipeline, AKnownUserGetsTheRestOfTheirGroupFromTheModelAndNothingSeenOrExcluded) {
  World w;
  RecommendRequest r;
  r.user = "u1";  // group 1: items 6..11, saw 6, 7, 8
  r.n = 3;
  r.exclude = {"i10"};
  const auto recs = w.ask(r);
  ASSERT_EQ(recs.size(), 3u);
  const auto got = ids_of(recs);
  for (const char* seen : {"i6", "i7", "i8", "i10"}) EXPECT_EQ(got.count(seen), 0u) << seen;
  EXPECT_EQ(got.count("i9") + got.count("i11"), 2u) << "the group's unseen items rank first";
  EXPECT_EQ(recs.front().source, "model");
  EXPECT_EQ(recs.front().parts.front().first, "model");
}

TEST(Pipeline, FiltersAndHiddenItemsAreHonoured) {
  World w;
  store::ItemRecord hidden;
  hidden.id = "i9";
  hidden.hidden = true;
  w.items.set_record(9, hidden);
  store::ItemRecord tagged;
  tagged.id = "i11";
  tagged.attrs.categories = {"books"};
  w.items.set_record(11, tagged);
  RecommendRequest r;
  r.user = "u1";
  r.n = 5;
  EXPECT_EQ(ids_of(w.ask(r)).count("i9"), 0u);
  r.filter.categories = {"books"};
  const auto recs = w.ask(r);
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0].item, "i11");
}

TEST(Pipeline, AnUnknownUserGetsPopularItemsAndExplorationSlotsGetFreshOnes) {
  World w;
  RecommendRequest r;
  r.user = "nobody";
  r.n = 4;
  auto recs = w.ask(r);
  ASSERT_EQ(recs.size(), 4u);
  for (const auto& x : recs) EXPECT_EQ(x.source, "popular");
  // A new catalog item, created after every event: fresh.
  store::ItemRecord fresh;
  fresh.id = "new";
  fresh.created_at = 1000 + 10 * 86400;  // the other items are older than fresh_seconds
  const uint32_t i = w.users.items().insert("new");
  w.items.set_record(i, fresh);
  r.explore = 0.25;
  recs = w.ask(r);
  ASSERT_EQ(recs.size(), 4u);
  EXPECT_EQ(std::count_if(recs.begin(), recs.end(),
                          [](const auto& x) { return x.source == "fresh" && x.item == "new"; }),
            1);
}

TEST(Pipeline, ExplanationsNameRecentItemsAndDiversityKeepsTheCount) {
  World w;
  RecommendRequest r;
  r.user = "u2";
  r.n = 3;
  r.explain = true;
  r.diversity = 0.5;
  const auto recs = w.ask(r);
  ASSERT_EQ(recs.size(), 3u);
  const std::set<std::string> history = {"i12", "i13", "i14"};
  size_t explained = 0;
  for (const auto& x : recs)
    for (const auto& b : x.because) {
      EXPECT_EQ(history.count(b), 1u) << b;
      ++explained;
    }
  EXPECT_GT(explained, 0u);
}

TEST(Pipeline, PopularSimilarAndFreshListsHonourTheirBounds) {
  World w;
  const auto popular = by_counts(w.users, w.items, w.items.popular(), 5, {}, "popular", kNow);
  ASSERT_EQ(popular.size(), 5u);
  EXPECT_GE(popular[0].score, popular[4].score);
  EXPECT_THROW(by_counts(w.users, w.items, w.items.popular(), 0, {}, "popular", kNow), Error);
  const auto similar = similar_items(*w.model, w.users, w.items, "i0", 3, kNow);
  ASSERT_EQ(similar.size(), 3u);
  EXPECT_EQ(ids_of(similar).count("i0"), 0u);
  EXPECT_THROW(similar_items(*w.model, w.users, w.items, "nope", 3, kNow), Error);
  // Only an item first seen within fresh_seconds of the newest time is fresh.
  store::ItemRecord fresh;
  fresh.id = "new";
  fresh.created_at = 1000 + 10 * 86400;
  w.items.set_record(w.users.items().insert("new"), fresh);
  const auto got = fresh_items(w.users, w.items, 3 * 86400, 5, {}, {}, "u", kNow);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].item, "new");
  EXPECT_EQ(got[0].source, "fresh");
}

}  // namespace
}  // namespace streamrec::serve
