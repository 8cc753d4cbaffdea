// The serving snapshot and the ANN upkeep without an engine: an mf model over 300 items.
// What is installed is read back whole (model, ranker, a scorer over that model's vectors);
// batched retrieval queries equal the model's own; the upkeep's index, once current, finds
// the exact top items, and is void after the ids are rebuilt until the next copy is offered.
#include <gtest/gtest.h>

#include <chrono>
#include <random>
#include <thread>

#include "streamrec/models/registry.h"
#include "streamrec/serve/ann_upkeep.h"
#include "streamrec/serve/snapshot.h"

namespace streamrec::serve {
namespace {

std::shared_ptr<models::Recommender> fitted_mf(uint32_t users, uint32_t items) {
  std::mt19937_64 rng(7);
  std::vector<data::Interaction> events;
  for (uint32_t u = 0; u < users; ++u)
    for (int k = 0; k < 20; ++k) {
      const uint32_t i = (u % 10) * (items / 10) + rng() % (items / 10);  // ten taste groups
      events.push_back({u, i, 1.0f, data::EventType::kClick, int64_t{1000} + u * 20 + k, 0});
    }
  std::shared_ptr<models::Recommender> model = models::make_model("mf:factors=8,epochs=5");
  model->fit(models::TrainData(users, items, events));
  return model;
}

// Waits for `done` (a condition, polled each millisecond); fails after a minute.
template <class F>
bool eventually(F done) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::minutes(1);
  while (!done()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));  // a poll, not a spin
  }
  return true;
}

TEST(ServingSnapshot, ReadsBackWhatWasInstalledWithAScorerOfThatCopy) {
  const auto model = fitted_mf(100, 300);
  auto ranker = std::make_shared<const models::FusionRanker>();
  ServingSnapshot with(true, true), without(false, false);
  EXPECT_EQ(with.view().model, nullptr);
  with.install(model, ranker);
  without.install(model, ranker);
  const auto v = with.view();
  EXPECT_EQ(v.model, model);
  EXPECT_EQ(v.ranker, ranker);
  ASSERT_NE(v.scorer, nullptr);
  EXPECT_EQ(v.scorer->items(), 300u);
  EXPECT_EQ(without.view().scorer, nullptr);
  // The scorer over the copy's vectors ranks as the copy does (mf: score = the inner product).
  std::vector<float> query, direct(300), batched(300);
  ASSERT_TRUE(with.retrieval_query(*model, 3, query));
  std::vector<float> own;
  ASSERT_TRUE(model->retrieval_query(3, own));
  EXPECT_EQ(query, own);
  model->score_all(3, direct);
  v.scorer->score(query, batched);
  EXPECT_EQ(models::top_k(direct, 10)[0].item, models::top_k(batched, 10)[0].item);
  with.install(nullptr, ranker);
  EXPECT_EQ(with.view().model, nullptr);
  EXPECT_EQ(with.view().scorer, nullptr);
}

TEST(AnnUpkeep, FollowsTheOfferedCopyAndIsVoidAfterIdsAreRebuilt) {
  const auto model = fitted_mf(100, 300);
  AnnUpkeep ann({}, 1, 0, false);
  EXPECT_FALSE(ann.usable(300));
  ann.offer(model);
  ASSERT_TRUE(eventually([&] { return ann.status().current; }));
  EXPECT_EQ(ann.status().items, 300u);
  EXPECT_GE(ann.status().updates, 300u);
  EXPECT_TRUE(ann.usable(300));
  std::vector<float> query;
  ASSERT_TRUE(model->retrieval_query(5, query));
  std::vector<float> scores(300);
  model->score_all(5, scores);
  const auto exact = models::top_k(scores, 5);
  const std::vector<uint32_t> exclude = {exact[1].item};  // sorted, one item
  const auto found = ann.search(query, 4, 300, exclude, [](uint32_t i) { return i != 7; });
  ASSERT_TRUE(found.has_value());
  ASSERT_EQ(found->size(), 4u);
  std::vector<uint32_t> want;
  for (const auto& s : models::top_k(scores, 7))
    if (s.item != exact[1].item && s.item != 7 && want.size() < 4) want.push_back(s.item);
  for (size_t k = 0; k < 4; ++k) EXPECT_EQ((*found)[k].item, want[k]) << k;
  EXPECT_FALSE(
      ann.search(std::vector<float>(query.size() + 1), 4, 300, {}, [](uint32_t) { return true; })
          .has_value());  // a query of another width

  ann.ids_rebuilt();
  EXPECT_FALSE(ann.usable(300));
  EXPECT_EQ(ann.status().items, 0u);
  EXPECT_FALSE(ann.search(query, 4, 300, {}, [](uint32_t) { return true; }).has_value());
  ann.offer(model);
  ASSERT_TRUE(eventually([&] { return ann.status().current; }));
  EXPECT_TRUE(ann.usable(300));
}

TEST(AnnUpkeep, NoIndexBelowTheMinimumItems) {
  const auto model = fitted_mf(50, 100);
  AnnUpkeep ann({}, 1000, 0, false);
  ann.offer(model);
  EXPECT_FALSE(ann.usable(100));
  std::vector<float> query;
  ASSERT_TRUE(model->retrieval_query(0, query));
  EXPECT_FALSE(ann.search(query, 4, 100, {}, [](uint32_t) { return true; }).has_value());
}

}  // namespace
}  // namespace streamrec::serve
