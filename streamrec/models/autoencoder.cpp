#include "streamrec/models/autoencoder.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "streamrec/core/error.h"
#include "streamrec/core/log.h"
#include "streamrec/core/parallel.h"
#include "streamrec/embedding/keys.h"
#include "streamrec/embedding/table.h"
#include "streamrec/models/data_parallel_torch.h"
#include "streamrec/models/dp_sgd.h"
#include "streamrec/models/sparse_rows.h"
#include "streamrec/models/torch_threads.h"

namespace streamrec::models {
namespace {
constexpr uint32_t kInputSlot = 1, kOutputSlot = 2;
}

struct Autoencoder::State {
  std::unique_ptr<embedding::EmbeddingTable> in_rows, out_rows;
  std::vector<uint64_t> in_keys, out_keys;
  torch::nn::Sequential encoder{nullptr}, decoder{nullptr};
  torch::nn::Linear mu{nullptr}, logvar{nullptr};
  torch::Tensor in_bias, out_bias;
  std::vector<std::vector<uint32_t>> items;  // user -> distinct fitted items
  torch::Tensor scores;                      // [users, items] after fit
  std::unique_ptr<torch::optim::Adam> opt;   // the dense parameters' (during fit)
  bool vae = false;

  // The input layer for `users`: the sum of the rows of their kept items (each dropped with
  // probability `drop`) over sqrt(kept) (Mult-DAE's L2 normalisation), a sparse-dense
  // product with W, plus the bias.
  torch::Tensor encode_input(const std::vector<uint32_t>& users, torch::Tensor W, double drop,
                             std::mt19937_64& rng, int64_t n) const {
    std::vector<int64_t> rows, cols;
    std::vector<float> vals;
    std::bernoulli_distribution keep(1.0 - drop);
    for (size_t r = 0; r < users.size(); ++r) {
      std::vector<uint32_t> kept;
      for (uint32_t i : items[users[r]])
        if (drop == 0 || keep(rng)) kept.push_back(i);
      const float w = kept.empty() ? 0.0f : 1.0f / std::sqrt(static_cast<float>(kept.size()));
      for (uint32_t i : kept)
        rows.push_back(static_cast<int64_t>(r)), cols.push_back(i), vals.push_back(w);
    }
    const auto nnz = static_cast<int64_t>(vals.size());
    auto idx = torch::stack({torch::tensor(rows, torch::kLong), torch::tensor(cols, torch::kLong)});
    if (nnz == 0) idx = torch::zeros({2, 0}, torch::kLong);
    auto X =
        torch::sparse_coo_tensor(idx, torch::tensor(vals), {static_cast<int64_t>(users.size()), n});
    return torch::mm(X, W) + in_bias;
  }

  // The loss of `users` (the mean over them) with item tables Win and Wout.
  torch::Tensor loss(const std::vector<uint32_t>& bu, const torch::Tensor& Win,
                     const torch::Tensor& Wout, double drop, bool mse, double anneal,
                     std::mt19937_64& rng, int64_t n) {
    auto h = encoder->forward(encode_input(bu, Win, drop, rng, n));
    torch::Tensor kl = torch::zeros({});
    if (vae) {
      auto mean = mu(h);
      auto log_var = logvar(h);
      h = mean + torch::randn_like(mean) * torch::exp(0.5 * log_var);
      kl = (-0.5 * (1 + log_var - mean.pow(2) - log_var.exp()).sum(1)).mean();
    }
    auto logits = decoder->forward(h).mm(Wout.t()) + out_bias;  // [B, n]
    auto target = torch::zeros({static_cast<int64_t>(bu.size()), n});
    auto* pt = target.data_ptr<float>();
    for (size_t r = 0; r < bu.size(); ++r)
      for (uint32_t i : items[bu[r]]) pt[r * n + i] = 1.0f;
    auto l = mse ? (logits - target).pow(2).sum(1).mean()
                 : -(torch::log_softmax(logits, 1) * target).sum(1).mean();
    return l + anneal * kl;
  }

