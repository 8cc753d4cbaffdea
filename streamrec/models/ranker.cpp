#include "streamrec/models/ranker.h"

#include <torch/torch.h>

#include <cmath>
#include <numeric>

#include "streamrec/core/error.h"

namespace streamrec::models {
namespace {

// x_{l+1} = x_0 * (W_l x_l + b_l) + x_l (DCN cross layers) beside a two-layer MLP; the two
// towers are concatenated into one logit.
class FusionNetImpl : public torch::nn::Module {
 public:
  FusionNetImpl(int64_t features, const FusionRankerOptions& o) {
    for (int64_t l = 0; l < o.cross_layers; ++l)
      cross_->push_back(torch::nn::Linear(features, features));
    register_module("cross", cross_);
    deep1_ = register_module("deep1", torch::nn::Linear(features, o.hidden));
    deep2_ = register_module("deep2", torch::nn::Linear(o.hidden, o.hidden));
    out_ = register_module("out", torch::nn::Linear(features + o.hidden, 1));
    if (o.base >= 0) {
      torch::NoGradGuard no_grad;
      out_->weight.zero_();
      out_->bias.zero_();
      base_weight_ = register_parameter("base_weight", torch::ones({1}));
    }
    base_ = o.base;
  }
  torch::Tensor forward(const torch::Tensor& x0) {
    auto x = x0;
    for (const auto& layer : *cross_) x = x0 * layer->as<torch::nn::Linear>()->forward(x) + x;
    auto h = torch::relu(deep2_(torch::relu(deep1_(x0))));
    auto logit = out_(torch::cat({x, h}, 1)).squeeze(1);
    return base_ < 0 ? logit : logit + base_weight_ * x0.select(1, base_);
  }

 private:
  torch::nn::ModuleList cross_;
  torch::nn::Linear deep1_{nullptr}, deep2_{nullptr}, out_{nullptr};
  torch::Tensor base_weight_;
  int64_t base_ = -1;
};
TORCH_MODULE(FusionNet);

}  // namespace

struct FusionRanker::Impl {
  FusionRankerOptions options;
  FusionNet net{nullptr};
  std::unique_ptr<torch::optim::Adam> opt;
  // Running feature statistics (Welford): count, mean, sum of squared deviations.
  double count = 0;
  int64_t F = 0;  // features per candidate
  std::vector<double> mean, m2;
  uint64_t steps = 0;

  explicit Impl(const FusionRankerOptions& o)
      : options(o), F(o.features), mean(o.features, 0.0), m2(o.features, 0.0) {
    torch::manual_seed(o.seed);
    net = FusionNet(F, o);
    opt = std::make_unique<torch::optim::Adam>(net->parameters(), torch::optim::AdamOptions(o.lr));
  }

  torch::Tensor standardised(std::span<const float> features) const {
    const int64_t rows = static_cast<int64_t>(features.size()) / F;
    auto x = torch::from_blob(const_cast<float*>(features.data()), {rows, F}).clone();
    std::vector<float> mu(F), inv(F);
    for (int64_t f = 0; f < F; ++f) {
      mu[f] = static_cast<float>(mean[f]);
      const double var = count > 1 ? m2[f] / (count - 1) : 1.0;
      inv[f] = static_cast<float>(1.0 / std::sqrt(var + 1e-6));
    }
    return (x - torch::tensor(mu)) * torch::tensor(inv);
  }

  // Adds the rows to the running feature statistics.
  void observe(std::span<const float> features) {
    const auto width = static_cast<size_t>(F);
    for (size_t r = 0; r < features.size() / width; ++r) {
      count += 1;
      for (size_t f = 0; f < width; ++f) {
        const double v = features[r * width + f], d = v - mean[f];
        mean[f] += d / count;
        m2[f] += d * (v - mean[f]);
      }
    }
  }

