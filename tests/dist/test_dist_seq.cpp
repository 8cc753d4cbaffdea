// `seq` and `autoencoder` fitted data-parallel on MPI ranks (RankShares) against one
// process: one step bit for bit against LocalShares (one process playing as many ranks), the ranks'
// replicas equal after a fit, and the quality of 1 process vs N ranks within a tolerance. CTest
// runs this on 1, 2 and 3 ranks. Only non-fatal checks (a rank that returned early would leave the
// others waiting in a collective).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "streamrec/core/error.h"
#include "streamrec/data/generator.h"
#include "streamrec/dist/data_parallel.h"
#include "streamrec/models/autoencoder.h"
#include "streamrec/models/lockstep.h"
#include "streamrec/models/registry.h"
#include "streamrec/models/seq.h"
#include "tests/dist/world.h"

namespace streamrec::dist {
namespace {

data::Dataset small_data() {
  data::GeneratorOptions g;
  g.users = 240;
  g.items = 300;
  g.categories = 8;
  g.events = 6000;
  return data::generate(g);
}

// Keeps the first `n` events of `ds` in time order and returns the later ones (a stream).
std::vector<data::Interaction> split_in_time(data::Dataset& ds, size_t n) {
  std::stable_sort(ds.events.begin(), ds.events.end(),
                   [](const auto& a, const auto& b) { return a.timestamp < b.timestamp; });
  std::vector<data::Interaction> later(ds.events.begin() + static_cast<ptrdiff_t>(n),
                                       ds.events.end());
  ds.events.resize(n);
  return later;
}

models::TrainData train_data(const data::Dataset& ds) {
  return models::TrainData(ds.num_users(), ds.num_items(), ds.events, &ds);
}

// Scores of every item for users 0, 7, 14, ... (a model's whole output, as float bits).
std::vector<float> outputs(const models::Recommender& m, const data::Dataset& ds) {
  std::vector<float> all, s(ds.num_items());
  for (uint32_t u = 0; u < ds.num_users(); u += 7) {
    m.score_all(u, s);
    all.insert(all.end(), s.begin(), s.end());
  }
  return all;
}

// How many of `got` differ from `want` by more than float rounding of a few sums.
size_t differing(const std::vector<float>& got, const std::vector<float>& want) {
  size_t off = got.size() == want.size() ? 0 : got.size() + want.size();
  for (size_t i = 0; i < got.size() && i < want.size(); ++i)
    off += std::abs(got[i] - want[i]) > 1e-4f * (1.0f + std::abs(want[i]));
  return off;
}

// `Model` fitted with `p` on `ds` three ways: by one process alone, on the ranks, and (with
// `playing`) by one process playing the ranks (LocalShares).
template <typename Model>
struct Fitted {
  RankShares ranks;
  models::LocalShares local;
  Model alone, on_ranks, playing;

