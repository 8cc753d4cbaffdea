#include "streamrec/models/seq_net.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "streamrec/core/error.h"
#include "streamrec/core/parallel.h"
#include "streamrec/core/simd.h"
#include "streamrec/core/softmax_rows.h"
#include "streamrec/models/gemm.h"

namespace streamrec::models {

SeqEncoderImpl::SeqEncoderImpl(SeqEncoderOptions o) : options_(std::move(o)) {
  const int64_t d = options_.dim();
  last_norm_ = register_module("last_norm",
                               torch::nn::LayerNorm(torch::nn::LayerNormOptions({d}).eps(1e-8)));
  if (options_.kind() == "sasrec") {
    positions_ = register_module("positions", torch::nn::Embedding(options_.maxlen(), d));
    for (int64_t b = 0; b < options_.blocks(); ++b) {
      attn_norms_->push_back(torch::nn::LayerNorm(torch::nn::LayerNormOptions({d}).eps(1e-8)));
      attns_->push_back(torch::nn::MultiheadAttention(
          torch::nn::MultiheadAttentionOptions(d, options_.heads()).dropout(options_.dropout())));
      ffn_norms_->push_back(torch::nn::LayerNorm(torch::nn::LayerNormOptions({d}).eps(1e-8)));
      ffn1_->push_back(torch::nn::Linear(d, d));
      ffn2_->push_back(torch::nn::Linear(d, d));
    }
    register_module("attn_norms", attn_norms_);
    register_module("attns", attns_);
    register_module("ffn_norms", ffn_norms_);
    register_module("ffn1", ffn1_);
    register_module("ffn2", ffn2_);
  } else if (options_.kind() == "gru") {
    gru_ = register_module("gru", torch::nn::GRU(torch::nn::GRUOptions(d, d).batch_first(true)));
  } else if (options_.kind() == "lstm") {
    lstm_ =
        register_module("lstm", torch::nn::LSTM(torch::nn::LSTMOptions(d, d).batch_first(true)));
  } else {
    throw_error(ErrorKind::kInvalidInput,
                "seq: unknown encoder '" + options_.kind() + "' (sasrec, gru, lstm)");
  }
}

torch::Tensor SeqEncoderImpl::forward(torch::Tensor x, torch::Tensor pad,
                                      torch::Tensor* last_attention) {
  const int64_t L = x.size(1);
  const auto keep = (~pad).unsqueeze(-1).to(x.dtype());  // [B, L, 1]
  if (options_.kind() == "gru" || options_.kind() == "lstm") {
    x = fast_dropout(x, options_.dropout(), is_training()) * keep;
    auto h = options_.kind() == "gru" ? std::get<0>(gru_(x)) : std::get<0>(lstm_(x));
    return last_norm_(h);
  }
  const int64_t d = options_.dim();
  x = x * std::sqrt(static_cast<double>(d));
  auto pos = torch::arange(options_.maxlen() - L, options_.maxlen(), torch::kLong);
  x = x + positions_(pos).unsqueeze(0);
  x = fast_dropout(x, options_.dropout(), is_training()) * keep;
  // Causal mask, added to the attention logits: position t may attend to positions <= t.
  const auto causal = torch::full({L, L}, -1e9f).triu(1);
  torch::Tensor weights;
  for (int64_t b = 0; b < options_.blocks(); ++b) {
    auto q = attn_norms_[b]->as<torch::nn::LayerNorm>()->forward(x);
    x = q + multihead_attention(*attns_[b]->as<torch::nn::MultiheadAttention>(), q, x, causal,
                                options_.dropout(), is_training(),
                                last_attention ? &weights : nullptr);
    if (last_attention) {  // [B, heads, L, L] -> the last query's row, mean over heads
      auto last = weights.select(2, L - 1).mean(1);
      *last_attention = b == 0 ? last : *last_attention + last;
    }
    x = ffn_norms_[b]->as<torch::nn::LayerNorm>()->forward(x);
    auto f = ffn1_[b]->as<torch::nn::Linear>()->forward(x);
    f = fast_dropout(torch::relu(f), options_.dropout(), is_training());
    f = fast_dropout(ffn2_[b]->as<torch::nn::Linear>()->forward(f), options_.dropout(),
                     is_training());
    x = (x + f) * keep;
  }
  if (last_attention && options_.blocks() > 0)
    *last_attention = *last_attention / options_.blocks();
  return last_norm_(x);
}

ImageTowerImpl::ImageTowerImpl(ImageTowerOptions o) {
  const int64_t c = o.channels();
  auto conv = [](int64_t in, int64_t out) {
    return torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 3).padding(1));
  };
  conv1_ = register_module("conv1", conv(3, c));
  conv2_ = register_module("conv2", conv(c, 2 * c));
  conv3_ = register_module("conv3", conv(2 * c, 4 * c));
  out_ = register_module("out", torch::nn::Linear(4 * c, o.dim()));
}

