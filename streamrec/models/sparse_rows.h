// The bridge between dynamic embedding tables and libtorch (DESIGN.md, "Dense + sparse
// training"): gather a batch's rows into a tensor that autograd can differentiate, then hand
// that tensor's gradient rows back to the table's row optimizer. Include only from files
// that use torch.
#pragma once

#include <torch/torch.h>

#include <span>
#include <vector>

#include "streamrec/embedding/table.h"

namespace streamrec::models {

// Rows of `keys` as a float tensor [leading_zero_rows + keys.size(), dim]; the first
// `leading_zero_rows` rows are zeros (e.g. a padding id 0). `train` gathers through
// gather_train (admits and stamps keys at event time `now`), else read-only.
inline torch::Tensor gather_rows(embedding::EmbeddingTable& table,
                                 const std::vector<uint64_t>& keys, bool train,
                                 int64_t leading_zero_rows = 0, int64_t now = 0) {
  const int64_t dim = table.dim();
  auto m = torch::zeros({leading_zero_rows + static_cast<int64_t>(keys.size()), dim});
  std::span<float> rows(m.data_ptr<float>() + leading_zero_rows * dim, keys.size() * dim);
  if (train)
    table.gather_train(keys, now, rows);
  else
    table.gather(keys, rows);
  return m;
}

// Applies the gradient of a tensor made by gather_rows (skipping its leading zero rows).
inline void apply_row_gradients(embedding::EmbeddingTable& table, const std::vector<uint64_t>& keys,
                                const torch::Tensor& rows, int64_t leading_zero_rows = 0,
                                int64_t now = 0) {
  const auto g = rows.grad().slice(0, leading_zero_rows).contiguous();
  table.apply_gradients(keys, std::span<const float>(g.data_ptr<float>(), g.numel()), now);
}

}  // namespace streamrec::models
