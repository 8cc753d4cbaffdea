// SeqModel's federated fit (param fed_rounds; federated.h). The clients' side: each sampled
// user starts from the server's weights, runs local SGD steps on their own sequence alone
// and returns the difference; the server's side (FederatedServer) averages those updates
// (clipped, with DP-FedAvg's noise when the dp_* params ask for it) and never reads an event.
#include "streamrec/models/federated.h"
#include "streamrec/models/seq_state.h"

namespace streamrec::models {
namespace {

std::vector<torch::Tensor> dense_params(const Dense& dense) {
  std::vector<torch::Tensor> out;
  for (const auto& group : dense.opt->param_groups())
    for (const auto& p : group.params()) out.push_back(p);
  return out;
}

int64_t numel(const std::vector<torch::Tensor>& ts) {
  int64_t n = 0;
  for (const auto& t : ts) n += t.numel();
  return n;
}

// The dense weights then the item rows, as one vector (the server's weights).
std::vector<float> flatten(const std::vector<torch::Tensor>& dense, const torch::Tensor& rows) {
  std::vector<float> out;
  out.reserve(numel(dense) + rows.numel());
  for (const auto& t : dense) {
    const auto c = t.detach().contiguous();
    out.insert(out.end(), c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
  }
  const auto r = rows.detach().contiguous();
  out.insert(out.end(), r.data_ptr<float>(), r.data_ptr<float>() + r.numel());
  return out;
}

// Copies the dense part of `flat` into the weights; returns the item rows [items, dim].
torch::Tensor unflatten(std::span<const float> flat, const std::vector<torch::Tensor>& dense,
                        int64_t dim) {
  torch::NoGradGuard no_grad;
  int64_t at = 0;
  for (const auto& t : dense) {
    t.copy_(torch::from_blob(const_cast<float*>(flat.data() + at), t.sizes()));
    at += t.numel();
  }
  const auto items = static_cast<int64_t>(flat.size() - at) / dim;
  return torch::from_blob(const_cast<float*>(flat.data() + at), {items, dim}).clone();
}

// One client's inputs [1, L] and next-item targets [1, L] (item + 1; 0: padding) from its
// own sequence: what make_batch builds, without the other users' sequences.
std::pair<torch::Tensor, torch::Tensor> own_batch(const std::vector<uint32_t>& s, int64_t L) {
  auto in = torch::zeros({1, L}, torch::kLong), tg = torch::zeros({1, L}, torch::kLong);
  fill_window(s, static_cast<int64_t>(s.size()), L, in.data_ptr<int64_t>(), tg.data_ptr<int64_t>());
  return {in, tg};
}

}  // namespace

void SeqModel::train_federated(const std::vector<uint32_t>& clients) {
  auto& st = *state_;
  const auto dp = DpConfig::from(params_);
  const int64_t rounds = params_.integer("fed_rounds");
  const int local_steps = static_cast<int>(params_.integer("fed_local_steps"));
  const double local_lr = params_.real("fed_local_lr");
  const double n = static_cast<double>(clients.size());
  const double per_round = static_cast<double>(params_.integer("fed_clients"));
  // Without DP: the same rate and rounds, no noise.
  const auto plan = dp.enabled ? DpSchedule::rounds(dp, clients.size(), per_round, rounds)
                               : DpSchedule{DpSchedule::rate(clients.size(), per_round),
                                            n > 0 ? static_cast<uint64_t>(rounds) : 0, 0};
  const double q = plan.q;
  const uint64_t steps = plan.steps;
  // The item rows of items with events (the others stay zero and out of the softmax).
  const auto n_items = static_cast<int64_t>(st.tower.item_keys.size());
  std::vector<uint64_t> keys;
  for (int64_t i = 0; i < n_items; ++i)
    if (st.tower.has_id[i]) keys.push_back(st.tower.item_keys[i]);
  torch::Tensor row_mask;
  const auto blocked_t = st.tower.closed_columns(&row_mask);
  auto rows = torch::zeros({n_items, st.dim});
  {
    auto live = gather_rows(*st.tower.items, keys, /*train=*/true);  // admits their rows
    rows.index_copy_(0, row_mask.view({-1}).nonzero().view({-1}), live);
  }
  const auto dense = dense_params(st.dense);
  FederatedOptions fo;
  fo.server_lr = params_.real("fed_server_lr");
  fo.expected_clients = std::max(1.0, q * n);
  fo.seed = static_cast<uint64_t>(params_.integer("seed"));
  if (dp.enabled) {
    fo.clip = dp.clip;
    fo.noise = plan.noise;
    privacy_.begin(dp, plan, clients.size(), /*compose=*/false);
  }
  FederatedServer server(flatten(dense, rows), fo);
  log::info("seq federated: {} clients, {:.1f} per round, {} rounds of {} local steps{}",
            clients.size(), q * n, steps, local_steps,
            dp.enabled ? fmt::format(", DP noise {:.3f} clip {}", fo.noise, fo.clip) : "");
  std::uniform_real_distribution<double> coin(0.0, 1.0);
  st.dense.encoder->train();
  std::vector<ClientUpdate> updates;
  for (uint64_t round = 1; round <= steps; ++round) {
    updates.clear();
    for (const uint32_t u : clients) {
      if (coin(st.rng) >= q) continue;
      // The client: the global weights, then SGD on its own sequence only.
      auto local = unflatten(server.weights(), dense, st.dim);
      auto [in, tg] = own_batch(st.seqs[u], st.maxlen);
      auto valid = tg.gt(0).view({-1});
      for (int k = 0; k < local_steps; ++k) {
        local.requires_grad_(true);
        auto E = torch::cat({torch::zeros({1, st.dim}), local * row_mask});
        auto h = st.dense.encoder(E.index({in}), in.eq(0));
        auto loss = full_softmax_cross_entropy(h.reshape({-1, st.dim}).index({valid}), E,
                                               tg.view({-1}).index({valid}), blocked_t);
        std::vector<torch::Tensor> wrt{local};
        wrt.insert(wrt.end(), dense.begin(), dense.end());
        auto g = torch::autograd::grad({loss}, wrt, {}, false, false, /*allow_unused=*/true);
        torch::NoGradGuard no_grad;
        local = local.detach() - local_lr * g[0];
        for (size_t x = 0; x < dense.size(); ++x)
          if (g[x + 1].defined()) dense[x].sub_(local_lr * g[x + 1]);
      }
      // What it sends: its weights minus the ones it started from.
      auto mine = flatten(dense, local);
      const auto global = server.weights();
      for (size_t x = 0; x < mine.size(); ++x) mine[x] -= global[x];
      updates.push_back({std::move(mine)});
    }
    server.apply(updates);
    report_progress(round, steps);
  }
  // The server's weights become the model's: dense weights and the item rows.
  rows = unflatten(server.weights(), dense, st.dim);
  auto live = rows.index_select(0, row_mask.view({-1}).nonzero().view({-1})).contiguous();
  st.tower.items->assign(keys, std::span<const float>(live.data_ptr<float>(), live.numel()), 0);
  if (dp.enabled) privacy_.spend(plan);
  report_.epochs = report_.best_epoch = static_cast<int>(steps);
  log::info("seq federated: {} updates, {} clipped", server.updates(), server.clipped());
}

}  // namespace streamrec::models