torch::Tensor ImageTowerImpl::forward(torch::Tensor x) {
  x = torch::max_pool2d(torch::relu(conv1_(x)), 2);
  x = torch::max_pool2d(torch::relu(conv2_(x)), 2);
  x = torch::relu(conv3_(x)).mean({2, 3});
  return out_(x);
}

SR_PER_ISA void dropout_mask(float* m, int64_t n, uint64_t state, uint32_t cut, float scale) {
  static_assert(std::endian::native == std::endian::little, "lane k of a draw is its k-th uint16");
  // Blocks of 16 draws (64 elements), each stage a loop the compiler vectorises: draw d of
  // the stream is splitmix64's finaliser of state + (d + 1) * golden (Steele, Lea and
  // Flood 2014), so draws need no sequential state; its four 16-bit lanes are elements 4d..4d+3.
  constexpr int64_t kDraws = 16, kBlock = 4 * kDraws;
  uint64_t z[kDraws];
  uint16_t lanes[kBlock];
  for (int64_t i = 0; i < n; i += kBlock) {
    const uint64_t first = static_cast<uint64_t>(i / 4) + 1;
    for (int64_t j = 0; j < kDraws; ++j) {
      uint64_t x = state + (first + static_cast<uint64_t>(j)) * 0x9e3779b97f4a7c15ULL;
      x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
      x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
      z[j] = x ^ (x >> 31);
    }
    std::memcpy(lanes, z, sizeof lanes);
    const int64_t count = std::min(kBlock, n - i);
    for (int64_t k = 0; k < count; ++k) m[i + k] = lanes[k] >= cut ? scale : 0.0f;
  }
}

torch::Tensor fast_dropout(const torch::Tensor& x, double p, bool training) {
  if (!training || p <= 0) return x;
  SR_ASSERT(p < 1 && x.scalar_type() == torch::kFloat);
  auto mask = torch::empty(x.sizes(), x.options().requires_grad(false));
  const auto state = static_cast<uint64_t>(
      torch::randint(std::numeric_limits<int64_t>::max(), {1}, torch::kLong).item<int64_t>());
  dropout_mask(mask.data_ptr<float>(), mask.numel(), state,
               static_cast<uint32_t>(std::lround(p * 65536.0)),
               static_cast<float>(1.0 / (1.0 - p)));
  return x * mask;
}

