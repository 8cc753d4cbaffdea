#include "streamrec/models/ease.h"

#include <torch/torch.h>

#include <algorithm>

#include "streamrec/core/error.h"
#include "streamrec/core/log.h"
#include "streamrec/core/parallel.h"
#include "streamrec/core/serialize.h"
#include "streamrec/models/torch_threads.h"

namespace streamrec::models {

Ease::Ease(Params params) : params_(std::move(params)) {}

Params Ease::declare_params() {
  return Params("ease", {ParamSpec::real("lambda", 500.0, 0.0, 1e9, "L2 regularization"),
                         ParamSpec::choice("weight", "binary", {"binary", "value"},
                                           "X entries: 1 per distinct pair, or summed values"),
                         ParamSpec::choice("solver", "auto", {"auto", "cholesky", "woodbury"},
                                           "exact inverse route; auto picks the cheaper")});
}

namespace {

// What both solvers read: the users with events, each item's column, the regularisation.
struct Gram {
  const TrainData& data;
  const std::vector<uint32_t>& users;
  const std::vector<uint32_t>& slot;  // item -> column (active items)
  int64_t m;
  float lambda;
  bool binary;
  float entry(size_t x, std::span<const float> values) const { return binary ? 1.0f : values[x]; }
};

// (X^T X + lambda I)^-1 = (I - X^T (lambda I + X X^T)^-1 X) / lambda, ~2 m^2 u flops.
torch::Tensor inverse_by_woodbury(const Gram& g) {
  const int64_t nu = static_cast<int64_t>(g.users.size()), m = g.m;
  auto X = torch::zeros({nu, m}, torch::kFloat32);
  float* xp = X.data_ptr<float>();
  for (int64_t r = 0; r < nu; ++r) {
    const auto items = g.data.items_of(g.users[r]);
    const auto values = g.data.values_of(g.users[r]);
    for (size_t a = 0; a < items.size(); ++a) xp[r * m + g.slot[items[a]]] = g.entry(a, values);
  }
  // The small u x u system in double precision: it carries the cancellation.
  auto Xd = X.to(torch::kFloat64);
  auto S = Xd.mm(Xd.t());
  S.diagonal().add_(g.lambda);
  auto [L, info] = torch::linalg_cholesky_ex(S);
  SR_CHECK(info.item<int>() == 0, ErrorKind::kInternal,
           "ease: X X^T + lambda I not positive definite");
  auto KX = torch::cholesky_solve(Xd, L).to(torch::kFloat32);  // (lambda I + X X^T)^-1 X
  auto P = X.t().mm(KX).neg_();
  P.diagonal().add_(1.0f);
  return P.div_(g.lambda);
}

// The m x m Gram matrix factored and inverted, ~m^3 flops.
torch::Tensor inverse_by_cholesky(const Gram& g) {
  const int64_t m = g.m;
  auto G = torch::zeros({m, m}, torch::kFloat32);
  float* gp = G.data_ptr<float>();
  for (uint32_t u : g.users) {
    const auto items = g.data.items_of(u);
    const auto values = g.data.values_of(u);
    for (size_t a = 0; a < items.size(); ++a) {
      float* row = gp + int64_t{g.slot[items[a]]} * m;
      for (size_t b = 0; b < items.size(); ++b)
        row[g.slot[items[b]]] += g.entry(a, values) * g.entry(b, values);
    }
  }
  G.diagonal().add_(g.lambda);
  auto [L, info] = torch::linalg_cholesky_ex(G);
  SR_CHECK(info.item<int>() == 0, ErrorKind::kInvalidInput,
           "ease: X^T X + lambda I is not positive definite (lambda = {}); raise lambda", g.lambda);
  G = torch::Tensor();
  return torch::cholesky_inverse(L);
}

}  // namespace

void Ease::fit(const TrainData& data) {
  n_items_ = data.num_items();
  const bool binary = params_.str("weight") == "binary";
  slot_.assign(n_items_, UINT32_MAX);
  active_.clear();
  for (uint32_t i = 0; i < n_items_; ++i)
    if (data.item_degree()[i] > 0) {
      slot_[i] = static_cast<uint32_t>(active_.size());
      active_.push_back(i);
    }
  const int64_t m = static_cast<int64_t>(active_.size());
  history_.assign(data.num_users(), {});
  for (uint32_t u = 0; u < data.num_users(); ++u) {
    const auto items = data.items_of(u);
    history_[u].assign(items.begin(), items.end());
  }
  B_.clear();
  if (m == 0) return;
  use_torch_threads();
  torch::NoGradGuard no_grad;

  // P = (X^T X + lambda I)^-1, by the cheaper of two exact routes (flop estimates):
  // - cholesky: factor the m x m Gram matrix and invert it, ~m^3 flops;
  // - woodbury: with u users, (lambda I + X^T X)^-1 = (I - X^T (lambda I + X X^T)^-1 X) / lambda,
  //   ~2 m^2 u flops; far cheaper when users are fewer than items.
  const float lambda = static_cast<float>(params_.real("lambda"));
  std::vector<uint32_t> users;
  for (uint32_t u = 0; u < data.num_users(); ++u)
    if (!data.items_of(u).empty()) users.push_back(u);
  const int64_t nu = static_cast<int64_t>(users.size());
  const double m3 = static_cast<double>(m) * m * m;
  const double wood = 2.0 * m * m * nu + 2.0 * nu * nu * m + static_cast<double>(nu) * nu * nu;
  const auto& solver = params_.str("solver");
  const bool use_woodbury = solver == "woodbury" || (solver == "auto" && wood < m3 && lambda > 0);
  SR_INPUT_CHECK(!use_woodbury || lambda > 0, "ease: solver=woodbury needs lambda > 0");
  const Gram gram{data, users, slot_, m, lambda, binary};
  torch::Tensor P = use_woodbury ? inverse_by_woodbury(gram) : inverse_by_cholesky(gram);
  report_progress(2, 3);
  log::debug("ease: {} items, {} users, solver {}", m, nu, use_woodbury ? "woodbury" : "cholesky");
  auto B = P.div_((-P.diagonal()).unsqueeze(0));  // B_ij = -P_ij / P_jj
  P = torch::Tensor();
  B.fill_diagonal_(0.0f);
  B = B.contiguous();
  B_.assign(B.data_ptr<float>(), B.data_ptr<float>() + m * m);
  report_progress(3, 3);
}

void Ease::score_all(uint32_t user, std::span<float> scores) const {
  std::fill(scores.begin(), scores.end(), 0.0f);
  if (user >= history_.size() || B_.empty()) return;
  const size_t m = active_.size();
  std::vector<float> acc(m, 0.0f);
  for (uint32_t i : history_[user]) {
    if (slot_[i] == UINT32_MAX) continue;
    const float* row = &B_[size_t{slot_[i]} * m];
    for (size_t j = 0; j < m; ++j) acc[j] += row[j];
  }
  for (size_t j = 0; j < m; ++j)
    if (active_[j] < scores.size()) scores[active_[j]] = acc[j];
}

float Ease::weight(uint32_t i, uint32_t j) const {
  if (i >= n_items_ || j >= n_items_ || slot_[i] == UINT32_MAX || slot_[j] == UINT32_MAX)
    return 0.0f;
  return B_[size_t{slot_[i]} * active_.size() + slot_[j]];
}

void Ease::save(BinaryWriter& out) const {
  out.u32(n_items_);
  out.u32s(active_);
  out.f32s(B_);
  out.u64(history_.size());
  for (const auto& h : history_) out.u32s(h);
}

void Ease::load(BinaryReader& in) {
  n_items_ = in.u32();
  active_ = in.u32s();
  B_ = in.f32s();
  SR_CHECK(B_.size() == active_.size() * active_.size(), ErrorKind::kCorrupt,
           "ease: weight matrix has {} entries for {} items", B_.size(), active_.size());
  slot_.assign(n_items_, UINT32_MAX);
  for (uint32_t s = 0; s < active_.size(); ++s) {
    SR_CHECK(active_[s] < n_items_, ErrorKind::kCorrupt, "ease: item {} out of range", active_[s]);
    slot_[active_[s]] = s;
  }
  history_.resize(in.count(uint64_t{1} << 32));
  for (auto& h : history_) h = in.u32s();
}

}  // namespace streamrec::models