  Fitted(const Params& p, const data::Dataset& ds, bool with_playing)
      : ranks(*testing::g_world),
        local(testing::g_world->size()),
        alone(p),
        on_ranks(p),
        playing(p) {
    alone.fit(train_data(ds));
    EXPECT_TRUE(on_ranks.train_on(&ranks));
    on_ranks.fit(train_data(ds));
    if (!with_playing) return;
    playing.train_on(&local);
    playing.fit(train_data(ds));
  }
};

std::vector<float> item_rows(const models::SeqModel& m) {
  size_t dim = 0;
  const auto v = m.item_vectors(dim);
  return {v.begin(), v.end()};
}

// One step on every user's window (batch above the user count), no dropout: randomness
// stays out, so the ranks' arithmetic is all that differs.
Params one_step(const std::string& features, const std::string& negatives) {
  auto p = models::SeqModel::declare_params();
  p.set_from(
      {"dim=16,maxlen=12,blocks=1,dropout=0,id_dropout=0,epochs=1,eval_every=1,final_epochs=0,"
       "windows=last,batch=4096,features=" +
       features + ",negatives=" + negatives});
  return p;
}

TEST(DistSeq, OneStepOnRanksIsOneProcessPlayingTheRanksBitForBit) {
  const Comm& comm = *testing::g_world;
  const auto ds = small_data();
  for (const auto& [features, negatives] :
       {std::pair{"none", "0"}, {"categories", "0"}, {"categories", "40"}}) {
    SCOPED_TRACE(std::string(features) + ", negatives " + negatives);
    Fitted<models::SeqModel> f(one_step(features, negatives), ds, /*with_playing=*/true);
    EXPECT_EQ(f.ranks.traffic().steps, 1u);
    // Item rows: each owner summed the ranks' gradients in rank order, as LocalShares does.
    EXPECT_EQ(item_rows(f.on_ranks), item_rows(f.playing));
    const auto got = outputs(f.on_ranks, ds), want = outputs(f.playing, ds);
    ASSERT_EQ(got.size(), want.size());
    if (comm.size() <= 2)  // a + b: the all-reduce's order cannot matter
      EXPECT_EQ(got, want);
    else  // MPI may add three ranks' dense gradients in another order
      EXPECT_EQ(differing(got, want), 0u);
    if (std::string(negatives) != "0") continue;  // (the whole batch draws other negatives)
    // And the shares' summed gradients are the whole batch's, up to rounding: one process
    // fed the whole batch takes the same step.
    EXPECT_EQ(differing(got, outputs(f.alone, ds)), 0u);
  }
}

// Online steps on ranks: after a fit on the older events, the newer ones are observed (a
// step every online_batch events, with replayed users); each user trains on the share that
// owns them, and the root gathers the rows the others changed. The root's model is one
// process playing the ranks, bit for bit, and one process alone up to rounding.
TEST(DistSeq, OnlineStepsOnRanksAreOneProcessPlayingTheRanks) {
  const Comm& comm = *testing::g_world;
  auto ds = small_data();
  const auto later = split_in_time(ds, 5000);
  for (const auto& negatives : {"0", "40"}) {
    SCOPED_TRACE(std::string("online_negatives ") + negatives);
    auto p = one_step("categories", "0");
    p.set_from({"online_batch=32,online_replay=8,online_negatives=" + std::string(negatives)});
    Fitted<models::SeqModel> f(p, ds, /*with_playing=*/true);
    const auto fit_bytes = f.ranks.traffic().root_bytes;
    for (const auto& e : later) {
      f.alone.observe(e);
      f.on_ranks.observe(e);
      f.playing.observe(e);
    }
    f.alone.flush();
    f.on_ranks.flush();
    f.playing.flush();
    EXPECT_EQ(f.on_ranks.online_steps(), (later.size() + 31) / 32);
    EXPECT_EQ(f.on_ranks.online_steps(), f.playing.online_steps());
    if (comm.size() > 1 && comm.rank() > 0) {
      EXPECT_GT(f.ranks.traffic().root_bytes, fit_bytes);
    }
    if (comm.rank() != 0) continue;  // only the root holds the whole model
    const auto got = outputs(f.on_ranks, ds), want = outputs(f.playing, ds);
    if (comm.size() <= 2) {
      EXPECT_EQ(item_rows(f.on_ranks), item_rows(f.playing));
      EXPECT_EQ(got, want);
    } else {  // the dense sums' rounding (3 ranks) reaches the rows over the steps
      EXPECT_EQ(differing(item_rows(f.on_ranks), item_rows(f.playing)), 0u);
      EXPECT_EQ(differing(got, want), 0u);
    }
    if (std::string(negatives) == "0") {
      EXPECT_EQ(differing(got, outputs(f.alone, ds)), 0u);
    }
  }
}

// `serve` on ranks: the root wraps its fitted model in a Lockstep and the other ranks
// follow it; the root's calls (observe, flush, item attributes, expire) reach them in order,
// so the root's model learns as one process playing the ranks does from the same calls.
TEST(DistSeq, FollowersLearnInLockStepWithTheRoot) {
  const Comm& comm = *testing::g_world;
  auto ds = small_data();
  const auto later = split_in_time(ds, 5000);
  const std::string spec =
      "seq:dim=16,maxlen=12,blocks=1,dropout=0,id_dropout=0,epochs=1,windows=last,batch=4096,"
      "features=categories,online_batch=32,online_replay=8";
  RankShares ranks(comm);
  if (comm.rank() != 0) {
    models::Lockstep::follow_root(ranks);
    EXPECT_GT(ranks.traffic().root_bytes, 0u);
    return;
  }
  models::Lockstep lockstep(ranks);
  auto fitted = models::make_model(spec);
  fitted->fit(train_data(ds));
  // The reference starts from the state every rank loads (a save leaves out the generator).
  auto playing = models::loaded_model(spec, models::saved_bytes(*fitted), "test");
  models::LocalShares local(comm.size());
  ASSERT_TRUE(playing->train_on(&local));
  auto root = lockstep.wrap(std::move(fitted), spec);
  for (auto* m : {root.get(), playing.get()}) {
    for (size_t x = 0; x < later.size() / 2; ++x) m->observe(later[x]);
    data::ItemAttributes a;
    a.categories = {"c1", "c5"};
    m->set_item_attributes(std::vector<uint32_t>{3}, std::vector{a});
    m->expire(std::vector<uint32_t>{5}, std::vector<uint32_t>{7});
    for (size_t x = later.size() / 2; x < later.size(); ++x) m->observe(later[x]);
    m->flush();
  }
  lockstep.stop();
  EXPECT_GT(ranks.traffic().call_bytes, 0u);
  const auto got = outputs(*root, ds), want = outputs(*playing, ds);
  if (comm.size() <= 2)
    EXPECT_EQ(got, want);
  else
    EXPECT_EQ(differing(got, want), 0u);
  // A model that does not learn on ranks is refused, and so is one trained with DP.
  auto refusal = [&](std::unique_ptr<models::Recommender> m, const std::string& spec) {
    try {
      lockstep.wrap(std::move(m), spec);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  EXPECT_NE(refusal(models::make_model("mf"), "mf").find("does not learn online"),
            std::string::npos);
  const std::string dp = "seq:dim=8,maxlen=12,blocks=1,epochs=1,dp_noise=1";
  auto private_model = models::make_model(dp);
  private_model->fit(train_data(ds));
  EXPECT_NE(refusal(std::move(private_model), dp).find("differential privacy"), std::string::npos);
}

TEST(DistSeq, EveryRankEndsWithTheSameModel) {
  const Comm& comm = *testing::g_world;
  const auto ds = small_data();
  auto p = models::SeqModel::declare_params();
  p.set_from({"dim=16,maxlen=12,blocks=1,epochs=4,eval_every=2,features=categories"});
  RankShares ranks(comm);
  models::SeqModel m(p);
  m.train_on(&ranks);
  m.fit(train_data(ds));
  // Dropout masks differ per rank; the weights after each summed step may not.
  auto mine = outputs(m, ds);
  auto root = mine;
  comm.broadcast(root);
  EXPECT_EQ(mine, root);
  EXPECT_GT(ranks.traffic().steps, 0u);
  if (comm.size() > 1) {
    EXPECT_GT(ranks.traffic().row_bytes + ranks.traffic().reduce_bytes, 0u);
  }
}

TEST(DistSeq, RanksLearnAsWellAsOneProcess) {
  const Comm& comm = *testing::g_world;
  data::GeneratorOptions g;
  g.users = 400;
  g.items = 300;
  g.categories = 8;
  g.events = 16000;
  g.sequential = 0.8;  // a strong sequential signal, so learning shows
  const auto ds = data::generate(g);
  auto p = models::SeqModel::declare_params();
  p.set_from({"dim=24,maxlen=20,blocks=1,epochs=20,eval_every=5,lr=0.003,features=none"});
  Fitted<models::SeqModel> f(p, ds, /*with_playing=*/false);
  // Validation NDCG@10 of each user's last item. The runs differ in their dropout masks
  // and in rounding only (measured: 0.5654 alone, 0.5669 / 0.5651 / 0.5624 on 1 / 2 / 3 ranks).
  const double a = f.alone.report().best_ndcg, b = f.on_ranks.report().best_ndcg;
  EXPECT_GT(a, 0.3);
  EXPECT_NEAR(b, a, 0.03) << comm.size() << " ranks";
}

// The autoencoder's step over ranks against LocalShares: both item tables sharded, the
// dense layers' gradients summed (no input dropout, so no randomness differs).
TEST(DistAutoencoder, OneStepOnRanksIsOneProcessPlayingTheRanksBitForBit) {
  const Comm& comm = *testing::g_world;
  const auto ds = small_data();
  auto p = models::Autoencoder::declare_params();
  p.set_from({"hidden=32,latent=8,dropout=0,epochs=1,batch=4096"});
  Fitted<models::Autoencoder> f(p, ds, /*with_playing=*/true);
  EXPECT_EQ(f.ranks.traffic().steps, 1u);
  const auto got = outputs(f.on_ranks, ds), want = outputs(f.playing, ds);
  if (comm.size() <= 2)
    EXPECT_EQ(got, want);
  else
    EXPECT_EQ(differing(got, want), 0u);
  EXPECT_EQ(differing(got, outputs(f.alone, ds)), 0u);  // the shares' step is the whole batch's
}

TEST(DistAutoencoder, RanksLearnAsWellAsOneProcess) {
  const Comm& comm = *testing::g_world;
  const auto ds = small_data();
  auto p = models::Autoencoder::declare_params();
  p.set_from({"hidden=64,latent=16,epochs=30,batch=64"});
  Fitted<models::Autoencoder> f(p, ds, /*with_playing=*/false);
  // Each user's score of the items they have against the rest: the share of (own, other)
  // pairs ranked right, over users 0, 5, 10, ... (the fit's own data: how well it learned).
  auto auc = [&](const models::Autoencoder& m) {
    std::vector<float> s(ds.num_items());
    double right = 0, pairs = 0;
    std::vector<char> own(ds.num_items());
    for (uint32_t u = 0; u < ds.num_users(); u += 5) {
      m.score_all(u, s);
      std::fill(own.begin(), own.end(), 0);
      for (const auto& e : ds.events)
        if (e.user == u) own[e.item] = 1;
      for (uint32_t i = 0; i < ds.num_items(); ++i)
        for (uint32_t j = 0; own[i] && j < ds.num_items(); ++j)
          if (!own[j]) right += s[i] > s[j], pairs += 1;
    }
    return pairs > 0 ? right / pairs : 0.0;
  };
  const double a = auc(f.alone), b = auc(f.on_ranks);
  EXPECT_GT(a, 0.7);
  EXPECT_NEAR(b, a, 0.03) << comm.size() << " ranks";
}

}  // namespace
}  // namespace streamrec::dist
