// The tiled full-softmax cross-entropy against libtorch's own cross_entropy on the [P, N]
// logits: same loss, same gradients of h and E, with blocked rows, several tiles and a
// last partial tile, plain and with label smoothing. And the seq encoder's own dropout and
// attention.
#include <gtest/gtest.h>

#include "streamrec/core/parallel.h"
#include "streamrec/models/seq_net.h"

namespace streamrec::models {
namespace {

struct Case {
  int64_t positions, items, dim;
  int threads;  // tiles are split between this many workers
};

class FullSoftmax : public ::testing::TestWithParam<Case> {};

TEST_P(FullSoftmax, MatchesCrossEntropyOnTheWholeLogits) {
  const auto [P, N, d, threads] = GetParam();
  const int threads_before = num_threads();
  set_num_threads(threads);
  torch::manual_seed(7);
  auto h = (torch::randn({P, d}) * 2).requires_grad_(true);
  auto E = torch::randn({N, d}).requires_grad_(true);
  auto blocked = torch::tensor(std::vector<int64_t>{0, 3, N - 1}, torch::kLong);
  auto targets = torch::randint(4, N - 1, {P}, torch::kLong);  // never a blocked row

  for (const double s : {0.0, 0.1}) {  // plain, and with label smoothing
    auto loss = full_softmax_cross_entropy(h, E, targets, blocked, s);
    (loss * 3).backward();  // a non-unit upstream gradient
    const auto dh = h.grad().clone(), dE = E.grad().clone();
    h.mutable_grad().zero_();
    E.mutable_grad().zero_();

    const auto ninf = -std::numeric_limits<float>::infinity();
    auto logits = h.mm(E.t()).index_fill(1, blocked, ninf);
    auto ref = torch::nn::functional::cross_entropy(logits, targets);
    if (s > 0) {  // (1 - s) on the target, s spread over the N - 3 open rows
      auto logp = logits.log_softmax(1).index_fill(1, blocked, 0.0f);
      ref = (1 - s) * ref - s / static_cast<double>(N - 3) * logp.sum(1).mean();
    }
    (ref * 3).backward();

    EXPECT_NEAR(loss.item<float>(), ref.item<float>(), 1e-5 * std::abs(ref.item<float>())) << s;
    EXPECT_TRUE(torch::allclose(dh, h.grad(), 1e-4, 1e-6)) << s << (dh - h.grad()).abs().max();
    EXPECT_TRUE(torch::allclose(dE, E.grad(), 1e-4, 1e-6)) << s << (dE - E.grad()).abs().max();
    // Blocked rows get no gradient.
    EXPECT_EQ(dE[3].abs().sum().item<float>(), 0.0f) << s;
    h.mutable_grad().zero_();
    E.mutable_grad().zero_();
  }
  set_num_threads(threads_before);
}

// One tile; many tiles with a partial last one (a tile holds 1M / items positions), on one
// worker and on two.
INSTANTIATE_TEST_SUITE_P(Shapes, FullSoftmax,
                         ::testing::Values(Case{37, 50, 8, 1}, Case{3000, 4099, 16, 1},
                                           Case{3000, 4099, 16, 2}, Case{1, 20, 4, 2}),
                         [](const ::testing::TestParamInfo<Case>& info) {
                           const Case& c = info.param;
                           return "P" + std::to_string(c.positions) + "_N" +
                                  std::to_string(c.items) + "_d" + std::to_string(c.dim) +
                                  "_threads" + std::to_string(c.threads);
                         });

TEST(FullSoftmax, ReportsMismatchedShapes) {
  auto h = torch::randn({4, 8});
  auto E = torch::randn({10, 6});
  EXPECT_ANY_THROW(full_softmax_cross_entropy(h, E, torch::zeros({4}, torch::kLong),
                                              torch::zeros({0}, torch::kLong)));
}

TEST(FastDropout, DropsTheShareAskedAndScalesTheRest) {
  torch::manual_seed(7);
  auto x = torch::rand({200, 500}) + 0.5f;  // no zeros of its own
  x.requires_grad_(true);
  const double p = 0.2;
  auto y = fast_dropout(x, p, true);
  const auto dropped = y.eq(0);
  const double share = dropped.to(torch::kDouble).mean().item<double>();
  EXPECT_NEAR(share, p, 0.005);  // 100k draws: the standard error is 0.0013
  const auto kept = ~dropped;
  EXPECT_TRUE(torch::allclose(y.masked_select(kept), x.masked_select(kept) / (1 - p)));
  // The gradient is the mask: 0 where dropped, 1 / (1 - p) where kept.
  y.sum().backward();
  EXPECT_TRUE(torch::all(x.grad().masked_select(dropped).eq(0)).item<bool>());
  EXPECT_TRUE(torch::allclose(x.grad().masked_select(kept),
                              torch::full({kept.sum().item<int64_t>()}, 1 / (1 - p))));
  // Whole 64-bit draws of the mask are not repeated across a row: neighbours differ.
  const auto rows_equal = dropped.slice(0, 1).eq(dropped.slice(0, 0, -1)).all(1);
  EXPECT_FALSE(rows_equal.any().item<bool>());
}

TEST(FastDropout, RepeatsUnderASeedAndIsTheIdentityOutsideTraining) {
  auto x = torch::ones({1000, 7});  // an odd count: the last draw fills fewer lanes
  torch::manual_seed(3);
  auto a = fast_dropout(x, 0.5, true);
  auto b = fast_dropout(x, 0.5, true);
  torch::manual_seed(3);
  auto c = fast_dropout(x, 0.5, true);
  EXPECT_TRUE(torch::equal(a, c));
  EXPECT_FALSE(torch::equal(a, b));
  EXPECT_TRUE(torch::equal(fast_dropout(x, 0.5, false), x));
  EXPECT_TRUE(torch::equal(fast_dropout(x, 0.0, true), x));
}

TEST(FastDropout, MaskIsTheSequentialSplitmixStreamLaneByLane) {
  // The blocked mask against splitmix64 drawn one step after another, four 16-bit lanes per
  // draw, on lengths around its 64-element blocks.
  const uint64_t seed = 0x1234567890abcdefULL;
  const uint32_t cut = 26214;  // p = 0.4
  for (const int64_t n : {1, 3, 4, 63, 64, 65, 1000, 1027}) {
    std::vector<float> got(n, -1.0f);
    dropout_mask(got.data(), n, seed, cut, 2.5f);
    uint64_t state = seed;
    for (int64_t i = 0; i < n; i += 4) {
      uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
      z ^= z >> 31;
      for (int64_t k = 0; k < 4 && i + k < n; ++k)
        ASSERT_EQ(got[i + k], ((z >> (16 * k)) & 0xffff) >= cut ? 2.5f : 0.0f)
            << "n " << n << ", element " << i + k;
    }
  }
}

TEST(MultiheadAttention, MatchesLibtorchsModuleWithoutDropout) {
  torch::manual_seed(11);
  for (const int64_t heads : {1, 2, 4}) {
    const int64_t B = 3, L = 7, d = 8;
    torch::nn::MultiheadAttention mha(torch::nn::MultiheadAttentionOptions(d, heads));
    torch::NoGradGuard no_grad;
    mha->in_proj_bias.uniform_(-0.5, 0.5);  // zero at start: make the bias count
    mha->out_proj->bias.uniform_(-0.5, 0.5);
    auto q = torch::randn({B, L, d}), kv = torch::randn({B, L, d});
    const auto causal = torch::full({L, L}, -1e9f).triu(1);
    auto want = std::get<0>(
        mha->forward(q.transpose(0, 1), kv.transpose(0, 1), kv.transpose(0, 1), {}, false, causal));
    auto got = multihead_attention(*mha, q, kv, causal, 0.0, false);
    EXPECT_TRUE(torch::allclose(got, want.transpose(0, 1), 1e-5, 1e-5)) << heads << " heads";
    // With dropout in training, some attention is dropped: the result moves.
    auto dropped = multihead_attention(*mha, q, kv, causal, 0.5, true);
    EXPECT_FALSE(torch::allclose(dropped, got, 1e-3, 1e-3));
  }
}

}  // namespace
}  // namespace streamrec::models