  // One Adam step on `loss`; the net is left in eval mode.
  double step(const torch::Tensor& loss) {
    opt->zero_grad();
    loss.backward();
    opt->step();
    net->eval();
    ++steps;
    return loss.item<double>();
  }
};

FusionRanker::FusionRanker(FusionRankerOptions options) : impl_(std::make_unique<Impl>(options)) {}

FusionRanker::~FusionRanker() = default;

uint64_t FusionRanker::steps() const { return impl_->steps; }

std::vector<float> FusionRanker::score(std::span<const float> features) const {
  const auto F = static_cast<size_t>(impl_->F);
  SR_CHECK(features.size() % F == 0, ErrorKind::kInternal,
           "ranker: {} floats is not rows of {} features", features.size(), F);
  if (features.empty()) return {};
  c10::InferenceMode inference;  // read-only: none of autograd's bookkeeping
  auto logits = impl_->net->forward(impl_->standardised(features)).contiguous();
  return {logits.data_ptr<float>(), logits.data_ptr<float>() + logits.numel()};
}

double FusionRanker::train(std::span<const float> features, std::span<const float> labels) {
  const auto F = static_cast<size_t>(impl_->F);
  const size_t rows = features.size() / F;
  SR_CHECK(features.size() % F == 0 && labels.size() == rows, ErrorKind::kInternal,
           "ranker: {} features for {} labels", features.size(), labels.size());
  if (rows == 0) return 0;
  auto& s = *impl_;
  s.observe(features);
  s.net->train();
  auto x = s.standardised(features);
  auto y =
      torch::from_blob(const_cast<float*>(labels.data()), {static_cast<int64_t>(rows)}).clone();
  // Positives are rare (one per candidate list): weight them up to balance the classes.
  const double positives = y.sum().item<double>();
  const double weight = positives > 0 ? (rows - positives) / positives : 1.0;
  auto loss = torch::nn::functional::binary_cross_entropy_with_logits(
      s.net->forward(x), y,
      torch::nn::functional::BinaryCrossEntropyWithLogitsFuncOptions().pos_weight(
          torch::tensor({static_cast<float>(weight)})));
  return s.step(loss);
}

double FusionRanker::train_lists(std::span<const float> features, std::span<const float> labels,
                                 std::span<const size_t> sizes) {
  const auto F = static_cast<size_t>(impl_->F);
  const size_t rows = features.size() / F;
  size_t total = 0;
  for (size_t n : sizes) total += n;
  SR_CHECK(features.size() % F == 0 && labels.size() == rows && total == rows, ErrorKind::kInternal,
           "ranker: {} features, {} labels, lists of {} rows", features.size(), labels.size(),
           total);
  if (rows == 0) return 0;
  auto& s = *impl_;
  s.observe(features);
  s.net->train();
  const auto logits = s.net->forward(s.standardised(features));
  const auto y =
      torch::from_blob(const_cast<float*>(labels.data()), {static_cast<int64_t>(rows)}).clone();
  std::vector<torch::Tensor> losses;
  size_t at = 0;
  for (size_t n : sizes) {
    const double positives = std::accumulate(labels.begin() + at, labels.begin() + at + n, 0.0);
    const auto from = static_cast<int64_t>(at), len = static_cast<int64_t>(n);
    if (positives > 0)
      losses.push_back(
          -(torch::log_softmax(logits.narrow(0, from, len), 0) * y.narrow(0, from, len)).sum() /
          positives);
    at += n;
  }
  if (losses.empty()) return 0;
  return s.step(torch::stack(losses).mean());
}

std::unique_ptr<FusionRanker> FusionRanker::clone() const {
  auto copy = std::make_unique<FusionRanker>(impl_->options);
  auto& d = *copy->impl_;
  {
    torch::NoGradGuard no_grad;
    auto from = impl_->net->parameters();
    auto to = d.net->parameters();
    for (size_t p = 0; p < from.size(); ++p) to[p].copy_(from[p]);
  }
  d.net->eval();
  d.count = impl_->count;
  d.mean = impl_->mean;
  d.m2 = impl_->m2;
  d.steps = impl_->steps;
  return copy;
}

}  // namespace streamrec::models
