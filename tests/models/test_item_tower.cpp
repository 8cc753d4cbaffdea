// The `seq` item tower: items held out of training entirely are ranked from their
// attributes (categories, title tokens, tags) or their pictures (a CNN), clearly better than
// random and than what popularity knows of them; the tower survives save/load and takes
// attributes from set_item_attributes (the serving path) as well as from a catalog.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <cstdio>
#include <random>
#include <sstream>

#include "models/round_trip.h"
#include "streamrec/core/error.h"
#include "streamrec/core/serialize.h"
#include "streamrec/data/generator.h"
#include "streamrec/data/image.h"
#include "streamrec/eval/cold_start.h"
#include "streamrec/models/registry.h"
#include "test_util.h"

namespace streamrec::models {
namespace {

data::Dataset generated(uint32_t users, uint32_t items, uint32_t categories, uint64_t events) {
  data::GeneratorOptions g;
  g.users = users;
  g.items = items;
  g.categories = categories;
  g.events = events;
  return data::generate(g);
}

double metric(const std::vector<eval::EvalResult>& rows, const std::string& model,
              const std::string& key) {
  for (const auto& r : rows)
    if (r.model == model) return r.metrics.at(key);
  ADD_FAILURE() << "no row " << model;
  return 0;
}

TEST(ItemTower, RanksHeldOutItemsFromTheirAttributes) {
  const auto ds = generated(300, 600, 20, 20000);
  eval::ColdStartOptions co;
  co.ks = {10};
  const auto split = eval::split_cold_items(ds, co);
  ASSERT_GE(split.cold_items.size(), 50u);  // 10% of the items with events
  for (const auto& e : split.train) ASSERT_FALSE(split.cold[e.item]) << "held-out item trained";
  const auto base = eval::cold_start_baselines(ds, split, co);
  const std::string spec = "seq:dim=32,maxlen=30,epochs=20,eval_every=10";
  auto with = make_model(spec + ",features=categories+title+tags");
  const double hr = eval::evaluate_cold_start(*with, ds, split, co).metrics.at("hr@10");
  auto without = make_model(spec + ",features=none");
  const double hr_ids = eval::evaluate_cold_start(*without, ds, split, co).metrics.at("hr@10");
  const double random = metric(base, "random", "hr@10");
  const double category = metric(base, "category-popular", "hr@10");
  std::printf(
      "cold HR@10: item tower %.4f, ids only %.4f, random %.4f, category popularity "
      "%.4f\n",
      hr, hr_ids, random, category);
  EXPECT_GT(hr, 2 * random) << "item tower " << hr << " vs random " << random;
  EXPECT_GT(hr, 1.5 * category) << "item tower " << hr << " vs category popularity " << category;
  EXPECT_GT(hr, 1.5 * hr_ids) << "item tower " << hr << " vs ids only " << hr_ids;

  // The serving path: attributes through set_item_attributes, then a fit without a catalog.
  auto served = make_model(spec + ",features=categories+title+tags");
  std::vector<uint32_t> items(ds.num_items());
  for (uint32_t i = 0; i < ds.num_items(); ++i) items[i] = i;
  served->set_item_attributes(items, ds.item_attrs);
  served->fit(TrainData(ds.num_users(), ds.num_items(), split.train));
  const double hr_served =
      eval::evaluate_cold_start(*served, ds, split, co, /*fit=*/false).metrics.at("hr@10");
  std::printf("cold HR@10 with attributes given before fit: %.4f\n", hr_served);
  EXPECT_GT(hr_served, 2 * random) << "attributes given before fit: " << hr_served;

  // A brand-new item (beyond what fit saw) with the attributes of a held-out item is
  // scored exactly like it (neither has an id row), and not zero.
  const uint32_t fresh = ds.num_items();
  const uint32_t x = split.cold_items.front();
  const uint32_t one[] = {fresh};
  served->set_item_attributes(one, std::span<const data::ItemAttributes>(&ds.item_attrs[x], 1));
  ASSERT_EQ(served->num_items(), ds.num_items() + 1);
  std::vector<float> scores(served->num_items());
  served->score_all(split.targets.front().user, scores);
  EXPECT_FLOAT_EQ(scores[fresh], scores[x]);
  EXPECT_NE(scores[fresh], 0.0f);
}

// Pictures whose stripe orientation says the category; colour and phase are random, so the
// mean colour carries no signal and only a convolution can tell the categories apart.
std::vector<uint8_t> picture(int category, int size, std::mt19937_64& rng) {
  std::vector<uint8_t> px(3 * size * size);
  const int phase = static_cast<int>(rng() % 4);
  uint8_t color[3];
  for (auto& c : color) c = static_cast<uint8_t>(80 + rng() % 176);
  for (int y = 0; y < size; ++y)
    for (int x = 0; x < size; ++x) {
      const int v = category == 0 ? y : category == 1 ? x : category == 2 ? x + y : x - y + size;
      const bool on = ((v + phase) / 2) % 2 == 0;
      for (int c = 0; c < 3; ++c) px[(c * size + y) * size + x] = on ? color[c] : 0;
    }
  return px;
}

TEST(ItemTower, CnnLearnsCategoriesFromPictures) {
  auto ds = generated(250, 240, 4, 12000);
  testing::TempDir dir;
  std::mt19937_64 rng(7);
  for (uint32_t i = 0; i < ds.num_items(); ++i) {
    auto& a = ds.item_attrs[i];
    const int category = std::stoi(a.categories.at(0).substr(3));  // "cat<N>"
    a.image = (dir.path() / fmt::format("i{}.png", i)).string();
    ASSERT_TRUE(data::save_png_rgb(a.image, 16, picture(category, 16, rng)));
  }
  // Bad pictures cost their items the image branch, not the run.
  ds.item_attrs[0].image = (dir.path() / "missing.png").string();
  ds.item_attrs[1].image = dir.write("not-an-image.png", "plain text");
  eval::ColdStartOptions co;
  co.share = 0.2;
  co.ks = {10};
  const auto split = eval::split_cold_items(ds, co);
  const auto base = eval::cold_start_baselines(ds, split, co);
  const std::string spec =
      "seq:dim=16,maxlen=20,epochs=30,eval_every=10,lr=0.005,features=image,image_size=16";
  auto m = make_model(spec);
  const double hr = eval::evaluate_cold_start(*m, ds, split, co).metrics.at("hr@10");
  const double random = metric(base, "random", "hr@10");
  std::printf("cold HR@10: image tower %.4f, random %.4f\n", hr, random);
  EXPECT_GT(hr, 1.5 * random) << "image tower " << hr << " vs random " << random;

  // Save/load keeps the pictures and the CNN: identical scores, cold items included.
  auto copy = round_trip(*m, spec);
  std::vector<float> a(m->num_items()), b(copy->num_items());
  ASSERT_EQ(a.size(), b.size());
  for (uint32_t u : {0u, 5u, 17u}) {
    m->score_all(u, a);
    copy->score_all(u, b);
    for (uint32_t i : split.cold_items) ASSERT_NEAR(a[i], b[i], 1e-4f) << "user " << u;
  }
}

TEST(ItemTower, RejectsUnknownFeatureFieldsAndUseBeforeFit) {
  EXPECT_THROW(make_model("seq:features=categories+colour"), Error);
  // Attributes given before any fit do not make a fitted model.
  auto m = make_model("seq:features=categories");
  data::ItemAttributes a;
  a.categories = {"books"};
  const uint32_t item[] = {0};
  m->set_item_attributes(item, std::span<const data::ItemAttributes>(&a, 1));
  EXPECT_THROW(m->observe({.user = 0, .item = 0, .timestamp = 1}), Error);
  std::ostringstream out;
  BinaryWriter w(out);
  EXPECT_THROW(m->save(w), Error);
  std::vector<float> scores(1, 1.0f);
  m->score_all(0, scores);
  EXPECT_EQ(scores[0], 0.0f);
}

}  // namespace
}  // namespace streamrec::models