  // The dense parameters the optimizer holds, in its order.
  std::vector<torch::Tensor> dense() const {
    std::vector<torch::Tensor> out;
    for (const auto& g : opt->param_groups())
      for (const auto& p : g.params()) out.push_back(p);
    return out;
  }
};

Autoencoder::Autoencoder(Params params) : params_(std::move(params)) {
  SR_INPUT_CHECK(params_.real("dp_max_epsilon") == 0,
                 "autoencoder: dp_max_epsilon is for online steps, which it has none of");
  DpConfig::from(params_);  // a contradictory dp_* set fails at construction
}
Autoencoder::~Autoencoder() = default;

Params Autoencoder::declare_params() {
  std::vector<ParamSpec> specs{
      ParamSpec::choice("variant", "dae", {"dae", "vae"}, "Mult-DAE or Mult-VAE"),
      ParamSpec::choice("loss", "multinomial", {"multinomial", "mse"},
                        "multinomial log-likelihood or squared error"),
      ParamSpec::integer("hidden", 600, 8, 8192, "hidden layer width"),
      ParamSpec::integer("latent", 200, 4, 4096, "bottleneck width"),
      ParamSpec::real("dropout", 0.5, 0.0, 0.95, "input dropout (of the user's items)"),
      ParamSpec::real("lr", 0.001, 1e-6, 1.0, "Adam learning rate"),
      ParamSpec::real("beta", 0.2, 0.0, 10.0, "vae: final KL weight (annealed)"),
      ParamSpec::integer("batch", 256, 1, 65536, "users per step"),
      ParamSpec::integer("epochs", 100, 1, 100000, "passes over the users"),
      ParamSpec::integer("seed", 42, 0, INT64_MAX, "random seed")};
  for (auto& spec : dp_param_specs()) specs.push_back(std::move(spec));
  return Params("autoencoder", std::move(specs));
}

void Autoencoder::build_network() {
  auto& st = *state_;
  const int64_t hidden = params_.integer("hidden"), latent = params_.integer("latent");
  const float lr = static_cast<float>(params_.real("lr"));
  st.vae = params_.str("variant") == "vae";
  embedding::TableConfig tc;
  tc.dim = static_cast<uint32_t>(hidden);
  tc.optimizer.kind = embedding::OptimizerKind::kAdam;
  tc.optimizer.lr = lr;
  tc.init = embedding::TableConfig::Init::kNormal;
  tc.init_scale = static_cast<float>(std::sqrt(2.0 / (n_items_ + hidden)));  // Xavier
  tc.seed = static_cast<uint64_t>(params_.integer("seed"));
  st.in_rows = std::make_unique<embedding::EmbeddingTable>(tc);
  st.out_rows = std::make_unique<embedding::EmbeddingTable>(tc);
  for (uint32_t i = 0; i < n_items_; ++i) {
    st.in_keys.push_back(embedding::make_key(kInputSlot, i));
    st.out_keys.push_back(embedding::make_key(kOutputSlot, i));
  }
  // DAE: n -> hidden -> latent -> hidden -> n with tanh between; VAE: n -> hidden -> (mu,
  // logvar) -> hidden -> n. The n -> hidden and hidden -> n layers are the item tables.
  st.encoder = st.vae ? torch::nn::Sequential(torch::nn::Tanh())
                      : torch::nn::Sequential(torch::nn::Tanh(), torch::nn::Linear(hidden, latent),
                                              torch::nn::Tanh());
  st.mu = torch::nn::Linear(hidden, latent);
  st.logvar = torch::nn::Linear(hidden, latent);
  st.decoder = torch::nn::Sequential(torch::nn::Linear(latent, hidden), torch::nn::Tanh());
  st.in_bias = torch::zeros({hidden}, torch::requires_grad());
  st.out_bias = torch::zeros({static_cast<int64_t>(n_items_)}, torch::requires_grad());
  std::vector<torch::Tensor> dense;
  for (auto& p : st.encoder->parameters()) dense.push_back(p);
  for (auto& p : st.decoder->parameters()) dense.push_back(p);
  if (st.vae) {
    for (auto& p : st.mu->parameters()) dense.push_back(p);
    for (auto& p : st.logvar->parameters()) dense.push_back(p);
  }
  dense.push_back(st.in_bias);
  dense.push_back(st.out_bias);
  st.opt = std::make_unique<torch::optim::Adam>(dense, torch::optim::AdamOptions(lr));
}

double Autoencoder::train_batch(const std::vector<uint32_t>& bu, std::mt19937_64& rng,
                                double anneal) {
  auto& st = *state_;
  auto Win = gather_rows(*st.in_rows, st.in_keys, true).requires_grad_(true);
  auto Wout = gather_rows(*st.out_rows, st.out_keys, true).requires_grad_(true);
  auto loss = st.loss(bu, Win, Wout, params_.real("dropout"), params_.str("loss") == "mse", anneal,
                      rng, n_items_);
  st.opt->zero_grad();
  loss.backward();
  st.opt->step();
  apply_row_gradients(*st.in_rows, st.in_keys, Win);
  apply_row_gradients(*st.out_rows, st.out_keys, Wout);
  return loss.item<double>();
}

double Autoencoder::train_shares(const std::vector<uint32_t>& bu, uint64_t step, double anneal) {
  auto& st = *state_;
  auto& world = *world_;
  st.opt->zero_grad();
  std::vector<torch::Tensor> wins, wouts;
  double loss_sum = 0;
  for (const int s : world.mine()) {
    const auto [b, e] = share_range(bu.size(), world.shares(), s);
    // The item tables through their owners (collectives: made even by an empty share).
    wins.push_back(gather_rows(world, *st.in_rows, st.in_keys, true).requires_grad_(true));
    wouts.push_back(gather_rows(world, *st.out_rows, st.out_keys, true).requires_grad_(true));
    if (b == e) continue;
    // Input dropout from a stream of (seed, step, share): processes keep `rng` (the epochs'
    // order) in step.
    std::mt19937_64 drop(static_cast<uint64_t>(params_.integer("seed")) * 1000003 + step * 4099 +
                         static_cast<uint64_t>(s));
    const std::vector<uint32_t> share(bu.begin() + b, bu.begin() + e);
    auto loss = st.loss(share, wins.back(), wouts.back(), params_.real("dropout"),
                        params_.str("loss") == "mse", anneal, drop, n_items_) *
                (static_cast<double>(e - b) / static_cast<double>(bu.size()));
    loss.backward();
    loss_sum += loss.item<double>();
  }
  for (const auto& w : wins) push_row_gradients(world, st.in_keys, w);
  world.apply_gradients(*st.in_rows);
  for (const auto& w : wouts) push_row_gradients(world, st.out_keys, w);
  world.apply_gradients(*st.out_rows);
  sum_gradients(world, st.dense(), &loss_sum);
  st.opt->step();
  world.end_step();
  return loss_sum;
}

void Autoencoder::train_private(const std::vector<uint32_t>& users, std::mt19937_64& rng) {
  auto& st = *state_;
  const auto dp = DpConfig::from(params_);
  const double n = static_cast<double>(users.size());
  const auto plan = DpSchedule::epochs(
      dp, users.size(), static_cast<double>(params_.integer("batch")), params_.integer("epochs"));
  const double q = plan.q, noise = plan.noise;
  const uint64_t steps = plan.steps;
  privacy_.begin(dp, plan, users.size(), /*compose=*/false);
  std::uniform_real_distribution<double> coin(0.0, 1.0);
  const bool mse = params_.str("loss") == "mse";
  const auto dense = st.dense();
  std::vector<uint32_t> one(1);
  for (uint64_t step = 1; step <= steps; ++step) {
    // Poisson sampling; each sampled user's gradient alone, clipped; noise on the sum.
    auto Win = gather_rows(*st.in_rows, st.in_keys, true).requires_grad_(true);
    auto Wout = gather_rows(*st.out_rows, st.out_keys, true).requires_grad_(true);
    std::vector<torch::Tensor> params{Win, Wout};
    params.insert(params.end(), dense.begin(), dense.end());
    DpGradientSum sum(params, dp.clip);
    const double anneal =
        std::min(params_.real("beta"), params_.real("beta") * step / (0.8 * steps));
    for (const uint32_t u : users) {
      if (coin(rng) >= q) continue;
      one[0] = u;
      auto loss = st.loss(one, Win, Wout, params_.real("dropout"), mse, anneal, rng, n_items_);
      sum.add(torch::autograd::grad({loss}, params, {}, false, false, /*allow_unused=*/true));
    }
    auto noisy = sum.noisy_mean(noise, q * n);
    for (size_t x = 0; x < params.size(); ++x) params[x].mutable_grad() = noisy[x];
    st.opt->step();
    apply_row_gradients(*st.in_rows, st.in_keys, Win);
    apply_row_gradients(*st.out_rows, st.out_keys, Wout);
    report_progress(step, steps);
  }
  privacy_.spend(plan);
  log::info("autoencoder DP-SGD: {} steps at rate {:.4f}, noise {:.3f}: epsilon {:.3f} at delta {}",
            steps, q, noise, privacy_.epsilon, dp.delta);
}

void Autoencoder::score_everyone(uint32_t num_users, std::mt19937_64& rng) {
  // Scores of every user against every item, from their full (undropped) history.
  auto& st = *state_;
  const int64_t n = n_items_;
  torch::NoGradGuard no_grad;
  st.scores = torch::zeros({static_cast<int64_t>(num_users), n});
  auto Win = gather_rows(*st.in_rows, st.in_keys, false);
  auto Wout = gather_rows(*st.out_rows, st.out_keys, false);
  std::vector<uint32_t> all(num_users);
  std::iota(all.begin(), all.end(), 0);
  for (size_t b = 0; b < all.size(); b += 512) {
    const std::vector<uint32_t> bu(all.begin() + b, all.begin() + std::min(all.size(), b + 512));
    auto h = st.encoder->forward(st.encode_input(bu, Win, 0.0, rng, n));
    if (st.vae) h = st.mu(h);
    st.scores.slice(0, b, b + bu.size()).copy_(st.decoder->forward(h).mm(Wout.t()) + st.out_bias);
  }
}

void Autoencoder::fit(const TrainData& data) {
  use_torch_threads();
  torch::manual_seed(static_cast<uint64_t>(params_.integer("seed")));
  n_items_ = data.num_items();
  state_ = std::make_unique<State>();
  auto& st = *state_;
  build_network();
  st.items.assign(data.num_users(), {});
  std::vector<uint32_t> users;
  for (uint32_t u = 0; u < data.num_users(); ++u) {
    const auto it = data.items_of(u);
    st.items[u].assign(it.begin(), it.end());
    if (!it.empty()) users.push_back(u);
  }
  std::mt19937_64 rng(static_cast<uint64_t>(params_.integer("seed")));
  privacy_ = {};
  SR_INPUT_CHECK(!world_ || !DpConfig::from(params_).enabled,
                 "autoencoder: a data-parallel fit is not private (no dp_*)");
  if (world_)  // the same initial weights everywhere (above); each process its own VAE noise
    seed_process(*world_, static_cast<uint64_t>(params_.integer("seed")));
  if (DpConfig::from(params_).enabled) {
    train_private(users, rng);
    st.opt.reset();
    score_everyone(data.num_users(), rng);
    return;
  }
  const int64_t epochs = params_.integer("epochs"), batch = params_.integer("batch");
  const int64_t total_steps = epochs * ((static_cast<int64_t>(users.size()) + batch - 1) / batch);
  int64_t step = 0;
  for (int64_t epoch = 1; epoch <= epochs; ++epoch) {
    std::shuffle(users.begin(), users.end(), rng);
    double epoch_loss = 0;
    for (size_t b = 0; b < users.size(); b += batch) {
      const std::vector<uint32_t> bu(users.begin() + b,
                                     users.begin() + std::min(users.size(), b + batch));
      const double anneal =
          std::min(params_.real("beta"), params_.real("beta") * step / (0.8 * total_steps));
      epoch_loss += (world_ ? train_shares(bu, static_cast<uint64_t>(step), anneal)
                            : train_batch(bu, rng, anneal)) *
                    bu.size();
      ++step;
    }
    report_progress(epoch, epochs);
    log::debug("autoencoder epoch {}: loss {:.4f}", epoch, epoch_loss / users.size());
  }
  if (world_) {  // every process holds the whole model again
    world_->unshard(*st.in_rows);
    world_->unshard(*st.out_rows);
  }
  st.opt.reset();
  score_everyone(data.num_users(), rng);
}

void Autoencoder::score_all(uint32_t user, std::span<float> scores) const {
  std::fill(scores.begin(), scores.end(), 0.0f);
  if (!state_ || user >= state_->scores.size(0)) return;
  const float* row = state_->scores.data_ptr<float>() + int64_t{user} * n_items_;
  std::copy(row, row + std::min<size_t>(scores.size(), n_items_), scores.begin());
}

}  // namespace streamrec::models
