#include "streamrec/dist/dense.h"

#include <torch/torch.h>

#include "streamrec/core/error.h"

namespace streamrec::dist {
namespace {

size_t total(const std::vector<at::Tensor>& parameters) {
  size_t n = 0;
  for (const auto& p : parameters) {
    SR_CHECK(p.scalar_type() == torch::kFloat32 && p.device().is_cpu(), ErrorKind::kInternal,
             "dist: dense parameters must be float32 on the CPU");
    n += static_cast<size_t>(p.numel());
  }
  return n;
}

}  // namespace

void average_gradients(const Comm& comm, const std::vector<at::Tensor>& parameters) {
  std::vector<float> flat(total(parameters), 0.0f);
  size_t pos = 0;
  for (const auto& p : parameters) {
    const auto n = static_cast<size_t>(p.numel());
    if (p.grad().defined()) {
      const auto g = p.grad().contiguous();
      std::copy_n(g.data_ptr<float>(), n, flat.begin() + pos);
    }
    pos += n;
  }
  comm.all_reduce_sum(flat);
  const float scale = 1.0f / static_cast<float>(comm.size());
  torch::NoGradGuard no_grad;
  pos = 0;
  for (const auto& p : parameters) {
    const auto n = static_cast<size_t>(p.numel());
    auto mean = torch::from_blob(flat.data() + pos, p.sizes(), torch::kFloat32) * scale;
    if (p.grad().defined())
      p.grad().copy_(mean);
    else
      p.mutable_grad() = mean.clone();
    pos += n;
  }
}

void broadcast_parameters(const Comm& comm, const std::vector<at::Tensor>& parameters) {
  std::vector<float> flat(total(parameters));
  size_t pos = 0;
  for (const auto& p : parameters) {
    const auto c = p.detach().contiguous();
    std::copy_n(c.data_ptr<float>(), static_cast<size_t>(p.numel()), flat.begin() + pos);
    pos += static_cast<size_t>(p.numel());
  }
  comm.broadcast(flat);
  torch::NoGradGuard no_grad;
  pos = 0;
  for (const auto& p : parameters) {
    p.copy_(torch::from_blob(flat.data() + pos, p.sizes(), torch::kFloat32));
    pos += static_cast<size_t>(p.numel());
  }
}

}  // namespace streamrec::dist
