// Internal to models: a data-parallel step's libtorch side (data_parallel.h): item rows
// through the world as tensors, their gradients queued for the owners, and the dense
// gradients summed. Include only from files that use torch.
#pragma once

#include <torch/torch.h>

#include <cstring>
#include <span>
#include <vector>

#include "streamrec/core/error.h"
#include "streamrec/embedding/table.h"
#include "streamrec/models/data_parallel.h"

namespace streamrec::models {

// Collective: rows of `keys` [keys.size(), dim] from their owners (gather_rows of sparse_rows.h
// over the world; `shard` is this process's part of the table).
inline torch::Tensor gather_rows(DataParallel& world, embedding::EmbeddingTable& shard,
                                 const std::vector<uint64_t>& keys, bool train) {
  auto m = torch::zeros({static_cast<int64_t>(keys.size()), static_cast<int64_t>(shard.dim())});
  world.gather_rows(shard, keys, train, std::span<float>(m.data_ptr<float>(), m.numel()));
  return m;
}

// Queues the gradient of `rows` (made by gather_rows, if it has one) for `keys`' owners.
inline void push_row_gradients(DataParallel& world, const std::vector<uint64_t>& keys,
                               const torch::Tensor& rows) {
  if (!rows.defined() || !rows.grad().defined()) return;
  const auto g = rows.grad().contiguous();
  world.push_gradients(keys, std::span<const float>(g.data_ptr<float>(), g.numel()));
}

// Collective: each parameter's gradient (zeros where it has none) and `loss` (when given)
// become their sums over the processes.
inline void sum_gradients(DataParallel& world, const std::vector<torch::Tensor>& params,
                          double* loss = nullptr) {
  int64_t n = 0;
  for (const auto& p : params) {
    SR_CHECK(p.scalar_type() == torch::kFloat32 && p.device().is_cpu(), ErrorKind::kInternal,
             "data-parallel: dense parameters must be float32 on the CPU");
    n += p.numel();
  }
  std::vector<float> flat(static_cast<size_t>(n), 0.0f);
  int64_t at = 0;
  for (const auto& p : params) {
    if (p.grad().defined())
      std::memcpy(flat.data() + at, p.grad().contiguous().data_ptr<float>(),
                  static_cast<size_t>(p.numel()) * sizeof(float));
    at += p.numel();
  }
  world.sum(flat);
  if (loss) world.sum(std::span<double>(loss, 1));
  torch::NoGradGuard no_grad;
  at = 0;
  for (auto p : params) {
    auto g = torch::from_blob(flat.data() + at, p.sizes(), torch::kFloat32);
    if (p.grad().defined())
      p.mutable_grad().copy_(g);
    else
      p.mutable_grad() = g.clone();
    at += p.numel();
  }
}

// After the processes' shared initialisation: torch's generator draws this process's own
// masks and noise from here on (seed + its first share).
inline void seed_process(const DataParallel& world, uint64_t seed) {
  torch::manual_seed(seed + 0x9E3779B97F4A7C15ull * static_cast<uint64_t>(world.mine().front()));
}

}  // namespace streamrec::models
