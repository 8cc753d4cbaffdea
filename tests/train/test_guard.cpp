// The guard and the publisher without an engine. The quality window judges drops by a
// z-test and rebaselines after a failure; the guard's targets follow refits, healthy
// publishes and passing windows. The publisher's copies, full or by delta, score as the
// learning model does, and a model without deltas is not published by delta.
#include <gtest/gtest.h>

#include <sstream>

#include "streamrec/core/serialize.h"
#include "streamrec/data/generator.h"
#include "streamrec/models/registry.h"
#include "streamrec/train/guard.h"
#include "streamrec/train/publisher.h"

namespace streamrec::train {
namespace {

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

TEST(Guard, TargetsFollowRefitsHealthyPublishesAndPassingWindows) {
  Guard g(0.5, 100);
  ASSERT_TRUE(g.watches_quality());
  g.refitted(40);
  auto t = g.health_target("nan", std::string("live"));
  EXPECT_EQ(t.snapshot, "") << "nothing published healthy since the refit: refit";
  EXPECT_EQ(t.learned, 40u);
  g.published_healthy(55);
  t = g.health_target("nan", std::string("live"));
  EXPECT_EQ(t.snapshot, "live");
  EXPECT_EQ(t.learned, 55u);
  EXPECT_EQ(t.why, "nan");

  auto window = [&](int hits) {
    for (int k = 0; k < 100; ++k) g.record(k < hits);
    EXPECT_TRUE(g.window_full());
    return g.judge_window();
  };
  g.start_window(true, "state@60", 60);
  EXPECT_FALSE(g.window_full());
  EXPECT_FALSE(window(30).has_value());  // baseline; state@60 was good for a whole window
  g.start_window(false, "state@90", 90);
  const auto back = window(2);  // a drop
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->snapshot, "state@60") << "not the failing window's own start";
  EXPECT_EQ(back->learned, 60u);
  EXPECT_NE(back->why.find("fell below 50%"), std::string::npos) << back->why;
  g.refitted(120);
  g.start_window(true, "", 120);
  EXPECT_FALSE(window(30).has_value());
  g.start_window(false, "", 150);
  const auto refit = window(1);
  ASSERT_TRUE(refit.has_value());
  EXPECT_EQ(refit->snapshot, "") << "a window without a snapshot does not replace the target";
  EXPECT_EQ(refit->learned, 120u);
  EXPECT_FALSE(Guard(0, 100).watches_quality());
}

// A small seq model fitted on generated events, and the events it has not seen.
struct Learner {
  data::Dataset ds;
  std::unique_ptr<models::Recommender> model;
  size_t next = 0;
  explicit Learner(const std::string& spec) {
    data::GeneratorOptions g;
    g.users = 80;
    g.items = 60;
    g.events = 3000;
    g.sequential = 0.5;
    ds = data::generate(g);
    model = models::make_model(spec);
    const std::vector<data::Interaction> first(ds.events.begin(), ds.events.begin() + 2000);
    model->fit(models::TrainData(ds.num_users(), ds.num_items(), first, &ds));
    next = 2000;
  }
  void learn(size_t n) {
    for (size_t k = 0; k < n; ++k) model->observe(ds.events[next++]);
    model->flush();
  }
  std::optional<std::string> save() const {
    std::ostringstream out;
    BinaryWriter w(out);
    model->save(w);
    return std::move(out).str();
  }
};

void expect_same_scores(const models::Recommender& a, const models::Recommender& b) {
  std::vector<float> x(a.num_items()), y(b.num_items());
  ASSERT_EQ(x.size(), y.size());
  for (uint32_t u : {0u, 5u, 33u}) {
    a.score_all(u, x);
    b.score_all(u, y);
    for (size_t i = 0; i < x.size(); ++i) ASSERT_NEAR(x[i], y[i], 1e-5f) << "user " << u;
  }
}

TEST(Publisher, CopiesByDeltaScoreAsTheLearnerDoes) {
  const std::string spec =
      "seq:dim=8,maxlen=10,epochs=1,eval_every=1,online_batch=8,online_replay=0,dropout=0";
  Learner l(spec);
  std::shared_ptr<const models::Recommender> installed;
  int installs = 0;
  Publisher p(spec, [&](std::shared_ptr<const models::Recommender> copy) {
    installed = std::move(copy);
    ++installs;
  });
  EXPECT_FALSE(p.publish_delta(*l.model, [&] { return l.save(); })) << "no live copy yet";
  p.publish_full(*l.model, l.save());
  ASSERT_NE(installed, nullptr);
  expect_same_scores(*installed, *l.model);
  EXPECT_EQ(p.full_publishes(), 1u);
  // The first delta finds no standby: a full publish, the old live copy becomes the standby.
  l.learn(40);
  ASSERT_TRUE(p.publish_delta(*l.model, [&] { return l.save(); }));
  EXPECT_EQ(p.full_publishes(), 2u);
  EXPECT_EQ(p.delta_publishes(), 0u);
  expect_same_scores(*installed, *l.model);
  // From then on the standby applies the deltas and swaps live.
  for (int round = 0; round < 3; ++round) {
    const auto* before = installed.get();
    l.learn(40);
    ASSERT_TRUE(p.publish_delta(*l.model, [&] { return l.save(); }));
    EXPECT_NE(installed.get(), before);
    expect_same_scores(*installed, *l.model);
  }
  EXPECT_EQ(p.delta_publishes(), 3u);
  EXPECT_EQ(installs, 5);
  // The live copy's bytes load to the same model.
  const auto live = p.live_bytes();
  ASSERT_TRUE(live.has_value());
  auto reloaded = models::make_model(spec);
  MemoryIStream in(*live);
  BinaryReader r(in, "live");
  reloaded->load(r);
  expect_same_scores(*reloaded, *l.model);
  // A reader holding the standby keeps it from being written: the publish is full instead.
  const auto held = installed;
  l.learn(40);
  ASSERT_TRUE(p.publish_delta(*l.model, [&] { return l.save(); }));  // standby free: delta
  l.learn(40);
  ASSERT_TRUE(p.publish_delta(*l.model, [&] { return l.save(); }));  // standby == held: full
  EXPECT_EQ(p.delta_publishes(), 4u);
  EXPECT_EQ(p.full_publishes(), 3u);
  expect_same_scores(*installed, *l.model);
}

TEST(Publisher, AModelWithoutDeltasIsPublishedInFullOnly) {
  Learner l("mf:factors=4,epochs=2");
  std::shared_ptr<const models::Recommender> installed;
  Publisher p("mf:factors=4,epochs=2",
              [&](std::shared_ptr<const models::Recommender> c) { installed = std::move(c); });
  p.publish_full(*l.model, l.save());
  ASSERT_NE(installed, nullptr);
  EXPECT_FALSE(p.publish_delta(*l.model, [&] { return l.save(); }));
  p.publish_full(*l.model, std::nullopt);  // cannot save: queries read the learning model
  EXPECT_EQ(installed, nullptr);
  EXPECT_FALSE(p.live_bytes().has_value());
}

}  // namespace
}  // namespace streamrec::train