torch::Tensor multihead_attention(const torch::nn::MultiheadAttentionImpl& mha,
                                  const torch::Tensor& q, const torch::Tensor& kv,
                                  const torch::Tensor& mask, double dropout, bool training,
                                  torch::Tensor* weights_out) {
  const int64_t B = q.size(0), L = q.size(1), d = q.size(2);
  const int64_t heads = mha.options.num_heads(), hd = d / heads;
  SR_ASSERT(mha._qkv_same_embed_dim && kv.sizes() == q.sizes());
  const auto& w = mha.in_proj_weight;
  const auto& bias = mha.in_proj_bias;
  namespace F = torch::nn::functional;
  auto Q = F::linear(q, w.slice(0, 0, d), bias.slice(0, 0, d));
  auto KV = F::linear(kv, w.slice(0, d), bias.slice(0, d));  // keys and values in one product
  const auto split = [&](const torch::Tensor& t) {           // [B, L, d] -> [B * heads, L, hd]
    return t.reshape({B, L, heads, hd}).transpose(1, 2).reshape({B * heads, L, hd});
  };
  Q = split(Q) * (1.0 / std::sqrt(static_cast<double>(hd)));
  auto weights = torch::baddbmm(mask, Q, split(KV.slice(2, 0, d)).transpose(1, 2)).softmax(-1);
  if (weights_out) *weights_out = weights.reshape({B, heads, L, L});
  weights = fast_dropout(weights, dropout, training);
  auto out = torch::bmm(weights, split(KV.slice(2, d)));
  return F::linear(out.reshape({B, heads, L, hd}).transpose(1, 2).reshape({B, L, d}),
                   mha.out_proj->weight, mha.out_proj->bias);
}

