#include "streamrec/dist/dense.h"

#include <torch/torch.h>

#include "streamrec/core/error.h"
#include "streamrec/dist/data_parallel.h"
#include "streamrec/models/data_parallel_torch.h"

namespace streamrec::dist {
namespace {

// The parameters' values end to end.
std::vector<float> flatten(const std::vector<at::Tensor>& parameters) {
  size_t n = 0;
  for (const auto& p : parameters) {
    SR_CHECK(p.scalar_type() == torch::kFloat32 && p.device().is_cpu(), ErrorKind::kInternal,
             "dist: dense parameters must be float32 on the CPU");
    n += static_cast<size_t>(p.numel());
  }
  std::vector<float> flat(n, 0.0f);
  size_t pos = 0;
  for (const auto& p : parameters) {
    const auto c = p.detach().contiguous();
    std::copy_n(c.data_ptr<float>(), static_cast<size_t>(p.numel()), flat.begin() + pos);
    pos += static_cast<size_t>(p.numel());
  }
  return flat;
}

}  // namespace

void average_gradients(const Comm& comm, const std::vector<at::Tensor>& parameters) {
  RankShares world(comm);
  models::sum_gradients(world, parameters);
  torch::NoGradGuard no_grad;
  const float scale = 1.0f / static_cast<float>(comm.size());
  for (const auto& p : parameters) p.mutable_grad().mul_(scale);
}

void broadcast_parameters(const Comm& comm, const std::vector<at::Tensor>& parameters) {
  auto flat = flatten(parameters);
  comm.broadcast(flat);
  torch::NoGradGuard no_grad;
  size_t pos = 0;
  for (const auto& p : parameters) {
    p.copy_(torch::from_blob(flat.data() + pos, p.sizes(), torch::kFloat32));
    pos += static_cast<size_t>(p.numel());
  }
}

}  // namespace streamrec::dist
