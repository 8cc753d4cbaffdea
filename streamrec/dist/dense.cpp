#include "streamrec/dist/dense.h"

#include <torch/torch.h>

#include "streamrec/core/error.h"

namespace streamrec::dist {
namespace {

// The parameters' values (or their gradients, zeros where a parameter has none) end to end.
std::vector<float> flatten(const std::vector<at::Tensor>& parameters, bool gradients) {
  size_t n = 0;
  for (const auto& p : parameters) {
    SR_CHECK(p.scalar_type() == torch::kFloat32 && p.device().is_cpu(), ErrorKind::kInternal,
             "dist: dense parameters must be float32 on the CPU");
    n += static_cast<size_t>(p.numel());
  }
  std::vector<float> flat(n, 0.0f);
  size_t pos = 0;
  for (const auto& p : parameters) {
    const auto t = gradients ? p.grad() : p.detach();
    if (t.defined()) {
      const auto c = t.contiguous();
      std::copy_n(c.data_ptr<float>(), static_cast<size_t>(p.numel()), flat.begin() + pos);
    }
    pos += static_cast<size_t>(p.numel());
  }
  return flat;
}

}  // namespace

void average_gradients(const Comm& comm, const std::vector<at::Tensor>& parameters) {
  auto flat = flatten(parameters, /*gradients=*/true);
  comm.all_reduce_sum(flat);
  const float scale = 1.0f / static_cast<float>(comm.size());
  torch::NoGradGuard no_grad;
  size_t pos = 0;
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
  auto flat = flatten(parameters, /*gradients=*/false);
  comm.broadcast(flat);
  torch::NoGradGuard no_grad;
  size_t pos = 0;
  for (const auto& p : parameters) {
    p.copy_(torch::from_blob(flat.data() + pos, p.sizes(), torch::kFloat32));
    pos += static_cast<size_t>(p.numel());
  }
}

}  // namespace streamrec::dist
