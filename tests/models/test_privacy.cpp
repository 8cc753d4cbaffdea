// User-level differential privacy and federated learning: the RDP accountant against
// published values and closed forms, the clipping of one user's gradient, seq's DP-SGD fit
// and online steps, the federated server's averaging, and seq's federated fit.
#include <gtest/gtest.h>

#include <cmath>

#include "models/round_trip.h"
#include "streamrec/core/error.h"
#include "streamrec/data/generator.h"
#include "streamrec/eval/evaluator.h"
#include "streamrec/models/dp_sgd.h"
#include "streamrec/models/federated.h"
#include "streamrec/models/privacy.h"
#include "streamrec/models/registry.h"
#include "streamrec/models/seq.h"

namespace streamrec::models {
namespace {

size_t order_index(int order) {
  const auto& o = RdpAccountant::orders();
  return static_cast<size_t>(std::find(o.begin(), o.end(), order) - o.begin());
}

TEST(Privacy, GaussianWithoutSamplingIsTheClosedForm) {
  // q = 1: the Gaussian mechanism's RDP is alpha / (2 sigma^2) at every order.
  for (const int a : {2, 7, 64, 256})
    EXPECT_DOUBLE_EQ(RdpAccountant::step_rdp(1.0, 10.0, a), a / 200.0);
  EXPECT_EQ(RdpAccountant::step_rdp(0.0, 1.0, 5), 0.0);
  // ... and the binomial expansion at q -> 1 reaches it.
  EXPECT_NEAR(RdpAccountant::step_rdp(1 - 1e-9, 3.0, 8), 8 / 18.0, 1e-6);
}

TEST(Privacy, SampledGaussianMatchesTfPrivacysPublishedValues) {
  // rdp_accountant_test.py (TF Privacy): compute_rdp(q, sigma, steps, order).
  EXPECT_NEAR(10 * RdpAccountant::step_rdp(0.1, 2, 5), 0.07737, 1e-5);
  EXPECT_NEAR(50 * RdpAccountant::step_rdp(0.01, 2.5, 5), 0.00218075, 1e-5);
  EXPECT_NEAR(50 * RdpAccountant::step_rdp(0.01, 2.5, 50), 0.023846, 1e-5);
  EXPECT_NEAR(50 * RdpAccountant::step_rdp(0.01, 2.5, 100), 167.416307, 1e-4);
  // Composition adds: the accountant holds steps x one step's RDP at each order.
  RdpAccountant acc;
  acc.add(0.1, 2, 4);
  acc.add(0.1, 2, 6);
  EXPECT_NEAR(acc.rdp()[order_index(5)], 0.07737, 1e-5);
}

TEST(Privacy, EpsilonConversionMatchesTfPrivacy) {
  // Constant RDP 1.1 over orders 2..32 (pure DP): the largest order wins, epsilon
  // 1.32783806176 at delta 1e-5 (get_privacy_spent's test).
  std::vector<double> rdp(RdpAccountant::orders().size());
  for (size_t i = 0; i < rdp.size(); ++i) rdp[i] = RdpAccountant::orders()[i] <= 32 ? 1.1 : 1e9;
  int order = 0;
  EXPECT_NEAR(RdpAccountant::to_epsilon(rdp, 1e-5, &order), 1.32783806176, 1e-9);
  EXPECT_EQ(order, 32);
  // The Gaussian at sigma 4.530877117 is exactly (1, 1e-6)-DP; integer orders bound it
  // from above, within 2%.
  RdpAccountant g;
  g.add(1.0, 4.530877117, 1);
  const double eps = g.epsilon(1e-6);
  EXPECT_GE(eps, 1.0);
  EXPECT_LT(eps, 1.02);
  EXPECT_THROW(g.epsilon(0), Error);
}

TEST(Privacy, CalibratedNoiseIsTheSmallestThatStaysWithinEpsilon) {
  for (const double target : {1.0, 4.0, 8.0}) {
    const double q = 128.0 / 610, steps = 100;
    const double noise = RdpAccountant::calibrate(target, 1e-5, q, steps);
    RdpAccountant at, below;
    at.add(q, noise, steps);
    below.add(q, noise * 0.99, steps);
    EXPECT_LE(at.epsilon(1e-5), target);
    EXPECT_GT(below.epsilon(1e-5), target) << "noise " << noise << " is not the smallest";
  }
  // More steps at the same epsilon need more noise.
  EXPECT_GT(RdpAccountant::calibrate(4, 1e-5, 0.1, 1000),
            RdpAccountant::calibrate(4, 1e-5, 0.1, 100));
}

TEST(Privacy, ClippingBoundsOneUsersInfluenceOnAStep) {
  // Two users' gradients over two tensors; the second user's is huge. Their sum with the
  // second user differs from the sum without them by at most the clip, however large.
  const double clip = 0.5;
  const std::vector<torch::Tensor> shapes{torch::zeros({3, 2}), torch::zeros({4})};
  const std::vector<torch::Tensor> small{torch::full({3, 2}, 0.01f), torch::full({4}, 0.02f)};
  for (const float scale : {1.0f, 1e3f, 1e9f}) {
    const std::vector<torch::Tensor> big{torch::randn({3, 2}) * scale, torch::Tensor()};
    DpGradientSum with(shapes, clip), without(shapes, clip);
    with.add(small);
    without.add(small);
    const double norm = with.add(big);
    EXPECT_NEAR(norm, big[0].norm().item<double>(), 1e-3 * norm);
    const auto a = with.noisy_mean(0, 1), b = without.noisy_mean(0, 1);
    const double diff = std::sqrt((a[0] - b[0]).pow(2).sum().item<double>() +
                                  (a[1] - b[1]).pow(2).sum().item<double>());
    EXPECT_LE(diff, clip * (1 + 1e-5)) << "scale " << scale;
    EXPECT_GT(diff, clip * 0.999 * std::min(1.0, norm / clip));
  }
  // A gradient within the bound passes unchanged; noise lands only on unmasked rows.
  DpGradientSum one(shapes, clip);
  one.add(small);
  torch::manual_seed(1);
  const auto noisy = one.noisy_mean(1.0, 2.0, {torch::tensor({{1.0f}, {0.0f}, {1.0f}})});
  EXPECT_TRUE(torch::allclose(noisy[0][1], small[0][1] / 2));
  EXPECT_FALSE(torch::allclose(noisy[0][0], small[0][0] / 2));
}

TEST(Privacy, BadOptionsAreNamed) {
  auto message = [](const std::string& spec) {
    try {
      make_model(spec);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  EXPECT_NE(message("seq:dp_epsilon=-1").find("dp_epsilon"), std::string::npos);
  EXPECT_NE(message("seq:dp_clip=0").find("dp_clip"), std::string::npos);
  EXPECT_NE(message("seq:dp_delta=0.5").find("dp_delta"), std::string::npos);
  EXPECT_NE(message("seq:dp_epsilon=2,dp_noise=1").find("not both"), std::string::npos);
  EXPECT_NE(message("seq:dp_max_epsilon=3").find("needs dp_epsilon"), std::string::npos);
  EXPECT_NE(message("seq:dp_epsilon=4,dp_max_epsilon=3").find("leaves nothing"), std::string::npos);
  EXPECT_NE(message("seq:dp_epsilon=4,negatives=100").find("full softmax"), std::string::npos);
  EXPECT_EQ(message("seq:dp_epsilon=4,dp_max_epsilon=8"), "accepted");
}

struct Generated {
  data::Dataset ds;
  eval::Split split;
};

const Generated& generated() {
  static const Generated g = [] {
    Generated x;
    data::GeneratorOptions o;
    o.users = 400;
    o.items = 200;
    o.events = 12000;
    o.sequential = 0.5;
    x.ds = data::generate(o);
    x.split = eval::split_events(x.ds, {});
    return x;
  }();
  return g;
}

double ndcg(Recommender& m) {
  eval::EvalOptions eo;
  eo.ks = {10};
  return eval::evaluate(m, generated().ds, generated().split, eo).metrics.at("ndcg@10");
}

TEST(Privacy, SeqSpendsItsEpsilonLearnsAndKeepsTheReport) {
  const std::string base = "seq:dim=16,maxlen=20,epochs=8,batch=200,lr=0.01";
  auto plain = make_model(base);
  EXPECT_EQ(plain->privacy(), nullptr);
  const std::string spec = base + ",dp_epsilon=8,dp_clip=1";
  auto m = make_model(spec);
  const double private_ndcg = ndcg(*m);
  const auto* p = m->privacy();
  ASSERT_NE(p, nullptr);
  EXPECT_LE(p->epsilon, 8.0);
  EXPECT_GT(p->epsilon, 7.5);  // calibrated: the noise is no larger than it must be
  EXPECT_EQ(p->delta, 1e-5);
  EXPECT_GT(p->noise, 0.3);
  EXPECT_EQ(p->online_steps, 0u);
  EXPECT_NEAR(p->sample_rate, 200.0 / p->users, 1e-9);
  EXPECT_EQ(p->steps, static_cast<uint64_t>(std::ceil(8 / p->sample_rate)));
  // It learned something: above popularity on the planted stream.
  auto pop = make_model("popular");
  const double pop_ndcg = ndcg(*pop);
  std::printf("DP seq (epsilon %.2f, noise %.2f): ndcg@10 %.4f, popular %.4f\n", p->epsilon,
              p->noise, private_ndcg, pop_ndcg);
  EXPECT_GT(private_ndcg, pop_ndcg);
  // The report survives a save and load.
  auto copy = round_trip(*m, spec);
  ASSERT_NE(copy->privacy(), nullptr);
  EXPECT_DOUBLE_EQ(copy->privacy()->epsilon, p->epsilon);
  EXPECT_EQ(copy->privacy()->steps, p->steps);
}

TEST(Privacy, SeqOnlineStepsStopAtTheBudget) {
  const std::string base = "seq:dim=8,maxlen=10,epochs=2,batch=200,online_batch=8,online_replay=8";
  const auto& ds = generated().ds;
  auto observe_all = [&](Recommender& m) {
    for (size_t i = 0; i < 400; ++i) {
      data::Interaction e;
      e.user = static_cast<uint32_t>(i % 50);
      e.item = static_cast<uint32_t>((i * 7) % ds.num_items());
      m.observe(e);
    }
    m.flush();
  };
  const TrainData data(ds.num_users(), ds.num_items(), generated().split.fit_for_test(), &ds);
  // No online budget: the weights stay, a user's own new event still moves their list.
  auto frozen = make_model(base + ",dp_noise=2");
  frozen->fit(data);
  const double fitted = frozen->privacy()->epsilon;
  std::vector<float> before(ds.num_items()), after(ds.num_items());
  frozen->score_all(3, before);
  observe_all(*frozen);
  frozen->score_all(3, after);
  EXPECT_EQ(frozen->privacy()->online_steps, 0u);
  EXPECT_EQ(frozen->privacy()->epsilon, fitted);
  EXPECT_NE(before, after);
  // A budget: steps run while they fit in it, then stop; the epsilon never passes it.
  auto online = make_model(base + ",dp_noise=2,dp_max_epsilon=" + std::to_string(fitted + 3));
  online->fit(data);
  observe_all(*online);
  const auto* p = online->privacy();
  EXPECT_GT(p->online_steps, 0u);
  EXPECT_LT(p->online_steps, 50u);  // 400 events in steps of 8: the budget stopped them
  EXPECT_LE(p->epsilon, fitted + 3);
  EXPECT_GT(p->epsilon, fitted);
}

TEST(Privacy, AutoencoderSpendsItsEpsilonAndLearns) {
  auto m = make_model("autoencoder:hidden=32,latent=8,epochs=30,batch=200,lr=0.01,dp_epsilon=8");
  const double private_ndcg = ndcg(*m);
  const auto* p = m->privacy();
  ASSERT_NE(p, nullptr);
  EXPECT_LE(p->epsilon, 8.0);
  EXPECT_GT(p->epsilon, 7.5);
  auto pop = make_model("popular");
  const double pop_ndcg = ndcg(*pop);
  std::printf("DP autoencoder (epsilon %.2f): ndcg@10 %.4f, popular %.4f\n", p->epsilon,
              private_ndcg, pop_ndcg);
  // The clipped steps learn: with little noise (a large epsilon) well above popularity,
  // drowned in noise below it; epsilon 8 on 400 users sits between, near popularity.
  auto clear =
      make_model("autoencoder:hidden=32,latent=8,epochs=30,batch=200,lr=0.01,dp_noise=0.05");
  auto drowned =
      make_model("autoencoder:hidden=32,latent=8,epochs=30,batch=200,lr=0.01,dp_noise=1000");
  const double clear_ndcg = ndcg(*clear), drowned_ndcg = ndcg(*drowned);
  std::printf("  noise 0.05 (epsilon %.0f): %.4f; noise 1000: %.4f\n", clear->privacy()->epsilon,
              clear_ndcg, drowned_ndcg);
  EXPECT_GT(clear_ndcg, 1.3 * pop_ndcg);
  EXPECT_GT(clear_ndcg, private_ndcg);
  EXPECT_GT(private_ndcg, drowned_ndcg);
  EXPECT_EQ(make_model("autoencoder")->privacy(), nullptr);
  EXPECT_THROW(make_model("autoencoder:dp_epsilon=2,dp_max_epsilon=4"), Error);
}

TEST(Privacy, AnEmptyFitSpendsNothingAndOnlineStepsStayFinite) {
  // A server starts with an empty log: no user, no step, no noise; then learns online.
  const auto& ds = generated().ds;
  auto m = make_model(
      "seq:dim=8,maxlen=10,epochs=2,online_batch=32,online_replay=8,"
      "dp_epsilon=2,dp_max_epsilon=6");
  m->fit(TrainData(0, 0, {}, nullptr));
  ASSERT_NE(m->privacy(), nullptr);
  EXPECT_EQ(m->privacy()->steps, 0u);
  EXPECT_EQ(m->privacy()->epsilon, 0.0);
  for (size_t i = 0; i < 1000; ++i) m->observe(ds.events[i]);
  m->flush();
  EXPECT_GT(m->privacy()->online_steps, 0u);
  EXPECT_LE(m->privacy()->epsilon, 6.0);
  std::vector<float> scores(m->num_items());
  for (uint32_t u = 0; u < 20; ++u) {
    m->score_all(u, scores);
    for (const float x : scores) ASSERT_TRUE(std::isfinite(x)) << "user " << u;
  }
}

// The server's side of federated learning takes updates only: a vector of floats the size
// of its weights, no event type anywhere in its interface.
static_assert(sizeof(ClientUpdate) == sizeof(std::vector<float>));
static_assert(std::is_same_v<decltype(&FederatedServer::apply),
                             void (FederatedServer::*)(std::span<const ClientUpdate>)>);

TEST(Federated, TheServerAveragesClipsAndNoises) {
  FederatedOptions o;
  o.expected_clients = 2;
  FederatedServer avg({1.0f, 1.0f}, o);
  const std::vector<ClientUpdate> two{{{1.0f, 0.0f}}, {{3.0f, -2.0f}}};
  avg.apply(two);
  EXPECT_EQ(std::vector<float>(avg.weights().begin(), avg.weights().end()),
            (std::vector<float>{3.0f, 0.0f}));  // + (1 + 3) / 2, (0 - 2) / 2
  // Clipping: an update of norm 5 counts as norm 1, in its own direction.
  o.clip = 1;
  o.expected_clients = 1;
  FederatedServer clipped({0.0f, 0.0f}, o);
  const std::vector<ClientUpdate> big{{{3.0f, 4.0f}}};
  clipped.apply(big);
  EXPECT_NEAR(clipped.weights()[0], 0.6, 1e-6);
  EXPECT_NEAR(clipped.weights()[1], 0.8, 1e-6);
  EXPECT_EQ(clipped.clipped(), 1u);
  // Noise: std noise x clip / expected clients per coordinate, even in a round without
  // clients.
  o.noise = 2;
  o.clip = 0.5;
  o.expected_clients = 4;
  FederatedServer noisy(std::vector<float>(20000, 0.0f), o);
  noisy.apply({});
  double sq = 0;
  for (const float w : noisy.weights()) sq += double{w} * w;
  EXPECT_NEAR(std::sqrt(sq / 20000), 2 * 0.5 / 4, 0.01);
  const std::vector<ClientUpdate> wrong{{{1.0f}}};
  EXPECT_THROW(noisy.apply(wrong), Error);
  o.clip = 0;
  EXPECT_THROW(FederatedServer({0.0f}, o), Error);  // noise needs a clip
}

TEST(Federated, SeqLearnsFromClientsAndDpFedAvgReportsItsEpsilon) {
  auto pop = make_model("popular");
  const double pop_ndcg = ndcg(*pop);
  auto fed = make_model("seq:dim=16,maxlen=20,fed_rounds=12,fed_clients=64,fed_local_lr=0.5");
  const double fed_ndcg = ndcg(*fed);
  EXPECT_EQ(fed->privacy(), nullptr);
  auto dp =
      make_model("seq:dim=16,maxlen=20,fed_rounds=12,fed_clients=64,fed_local_lr=0.5,dp_epsilon=8");
  const double dp_ndcg = ndcg(*dp);
  ASSERT_NE(dp->privacy(), nullptr);
  EXPECT_LE(dp->privacy()->epsilon, 8.0);
  EXPECT_GT(dp->privacy()->epsilon, 7.5);
  EXPECT_EQ(dp->privacy()->steps, 12u);
  std::printf("federated seq: ndcg@10 %.4f, with DP-FedAvg %.4f, popular %.4f\n", fed_ndcg, dp_ndcg,
              pop_ndcg);
  EXPECT_GT(fed_ndcg, 1.5 * pop_ndcg);
  // Online, no central step: the weights stay, a user's own events move their list.
  const auto& ds = generated().ds;
  std::vector<float> before(ds.num_items()), after(ds.num_items());
  fed->score_all(5, before);
  for (size_t i = 0; i < 100; ++i) {
    data::Interaction e;
    e.user = 5;
    e.item = static_cast<uint32_t>(i % ds.num_items());
    fed->observe(e);
  }
  fed->flush();
  fed->score_all(5, after);
  EXPECT_NE(before, after);
  EXPECT_EQ(dynamic_cast<const SeqModel&>(*fed).online_steps(), 0u);
  EXPECT_THROW(make_model("seq:fed_rounds=3,features=categories"), Error);
  // The default item tower (auto) is categories+title, and none for a federated fit.
  EXPECT_EQ(make_model("seq")->params().str("features"), "categories+title");
  EXPECT_EQ(make_model("seq:fed_rounds=3")->params().str("features"), "none");
}

}  // namespace
}  // namespace streamrec::models
