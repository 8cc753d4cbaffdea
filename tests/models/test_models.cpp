#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include <algorithm>

#include <cmath>
#include <map>
#include <numeric>
#include <random>
#include <set>

#include <fmt/format.h>

#include "streamrec/core/error.h"
#include "streamrec/core/serialize.h"
#include "streamrec/data/generator.h"
#include "streamrec/eval/evaluator.h"
#include "streamrec/eval/prequential.h"
#include "streamrec/models/artifact.h"
#include "streamrec/models/calibration.h"
#include "streamrec/models/ease.h"
#include "streamrec/models/itemknn.h"
#include "streamrec/models/registry.h"
#include "test_util.h"

namespace streamrec::models {
namespace {

using streamrec::testing::TempDir;

// A random binary user-item data set (every user has a few distinct items).
data::Dataset random_binary(uint32_t users, uint32_t items, uint32_t per_user, uint64_t seed) {
  std::mt19937 rng(seed);
  std::vector<std::tuple<int, int, int64_t>> t;
  int64_t ts = 0;
  for (uint32_t u = 0; u < users; ++u) {
    std::set<int> chosen;
    while (chosen.size() < per_user) chosen.insert(rng() % items);
    for (int i : chosen) t.emplace_back(u, i, ts++);
  }
  auto ds = streamrec::testing::tiny_dataset(t);
  for (uint32_t i = 0; i < items; ++i) ds.add_item(fmt::format("i{}", i));
  return ds;
}

TrainData all_of(const data::Dataset& ds) {
  return TrainData(ds.num_users(), ds.num_items(), ds.events, &ds);
}

TEST(TopK, OrdersByScoreThenIndexAndSkipsExcluded) {
  const std::vector<float> s = {0.5f, 0.9f, 0.5f, NAN, 0.7f};
  const std::vector<uint32_t> ex = {1};
  const auto top = top_k(s, 3, ex);
  ASSERT_EQ(top.size(), 3u);
  EXPECT_EQ(top[0].item, 4u);
  EXPECT_EQ(top[1].item, 0u);  // tie with 2: lower index first
  EXPECT_EQ(top[2].item, 2u);
  EXPECT_EQ(top_k(s, 10).size(), 5u);  // NaN ranks last, still listed
  EXPECT_EQ(top_k(s, 10).back().item, 3u);
}

TEST(TopK, LargeListsMatchAFullSort) {
  // Long score lists (blocks below the heap's worst are skipped whole) with many ties, NaNs
  // and excluded items, against sorting everything by (score desc, index asc).
  std::mt19937 rng(5);
  for (const size_t n : {1u, 15u, 16u, 17u, 1000u, 4099u}) {
    std::vector<float> s(n);
    for (auto& v : s) v = static_cast<float>(rng() % 50) / 10.0f;  // ties
    for (size_t i = 0; i < n; i += 37) s[i] = NAN;
    std::vector<uint32_t> ex;
    for (uint32_t i = 3; i < n; i += 11) ex.push_back(i);
    for (const size_t k : {1u, 10u, 100u, 5000u}) {
      std::vector<ScoredItem> want;
      for (uint32_t i = 0; i < n; ++i)
        if (!std::binary_search(ex.begin(), ex.end(), i))
          want.push_back({i, std::isnan(s[i]) ? -INFINITY : s[i]});
      std::sort(want.begin(), want.end(), [](const ScoredItem& a, const ScoredItem& b) {
        return a.score > b.score || (a.score == b.score && a.item < b.item);
      });
      want.resize(std::min(k, want.size()));
      const auto got = top_k(s, k, ex);
      ASSERT_EQ(got.size(), want.size()) << n << " " << k;
      for (size_t x = 0; x < got.size(); ++x) ASSERT_EQ(got[x].item, want[x].item) << n << " " << k;
    }
  }
}

TEST(TopK, CatalogSizedListsWithAFloorMatchAFullSort) {
  // 100,000 scores (blocks enough for the floor from block maxima), with ties, NaNs, and
  // exclusions that are the very best items (their blocks' maxima: the floor must still
  // let k eligible items through), against a full sort.
  std::mt19937 rng(9);
  const size_t n = 100000;
  for (const int round : {0, 1, 2}) {
    std::vector<float> s(n);
    for (auto& v : s)
      v = round == 0 ? static_cast<float>(rng() % 1000) / 10.0f  // ties
                     : std::normal_distribution<float>()(rng);
    if (round == 2)  // mostly zero rows, as a catalog of items without vectors
      for (size_t i = 0; i < n; ++i)
        if (i % 4 != 0) s[i] = 0.0f;
    for (size_t i = 0; i < n; i += 101) s[i] = NAN;
    std::vector<uint32_t> by_score(n);
    std::iota(by_score.begin(), by_score.end(), 0u);
    std::sort(by_score.begin(), by_score.end(), [&](uint32_t a, uint32_t b) {
      const float x = std::isnan(s[a]) ? -INFINITY : s[a], y = std::isnan(s[b]) ? -INFINITY : s[b];
      return x > y || (x == y && a < b);
    });
    std::vector<uint32_t> ex(by_score.begin(), by_score.begin() + 50);  // the 50 best
    for (uint32_t i = 7; i < n; i += 4999) ex.push_back(i);
    std::sort(ex.begin(), ex.end());
    ex.erase(std::unique(ex.begin(), ex.end()), ex.end());
    for (const size_t k : {1u, 10u, 400u}) {
      std::vector<uint32_t> want;
      for (uint32_t i : by_score)
        if (want.size() < k && !std::binary_search(ex.begin(), ex.end(), i)) want.push_back(i);
      const auto got = top_k(s, k, ex);
      ASSERT_EQ(got.size(), want.size()) << round << " " << k;
      for (size_t x = 0; x < got.size(); ++x)
        ASSERT_EQ(got[x].item, want[x]) << "round " << round << " k " << k << " at " << x;
    }
  }
}

TEST(Registry, UnknownModelsAndParamsAreClearErrors) {
  EXPECT_NO_THROW(make_model("itemknn:k=5"));
  try {
    make_model("knn");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("unknown model 'knn'"), std::string::npos);
  }
  EXPECT_THROW(make_model("itemknn:kk=5"), Error);
  EXPECT_THROW(make_model("mf:algo=svdpp"), Error);
}

TEST(Registry, FusionSourcesKeepAPlusInsideASourcesOwnParameter) {
  // seq's features=categories+title inside a source: 'title' names no model, so that '+'
  // stays in seq's spec; 'itemknn' starts the next source.
  EXPECT_NO_THROW(make_model("fusion:sources=seq/features=categories+title/dim=8+itemknn"));
  EXPECT_THROW(make_model("fusion:sources=seq/features=categories+titles+itemknn"), Error);
}

// Oracle: brute-force cosine over item columns in double precision.
TEST(ItemKnn, MatchesBruteForceCosine) {
  const auto ds = random_binary(60, 25, 6, 3);
  ItemKnn model(ItemKnn::declare_params());
  auto p = ItemKnn::declare_params();
  p.set("k", "5");
  ItemKnn knn(p);
  const auto train = all_of(ds);
  knn.fit(train);
  std::vector<std::set<uint32_t>> users_of(ds.num_items());
  for (const auto& e : ds.events) users_of[e.item].insert(e.user);
  for (uint32_t i = 0; i < ds.num_items(); ++i) {
    std::vector<std::pair<double, uint32_t>> sims;
    for (uint32_t j = 0; j < ds.num_items(); ++j) {
      if (j == i || users_of[i].empty() || users_of[j].empty()) continue;
      double co = 0;
      for (uint32_t u : users_of[i]) co += users_of[j].count(u);
      if (co > 0)
        sims.push_back({-co / std::sqrt(double(users_of[i].size()) * users_of[j].size()), j});
    }
    std::sort(sims.begin(), sims.end());
    const auto& got = knn.neighbours(i);
    ASSERT_EQ(got.size(), std::min<size_t>(5, sims.size())) << "item " << i;
    // Same similarity at every rank, and each listed item really has that similarity (ties
    // may list different items of equal similarity).
    for (size_t r = 0; r < got.size(); ++r) {
      EXPECT_NEAR(got[r].sim, -sims[r].first, 1e-6) << "item " << i << " rank " << r;
      auto it =
          std::find_if(sims.begin(), sims.end(), [&](auto& s) { return s.second == got[r].item; });
      ASSERT_NE(it, sims.end());
      EXPECT_NEAR(-it->first, got[r].sim, 1e-6);
    }
  }
}

// Oracle: EASE by a naive Gauss-Jordan inverse in double precision; both solvers agree.
TEST(Ease, MatchesNaiveInverseWithBothSolvers) {
  const auto ds = random_binary(20, 30, 5, 9);  // fewer users than items: woodbury is cheaper
  const uint32_t m = ds.num_items();
  const double lambda = 3.0;
  std::vector<std::vector<double>> G(m, std::vector<double>(2 * m, 0.0));
  std::vector<std::set<uint32_t>> items_of(ds.num_users());
  for (const auto& e : ds.events) items_of[e.user].insert(e.item);
  for (const auto& s : items_of)
    for (uint32_t a : s)
      for (uint32_t b : s) G[a][b] += 1;
  for (uint32_t i = 0; i < m; ++i) G[i][i] += lambda, G[i][m + i] = 1;
  for (uint32_t c = 0; c < m; ++c) {  // Gauss-Jordan (G is SPD: no pivoting needed)
    const double piv = G[c][c];
    for (auto& v : G[c]) v /= piv;
    for (uint32_t r = 0; r < m; ++r) {
      if (r == c) continue;
      const double f = G[r][c];
      for (uint32_t k = 0; k < 2 * m; ++k) G[r][k] -= f * G[c][k];
    }
  }
  for (const char* solver : {"cholesky", "woodbury", "auto"}) {
    auto p = Ease::declare_params();
    p.set("lambda", "3");
    p.set("solver", solver);
    Ease ease(p);
    const auto train = all_of(ds);
    ease.fit(train);
    for (uint32_t i = 0; i < m; ++i)
      for (uint32_t j = 0; j < m; ++j) {
        const double expect = i == j ? 0.0 : -G[i][m + j] / G[j][m + j];
        ASSERT_NEAR(ease.weight(i, j), expect, 2e-4) << solver << " " << i << "," << j;
      }
  }
}

TEST(Evaluate, HandComputedPopularityCase) {
  // Fitted data (all but each user's last event): u1 {i0, i1}, u2 {i1, i2}, u3 {i1, i2, i3};
  // popularity i1 3, i2 2, i0 1, i3 1, i4 0; dense ids in order of first sight: i1 0, i2 1,
  // i3 2, i0 3, i4 4 (ties go to the lower id). Tests: u1 -> i2: list [i2, i3], rank 1.
  // u2 -> i3: list [i3, i0], rank 1. u3 -> i4: list [i0, i4], rank 2.
  const auto ds = streamrec::testing::tiny_dataset({{1, 1, 1},
                                                    {2, 1, 2},
                                                    {2, 2, 3},
                                                    {3, 1, 4},
                                                    {3, 2, 4},
                                                    {3, 3, 4},
                                                    {1, 0, 0},
                                                    {1, 2, 10},
                                                    {2, 3, 11},
                                                    {3, 4, 12}});
  eval::SplitOptions so;
  const auto split = eval::split_events(ds, so);
  auto model = make_model("popular");
  eval::EvalOptions eo;
  eo.ks = {2};
  const auto r = eval::evaluate(*model, ds, split, eo);
  EXPECT_EQ(r.users, 3u);
  EXPECT_DOUBLE_EQ(r.metrics.at("hr@2"), 1.0);
  EXPECT_DOUBLE_EQ(r.metrics.at("ndcg@2"), (2.0 + 1.0 / std::log2(3.0)) / 3);
  EXPECT_DOUBLE_EQ(r.metrics.at("mrr@2"), 2.5 / 3);
  EXPECT_DOUBLE_EQ(r.metrics.at("precision@2"), 1.5 / 3);
  // One user per activity tercile: the groups' NDCGs are the users' (1, 1, 1/log2 3).
  EXPECT_DOUBLE_EQ(
      r.metrics.at("ndcg@2_cold") + r.metrics.at("ndcg@2_medium") + r.metrics.at("ndcg@2_heavy"),
      2.0 + 1.0 / std::log2(3.0));
  EXPECT_DOUBLE_EQ(r.metrics.at("ndcg@2_gap"), 1.0 - 1.0 / std::log2(3.0));
  EXPECT_GE(r.metrics.at("longtail@2"), 0.0);
  EXPECT_LE(r.metrics.at("longtail@2"), 1.0);
  EXPECT_EQ(r.metrics.count("ndcg@2_gender_gap"), 0u);  // no user attributes, no groups
  // With a users file: NDCG@2 per attribute value (u1 1, u2 1, u3 1/log2 3), the gap, age
  // in bands; a field with one value says nothing and is left out.
  auto with = ds;
  with.user_attrs.resize(3);
  const char* gender[] = {"f", "f", "m"};
  const double age[] = {20, 40, 41};
  for (size_t u = 0; u < 3; ++u) {
    with.user_attrs[with.users.find(fmt::format("u{}", u + 1))].fields = {{"gender", gender[u]},
                                                                          {"country", "x"}};
    with.user_attrs[with.users.find(fmt::format("u{}", u + 1))].numeric = {{"age", age[u]}};
  }
  const auto a = eval::evaluate(*model, with, eval::split_events(with, so), eo);
  EXPECT_DOUBLE_EQ(a.metrics.at("ndcg@2_gender=f"), 1.0);
  EXPECT_DOUBLE_EQ(a.metrics.at("ndcg@2_gender=m"), 1.0 / std::log2(3.0));
  EXPECT_DOUBLE_EQ(a.metrics.at("ndcg@2_gender_gap"), 1.0 - 1.0 / std::log2(3.0));
  EXPECT_DOUBLE_EQ(a.metrics.at("ndcg@2_age=<25"), 1.0);
  EXPECT_DOUBLE_EQ(a.metrics.at("ndcg@2_age=35-44"), (1.0 + 1.0 / std::log2(3.0)) / 2);
  EXPECT_EQ(a.metrics.count("ndcg@2_country_gap"), 0u);
}

TEST(Evaluate, PrequentialNdcgPerActivityGroupAddsUpToTheWhole) {
  EXPECT_EQ(activity_group(0), 0u);
  EXPECT_EQ(activity_group(4), 0u);
  EXPECT_EQ(activity_group(5), 1u);
  EXPECT_EQ(activity_group(49), 1u);
  EXPECT_EQ(activity_group(50), 2u);
  data::GeneratorOptions g;
  g.users = 100;
  g.items = 80;
  g.events = 6000;
  const auto ds = data::generate(g);
  auto model = make_model("popular");
  const auto r = eval::prequential(*model, ds, {});
  uint64_t scored = 0;
  double weighted = 0;
  for (size_t x = 0; x < 3; ++x) {
    scored += r.group_scored[x];
    if (r.group_scored[x]) weighted += r.group_ndcg[x] * static_cast<double>(r.group_scored[x]);
  }
  EXPECT_EQ(scored, r.scored);
  EXPECT_GT(r.group_scored[2], 0u);  // 60 events a user: heavy users are scored too
  EXPECT_NEAR(weighted / static_cast<double>(r.scored), r.ndcg, 1e-9);
}

// Every model learns the generator's planted structure better than popularity.
TEST(Models, EveryModelBeatsPopularOnPlantedPattern) {
  data::GeneratorOptions g;
  g.users = 400;
  g.items = 500;
  g.events = 30000;
  const auto ds = data::generate(g);
  const auto split = eval::split_events(ds, {});
  eval::EvalOptions eo;
  eo.ks = {10};
  auto pop = make_model("popular");
  const double base = eval::evaluate(*pop, ds, split, eo).metrics.at("ndcg@10");
  for (const char* spec : {"itemknn", "usercf", "mf:algo=bpr", "mf:algo=als",
                           "mf:algo=sgd,negatives=4,lr=0.02,epochs=30", "ease:lambda=50"}) {
    auto m = make_model(spec);
    const double ndcg = eval::evaluate(*m, ds, split, eo).metrics.at("ndcg@10");
    EXPECT_GT(ndcg, 1.5 * base) << spec << " ndcg " << ndcg << " vs popular " << base;
  }
}

TEST(Popular, DecayFavoursRecentItems) {
  // i1: 3 old events; i2: 2 events a month later.
  const auto ds = streamrec::testing::tiny_dataset(
      {{1, 1, 0}, {2, 1, 0}, {3, 1, 0}, {1, 2, 30 * 86400}, {2, 2, 30 * 86400}});
  auto counts = make_model("popular");
  auto decayed = make_model("popular:half_life_days=7");
  const auto train = all_of(ds);
  counts->fit(train);
  decayed->fit(train);
  EXPECT_EQ(counts->recommend(0, 1)[0].item, ds.items.find("i1"));
  EXPECT_EQ(decayed->recommend(0, 1)[0].item, ds.items.find("i2"));
  // Online: new events move the ranking.
  data::Interaction e;
  e.item = ds.items.find("i1");
  e.timestamp = 31 * 86400;
  decayed->observe(e);
  decayed->observe(e);
  EXPECT_EQ(decayed->recommend(0, 1)[0].item, ds.items.find("i1"));
}

TEST(Online, UserCfObserveEqualsFit) {
  const auto ds = random_binary(50, 40, 6, 5);
  auto fitted = make_model("usercf:k=10");
  fitted->fit(all_of(ds));
  auto online = make_model("usercf:k=10");
  const std::vector<data::Interaction> half(ds.events.begin(), ds.events.begin() + 150);
  online->fit(TrainData(ds.num_users(), ds.num_items(), half, &ds));
  for (size_t i = 150; i < ds.events.size(); ++i) online->observe(ds.events[i]);
  std::vector<float> a(ds.num_items()), b(ds.num_items());
  for (uint32_t u = 0; u < ds.num_users(); ++u) {
    fitted->score_all(u, a);
    online->score_all(u, b);
    for (size_t i = 0; i < a.size(); ++i) ASSERT_NEAR(a[i], b[i], 1e-5);
  }
}

TEST(Online, ItemKnnRecomputesTheObservedItemExactly) {
  const auto ds = random_binary(80, 30, 5, 11);
  const size_t cut = ds.events.size() - 40;
  auto p = ItemKnn::declare_params();
  p.set("k", "8");
  ItemKnn online(p), fresh(p);
  online.fit(
      TrainData(ds.num_users(), ds.num_items(), {ds.events.begin(), ds.events.begin() + cut}, &ds));
  for (size_t i = cut; i < ds.events.size(); ++i) online.observe(ds.events[i]);
  fresh.fit(all_of(ds));
  const uint32_t last = ds.events.back().item;
  const auto& a = online.neighbours(last);
  const auto& b = fresh.neighbours(last);
  ASSERT_EQ(a.size(), b.size());
  for (size_t r = 0; r < a.size(); ++r) EXPECT_NEAR(a[r].sim, b[r].sim, 1e-6);
}

TEST(Online, MfStepsRaiseTheObservedItem) {
  for (const char* spec : {"mf:algo=bpr,epochs=5", "mf:algo=als,epochs=3"}) {
    const auto ds = random_binary(60, 50, 6, 13);
    auto m = make_model(spec);
    m->fit(all_of(ds));
    std::vector<float> before(ds.num_items()), after(ds.num_items());
    m->score_all(0, before);
    // Pick an item user 0 does not have, ranked low.
    uint32_t item = 0;
    float low = 1e9;
    for (uint32_t i = 0; i < ds.num_items(); ++i)
      if (before[i] < low) low = before[i], item = i;
    data::Interaction e;
    e.user = 0;
    e.item = item;
    for (int r = 0; r < 3; ++r) m->observe(e);
    m->score_all(0, after);
    int above_before = 0, above_after = 0;
    for (uint32_t i = 0; i < ds.num_items(); ++i) {
      above_before += before[i] > before[item];
      above_after += after[i] > after[item];
    }
    EXPECT_LT(above_after, above_before) << spec;
  }
}

TEST(MfSgd, PredictsRatingsBetterThanTheMean) {
  // Ratings from a planted rank-2 structure plus noise.
  std::mt19937 rng(4);
  std::normal_distribution<float> noise(0, 0.3f);
  std::vector<std::tuple<int, int, int64_t>> t;
  std::vector<float> values;
  for (int u = 0; u < 150; ++u)
    for (int i = 0; i < 60; ++i)
      if (rng() % 3 == 0) {
        t.emplace_back(u, i, 0);
        values.push_back(3.0f + ((u % 2) ? 1.f : -1.f) * ((i % 2) ? 1.f : -1.f) + noise(rng));
      }
  auto ds = streamrec::testing::tiny_dataset(t);
  for (size_t x = 0; x < values.size(); ++x) ds.events[x].value = values[x];
  ds.explicit_ratings = true;
  eval::SplitOptions so;
  so.protocol = "random";
  const auto split = eval::split_events(ds, so);
  auto m = make_model("mf:algo=sgd,lr=0.02,epochs=60,factors=8");
  eval::EvalOptions eo;
  const auto r = eval::evaluate(*m, ds, split, eo);
  double mean = 0, mse = 0;
  for (const auto& e : split.train) mean += e.value;
  mean /= split.train.size();
  for (const auto& e : split.test) mse += (e.value - mean) * (e.value - mean);
  const double baseline = std::sqrt(mse / split.test.size());
  EXPECT_LT(r.metrics.at("rmse"), 0.6 * baseline);
  EXPECT_LT(r.metrics.at("mae"), r.metrics.at("rmse") + 1e-9);
  EXPECT_THROW(make_model("mf:algo=bpr")->predict(0, 0), Error);
}

std::vector<std::string> ids(const char* prefix, uint32_t n) {
  std::vector<std::string> out;
  for (uint32_t x = 0; x < n; ++x) out.push_back(std::to_string(x).insert(0, prefix));
  return out;
}

TEST(Artifact, SavedModelsScoreIdenticallyWithTheirIdsAndMetadata) {
  TempDir dir;
  const auto ds = random_binary(40, 30, 5, 17);
  for (const char* spec : {"popular:half_life_days=3", "mf:algo=als,epochs=2", "ease:lambda=5"}) {
    auto m = make_model(spec);
    m->fit(all_of(ds));
    const std::string path = (dir.path() / kArtifactFile).string();
    write_artifact(path, spec, *m, ids("u", 40), ids("i", 30), 77, R"({"holdout":"loo"})");
    const auto back = read_artifact(path);
    EXPECT_EQ(back.spec, spec);
    EXPECT_EQ(back.users, ids("u", 40));
    EXPECT_EQ(back.items, ids("i", 30));
    EXPECT_EQ(back.covered_seq, 77u);
    EXPECT_EQ(back.meta, R"({"holdout":"loo"})");
    std::vector<float> a(ds.num_items()), b(ds.num_items());
    for (uint32_t u = 0; u < ds.num_users(); ++u) {
      m->score_all(u, a);
      back.model->score_all(u, b);
      ASSERT_EQ(a, b) << spec;
    }
  }
  auto knn = make_model("itemknn");
  EXPECT_THROW(write_artifact((dir.path() / "k").string(), "itemknn", *knn, {}, {}, 0), Error);
}

TEST(Artifact, TruncatedForeignAndMismatchedFilesAreClearErrors) {
  TempDir dir;
  const auto ds = random_binary(40, 30, 5, 17);
  auto m = make_model("mf:algo=als,epochs=2");
  m->fit(all_of(ds));
  const std::string path = (dir.path() / "a.ckpt").string();
  write_artifact(path, "mf:algo=als,epochs=2", *m, ids("u", 40), ids("i", 30), 0);
  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  const auto expect_corrupt = [&](const std::string& content, const char* what) {
    const std::string bad = (dir.path() / "bad.ckpt").string();
    std::ofstream(bad, std::ios::binary) << content;
    try {
      read_artifact(bad);
      ADD_FAILURE() << what;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kCorrupt) << what << ": " << e.what();
      EXPECT_NE(std::string(e.what()).find("bad.ckpt"), std::string::npos) << e.what();
    }
  };
  expect_corrupt(bytes.substr(0, bytes.size() / 2), "truncated");
  expect_corrupt("not a model at all, just some text", "foreign");
  // Fewer item ids than the model scores: a mismatched file.
  write_artifact(path, "mf:algo=als,epochs=2", *m, ids("u", 40), ids("i", 3), 0);
  std::ifstream in(path, std::ios::binary);
  expect_corrupt(std::string(std::istreambuf_iterator<char>(in), {}), "mismatched ids");
  EXPECT_THROW(read_artifact_dir((dir.path() / "missing").string()), Error);
}

TEST(Artifact, VersionOneCheckpointsStillRead) {
  // The server's checkpoints before train wrote artifacts: no metadata field.
  TempDir dir;
  const auto ds = random_binary(20, 10, 4, 3);
  auto m = make_model("popular");
  m->fit(all_of(ds));
  std::ostringstream state;
  {
    BinaryWriter sw(state);
    m->save(sw);
  }
  const std::string path = (dir.path() / "old.ckpt").string();
  {
    CheckedFileWriter file(path, {"srckpt", 1});
    auto& w = file.writer();
    w.str("popular");
    w.u64(5);
    for (const auto& list : {ids("u", 20), ids("i", 10)}) {
      w.u64(list.size());
      for (const auto& id : list) w.str(id);
    }
    w.str(state.str());
    file.commit();
  }
  const auto a = read_artifact(path);
  EXPECT_EQ(a.covered_seq, 5u);
  EXPECT_TRUE(a.meta.empty());
  EXPECT_EQ(a.items.size(), 10u);
}

}  // namespace
}  // namespace streamrec::models
