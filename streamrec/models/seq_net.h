// libtorch modules of the sequence model: user-sequence encoders (causal self-attention
// blocks in the SASRec style, GRU, LSTM). Include only from files that need torch.
#pragma once

#include <torch/torch.h>

namespace streamrec::models {

struct SeqEncoderOptions {
  SeqEncoderOptions(int64_t dim, int64_t maxlen) : dim_(dim), maxlen_(maxlen) {}
  TORCH_ARG(int64_t, dim);
  TORCH_ARG(int64_t, maxlen);
  TORCH_ARG(std::string, kind) = "sasrec";  // sasrec | gru | lstm
  TORCH_ARG(int64_t, blocks) = 2;
  TORCH_ARG(int64_t, heads) = 1;
  TORCH_ARG(double, dropout) = 0.2;
};

// Encodes item-embedding sequences [B, L, dim] (left-padded; `pad` [B, L] is true at
// padding) into hidden states [B, L, dim]; position t sees only positions <= t.
// `last_attention` (self-attention encoders only; else left undefined): the attention
// weights of the last position over the L positions [B, L], averaged over heads and
// blocks, before dropout.
class SeqEncoderImpl : public torch::nn::Module {
 public:
  explicit SeqEncoderImpl(SeqEncoderOptions options);
  torch::Tensor forward(torch::Tensor items, torch::Tensor pad,
                        torch::Tensor* last_attention = nullptr);
  const SeqEncoderOptions& options() const { return options_; }

 private:
  SeqEncoderOptions options_;
  torch::nn::Embedding positions_{nullptr};
  torch::nn::ModuleList attn_norms_, attns_, ffn_norms_, ffn1_, ffn2_;
  torch::nn::LayerNorm last_norm_{nullptr};
  torch::nn::GRU gru_{nullptr};
  torch::nn::LSTM lstm_{nullptr};
};
TORCH_MODULE(SeqEncoder);

struct ImageTowerOptions {
  explicit ImageTowerOptions(int64_t dim) : dim_(dim) {}
  TORCH_ARG(int64_t, dim);
  TORCH_ARG(int64_t, channels) = 16;  // of the first convolution; doubled by each next one
};

// The item tower's picture branch: a small CNN over RGB images [N, 3, S, S] (values 0..1):
// three 3x3 convolutions with ReLU (the first two followed by 2x2 max pooling), global
// average pooling and a linear map to the item embedding's size.
class ImageTowerImpl : public torch::nn::Module {
 public:
  explicit ImageTowerImpl(ImageTowerOptions options);
  torch::Tensor forward(torch::Tensor images);

 private:
  torch::nn::Conv2d conv1_{nullptr}, conv2_{nullptr}, conv3_{nullptr};
  torch::nn::Linear out_{nullptr};
};
TORCH_MODULE(ImageTower);

}  // namespace streamrec::models

namespace streamrec::models {

// Mean next-item cross-entropy of hidden states h [P, d] against every row of E [N, d]
// (logits h E^T), with `targets` [P] (long) the right rows and `blocked` (long) rows kept out
// of the softmax. Same value and gradients as cross_entropy(h.mm(E.t()) with blocked columns
// at -inf, targets), without the [P, N] logits: positions go through in tiles whose logits
// stay in cache, and the gradients of h and E are formed in the same pass (the loss is a
// scalar: backward only scales them). `smoothing` s > 0: label smoothing, the target
// distribution being 1 - s on the target plus s spread evenly over the open rows.
torch::Tensor full_softmax_cross_entropy(const torch::Tensor& h, const torch::Tensor& E,
                                         const torch::Tensor& targets, const torch::Tensor& blocked,
                                         double smoothing = 0);

// Inverted dropout: in training, each element of x is zeroed with probability p and the rest
// scaled by 1 / (1 - p) (the expectation stays x); outside training, x itself. The same as
// torch's dropout, but libtorch 1.13's CPU bernoulli draws one double per element from its
// Mersenne Twister, in one thread (a large share of a seq online step). The mask here comes
// from a splitmix64 stream (four 16-bit draws per 64 bits: p in steps of 1/65536) seeded by
// one draw from torch's generator, so torch::manual_seed still makes runs repeat.
torch::Tensor fast_dropout(const torch::Tensor& x, double p, bool training);
// fast_dropout's mask: m[i] = scale, or 0 when the i-th 16-bit lane of the splitmix64 stream
// from `state` (four lanes per 64-bit draw, low lanes first) is below `cut`.
void dropout_mask(float* m, int64_t n, uint64_t state, uint32_t cut, float scale);

// `mha`'s attention of queries q [B, L, d] over keys and values kv [B, L, d], with an
// additive mask [L, L], batch first: the same result as mha.forward on [L, B, d] inputs
// (the same parameters, so checkpoints are unchanged), with fast_dropout on the attention
// weights in place of torch's. `weights` (optional) receives the attention weights
// [B, heads, L, L] before dropout.
torch::Tensor multihead_attention(const torch::nn::MultiheadAttentionImpl& mha,
                                  const torch::Tensor& q, const torch::Tensor& kv,
                                  const torch::Tensor& mask, double dropout, bool training,
                                  torch::Tensor* weights = nullptr);

}  // namespace streamrec::models
