// Internal to the models that offer DP-SGD (includes libtorch): one step's sum of per-user
// gradients, each clipped to an L2 bound over all of the step's parameters together (dense
// weights and embedding rows), and the Gaussian noise added to that sum (Abadi et al. 2016).
// Not thread-safe: one step's scratch.
#pragma once

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <vector>

namespace streamrec::models {

class DpGradientSum {
 public:
  // `params`: the tensors whose gradients are summed (their shapes); `clip` > 0.
  DpGradientSum(const std::vector<torch::Tensor>& params, double clip) : clip_(clip) {
    for (const auto& p : params) sum_.push_back(torch::zeros_like(p).detach());
  }

  // Adds one user's gradients (one per parameter, in the constructor's order; undefined
  // means zero), scaled by min(1, clip / norm). Returns the norm before clipping.
  double add(const std::vector<torch::Tensor>& grads) {
    double sq = 0;
    for (const auto& g : grads)
      if (g.defined()) sq += g.pow(2).sum().item<double>();
    const double norm = std::sqrt(sq);
    const double scale = std::min(1.0, clip_ / std::max(norm, 1e-12));
    for (size_t i = 0; i < grads.size(); ++i)
      if (grads[i].defined()) sum_[i].add_(grads[i].detach(), scale);
    ++users_;
    return norm;
  }

  // The sum plus Gaussian noise of std noise x clip on every coordinate, divided by
  // `denominator` (the expected number of users of a step). `row_masks[i]`, when defined,
  // is [rows, 1] of 0/1: rows of tensor i that are not parameters (items without an id
  // row, whose gradient is zero by construction) get no noise.
  std::vector<torch::Tensor> noisy_mean(double noise, double denominator,
                                        const std::vector<torch::Tensor>& row_masks = {}) {
    std::vector<torch::Tensor> out;
    for (size_t i = 0; i < sum_.size(); ++i) {
      auto n = torch::randn_like(sum_[i]) * (noise * clip_);
      if (i < row_masks.size() && row_masks[i].defined()) n.mul_(row_masks[i]);
      out.push_back((sum_[i] + n) / denominator);
    }
    return out;
  }

  uint64_t users() const { return users_; }

 private:
  double clip_;
  std::vector<torch::Tensor> sum_;
  uint64_t users_ = 0;
};

}  // namespace streamrec::models