namespace {

struct FullSoftmaxCE : public torch::autograd::Function<FullSoftmaxCE> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& h,
                               const torch::Tensor& E, const torch::Tensor& targets,
                               const torch::Tensor& blocked, double smoothing) {
    const int64_t P = h.size(0), N = E.size(0), d = h.size(1);
    SR_CHECK(P > 0 && E.size(1) == h.size(1) && targets.numel() == P, ErrorKind::kInvalidInput,
             "full softmax: h [{}, {}], E [{}, {}], {} targets", P, h.size(1), N, E.size(1),
             targets.numel());
    auto hc = h.contiguous(), Ec = E.contiguous();
    auto tg = targets.reshape({-1}).contiguous();
    // A tile's logits: about 4 MB per worker, so that the passes over them stay in cache.
    const int64_t tile =
        std::clamp<int64_t>((int64_t{1} << 20) / std::max<int64_t>(N, 1), 16, 1024);
    const int64_t tiles = (P + tile - 1) / tile;
    auto row_max = torch::empty({P}), row_sum = torch::empty({P}), picked = torch::empty({P});
    auto dh = torch::empty_like(hc);
    const float inv_p = 1.0f / static_cast<float>(P);
    const float ninf = -std::numeric_limits<float>::infinity();
    // Worker w takes tiles w, w + workers, ... into its own E gradient (a fixed split, so
    // the sum is the same every run); each runs its products single-threaded (oneDNN's
    // sgemm, see gemm.h): two independent streams of work keep both cores busy without
    // handing every product and row pass between threads.
    const auto workers = static_cast<int>(std::min<int64_t>(num_threads(), tiles));
    std::vector<torch::Tensor> dEs(workers);
    const float* Ep = Ec.data_ptr<float>();
    auto run = [&](int w) {
      torch::NoGradGuard no_grad;  // grad mode is per thread; forward runs without it
      auto buf = torch::empty({std::min(tile, P), N});
      auto dE = torch::zeros_like(Ec);
      for (int64_t t0 = w * tile; t0 < P; t0 += workers * tile) {
        const int64_t n = std::min(tile, P - t0);
        auto ht = hc.narrow(0, t0, n);
        auto tt = tg.narrow(0, t0, n);
        auto L = buf.narrow(0, 0, n);
        const float* hp = ht.data_ptr<float>();
        sgemm_serial(false, true, n, N, d, 1.0f, hp, d, Ep, d, 0.0f, L.data_ptr<float>(), N);
        if (blocked.numel() > 0) L.index_fill_(1, blocked, ninf);
        picked.narrow(0, t0, n).copy_(L.gather(1, tt.view({-1, 1})).view({-1}));
        // Each row becomes exp(x - max) while it is in cache.
        exp_rows(L.data_ptr<float>(), n, N, row_max.data_ptr<float>() + t0,
                 row_sum.data_ptr<float>() + t0);
        // softmax = c * exp(x - max) with c = 1 / (sum * P); the gradient of the logits is
        // softmax - onehot / P. Its products with E and h take c on the narrow side and the
        // one-hot part as row gathers, so the wide tile is never rescaled.
        auto c = row_sum.narrow(0, t0, n).mul(static_cast<float>(P)).reciprocal_().view({-1, 1});
        auto dht = dh.narrow(0, t0, n);
        sgemm_serial(false, false, n, d, N, 1.0f, L.data_ptr<float>(), N, Ep, d, 0.0f,
                     dht.data_ptr<float>(), d);
        dht.mul_(c).sub_(Ec.index_select(0, tt), inv_p);
        const auto hs = (ht * c).contiguous();
        sgemm_serial(true, false, N, d, n, 1.0f, L.data_ptr<float>(), N, hs.data_ptr<float>(), d,
                     1.0f, dE.data_ptr<float>(), d);
        dE.index_add_(0, tt, ht, -inv_p);
      }
      dEs[w] = dE;
    };
    parallel_for(
        workers,
        [&](size_t b, size_t e, int) {
          for (size_t w = b; w < e; ++w) run(static_cast<int>(w));
        },
        1);
    auto dE = dEs[0];
    for (int w = 1; w < workers; ++w) dE.add_(dEs[w]);
    auto per_row = row_sum.log() + row_max - picked;
    if (smoothing > 0) add_smoothing(per_row, dh, dE, hc, Ec, tg, picked, blocked, smoothing);
    const double loss = per_row.sum().item<double>();
    ctx->save_for_backward({dh, dE});
    return torch::tensor(static_cast<float>(loss / static_cast<double>(P)));
  }

  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grad) {
    const auto saved = ctx->get_saved_variables();
    const auto g = grad[0];
    return {saved[0] * g, saved[1] * g, torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }

  // Label smoothing: the target distribution is (1 - s) on the target plus s spread evenly
  // over the M columns not blocked, so the loss per row is
  //   lse - (1 - s) z_t - (s / M) sum_j z_j = (plain loss) + s z_t - s (h . Esum) / M
  // with Esum the sum of the open rows; the logits' gradient gains s onehot - s / M on the
  // open columns. The plain pass's per-row loss and gradients dh, dE (of the mean) are
  // corrected in place.
  static void add_smoothing(torch::Tensor& per_row, torch::Tensor& dh, torch::Tensor& dE,
                            const torch::Tensor& h, const torch::Tensor& E,
                            const torch::Tensor& targets, const torch::Tensor& picked,
                            const torch::Tensor& blocked, double s) {
    torch::NoGradGuard no_grad;
    const int64_t P = h.size(0), N = E.size(0);
    const auto closed = blocked.numel() > 0 ? std::get<0>(torch::_unique(blocked)) : blocked;
    const int64_t M = N - closed.numel();
    if (M <= 0) return;
    auto esum = E.sum(0);
    if (closed.numel() > 0) esum -= E.index_select(0, closed).sum(0);
    const double spread = s / static_cast<double>(M);
    per_row.add_(picked, s).sub_(h.mv(esum), spread);
    // d/dh of the mean: s E_t / P - spread Esum / P; d/dE: s h_p / P at each target row,
    // - spread (sum_p h_p) / P on every open row.
    const double inv_p = 1.0 / static_cast<double>(P);
    dh.add_(E.index_select(0, targets), s * inv_p).sub_(esum.unsqueeze(0), spread * inv_p);
    dE.index_add_(0, targets, h, s * inv_p);
    auto hsum = h.sum(0).mul_(spread * inv_p);
    auto keep = dE.index_select(0, closed);  // closed rows: untouched by the spread
    dE.sub_(hsum.unsqueeze(0));
    if (closed.numel() > 0) dE.index_copy_(0, closed, keep);
  }
};

}  // namespace

torch::Tensor full_softmax_cross_entropy(const torch::Tensor& h, const torch::Tensor& E,
                                         const torch::Tensor& targets, const torch::Tensor& blocked,
                                         double smoothing) {
  return FullSoftmaxCE::apply(h, E, targets, blocked, smoothing);
}

}  // namespace streamrec::models
