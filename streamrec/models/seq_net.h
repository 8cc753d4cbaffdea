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
class SeqEncoderImpl : public torch::nn::Module {
 public:
  explicit SeqEncoderImpl(SeqEncoderOptions options);
  torch::Tensor forward(torch::Tensor items, torch::Tensor pad);
  const SeqEncoderOptions& options() const { return options_; }

 private:
  SeqEncoderOptions options_;
  torch::nn::Embedding positions_{nullptr};
  torch::nn::Dropout dropout_{nullptr};
  torch::nn::ModuleList attn_norms_, attns_, ffn_norms_, ffn1_, ffn2_;
  torch::nn::LayerNorm last_norm_{nullptr};
  torch::nn::GRU gru_{nullptr};
  torch::nn::LSTM lstm_{nullptr};
};
TORCH_MODULE(SeqEncoder);

}  // namespace streamrec::models
