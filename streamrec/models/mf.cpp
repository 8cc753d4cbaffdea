#include "streamrec/models/mf.h"

#include <algorithm>
#include <cmath>

#include "streamrec/core/error.h"
#include "streamrec/core/serialize.h"
#include "streamrec/core/simd.h"

namespace streamrec::models {

MatrixFactorization::MatrixFactorization(Params params)
    : params_(std::move(params)),
      k_(static_cast<uint32_t>(params_.integer("factors"))),
      lr_(static_cast<float>(params_.real("lr"))),
      reg_(static_cast<float>(params_.real("reg"))),
      alpha_(static_cast<float>(params_.real("alpha"))),
      rng_(static_cast<uint64_t>(params_.integer("seed"))) {
  const auto& a = params_.str("algo");
  algo_ = a == "als" ? Algo::kAls : a == "sgd" ? Algo::kSgd : Algo::kBpr;
  if (lr_ == 0.0f) lr_ = algo_ == Algo::kBpr ? 0.05f : 0.01f;
}

Params MatrixFactorization::declare_params() {
  return Params(
      "mf",
      {ParamSpec::choice("algo", "bpr", {"bpr", "als", "sgd"},
                         "bpr (implicit, pairwise), als (implicit, confidence-weighted), sgd "
                         "(explicit ratings)"),
       ParamSpec::integer("factors", 64, 1, 4096, "latent dimension"),
       ParamSpec::integer("epochs", 0, 0, 100000,
                          "passes over the data; 0 = the algorithm's default (bpr 100, als 15, "
                          "sgd 20)"),
       ParamSpec::real(
           "lr", 0.0, 0.0, 10.0,
           "learning rate of bpr and sgd (also online); 0 = default (bpr 0.05, sgd 0.01)"),
       ParamSpec::real("reg", 0.01, 0.0, 1e6, "L2 regularization"),
       ParamSpec::real("alpha", 1.0, 0.0, 1e6, "als confidence: c = 1 + alpha * value"),
       ParamSpec::integer("cg_steps", 3, 1, 100, "als conjugate-gradient steps per solve"),
       ParamSpec::integer("online_steps", 4, 1, 1000, "bpr SGD steps per online event"),
       ParamSpec::integer("negatives", 0, 0, 1000,
                          "sgd: unobserved items sampled per event as value 0 (implicit data)"),
       ParamSpec::integer("seed", 1, 0, INT64_MAX, "random seed")});
}

void MatrixFactorization::init(uint32_t users, uint32_t items) {
  n_users_ = n_items_ = 0;
  P_.clear();
  Q_.clear();
  user_bias_.clear();
  item_bias_.clear();
  user_items_.clear();
  user_values_.clear();
  item_users_.clear();
  item_values_.clear();
  grow(users, items);
}

void MatrixFactorization::grow(uint32_t users, uint32_t items) {
  // New rows start small and random (zeros would make BPR/ALS gradients vanish).
  std::normal_distribution<float> normal(0.0f, 0.1f / std::sqrt(static_cast<float>(k_)));
  if (users > n_users_) {
    P_.resize(size_t{users} * k_);
    for (size_t x = size_t{n_users_} * k_; x < P_.size(); ++x) P_[x] = normal(rng_);
    user_bias_.resize(users, 0.0f);
    user_items_.resize(users);
    user_values_.resize(users);
    n_users_ = users;
  }
  if (items > n_items_) {
    Q_.resize(size_t{items} * k_);
    for (size_t x = size_t{n_items_} * k_; x < Q_.size(); ++x) Q_[x] = normal(rng_);
    item_bias_.resize(items, 0.0f);
    item_users_.resize(items);
    item_values_.resize(items);
    n_items_ = items;
  }
}

float MatrixFactorization::dot(uint32_t u, uint32_t i) const {
  return streamrec::dot(&P_[size_t{u} * k_], &Q_[size_t{i} * k_], k_);
}

bool MatrixFactorization::retrieval_query(uint32_t user, std::vector<float>& query) const {
  if (user >= n_users_) return false;
  query.assign(P_.begin() + size_t{user} * k_, P_.begin() + size_t{user + 1} * k_);
  query.push_back(1.0f);
  return true;
}

std::vector<float> MatrixFactorization::retrieval_items(size_t& dim) const {
  dim = k_ + 1;
  std::vector<float> out(size_t{n_items_} * dim);
  for (uint32_t i = 0; i < n_items_; ++i) {
    std::copy_n(&Q_[size_t{i} * k_], k_, &out[i * dim]);
    out[i * dim + k_] = item_bias_[i];
  }
  return out;
}

void MatrixFactorization::fit(const TrainData& data) {
  init(data.num_users(), data.num_items());
  for (uint32_t u = 0; u < data.num_users(); ++u) {
    const auto items = data.items_of(u);
    const auto values = data.values_of(u);
    user_items_[u].assign(items.begin(), items.end());
    user_values_[u].assign(values.begin(), values.end());
    for (size_t x = 0; x < items.size(); ++x) {
      item_users_[items[x]].push_back(u);
      item_values_[items[x]].push_back(values[x]);
    }
  }
  switch (algo_) {
    case Algo::kBpr:
      fit_bpr(data);
      break;
    case Algo::kAls:
      fit_als(data);
      break;
    case Algo::kSgd:
      fit_sgd(data);
      break;
  }
}

void MatrixFactorization::score_all(uint32_t user, std::span<float> scores) const {
  const uint32_t n = std::min<uint32_t>(n_items_, static_cast<uint32_t>(scores.size()));
  std::fill(scores.begin(), scores.end(), 0.0f);
  if (user >= n_users_) {  // unknown user: item biases only (popularity-like for bpr/sgd)
    for (uint32_t i = 0; i < n; ++i) scores[i] = item_bias_[i];
    return;
  }
  const float base = algo_ == Algo::kSgd ? mu_ + user_bias_[user] : 0.0f;
  for (uint32_t i = 0; i < n; ++i) scores[i] = base + item_bias_[i] + dot(user, i);
}

float MatrixFactorization::predict(uint32_t user, uint32_t item) const {
  SR_CHECK(algo_ == Algo::kSgd, ErrorKind::kUnsupported,
           "mf algo={} ranks but does not predict ratings; use algo=sgd", params_.str("algo"));
  float r = mu_;
  if (item < n_items_) r += item_bias_[item];
  if (user < n_users_) r += user_bias_[user];
  if (user < n_users_ && item < n_items_) r += dot(user, item);
  return r;
}

void MatrixFactorization::observe(const data::Interaction& e) {
  grow(std::max(n_users_, e.user + 1), std::max(n_items_, e.item + 1));
  auto& items = user_items_[e.user];
  auto pos = std::lower_bound(items.begin(), items.end(), e.item);
  if (pos == items.end() || *pos != e.item) {
    user_values_[e.user].insert(user_values_[e.user].begin() + (pos - items.begin()), e.value);
    items.insert(pos, e.item);
    item_users_[e.item].push_back(e.user);
    item_values_[e.item].push_back(e.value);
  }
  // The loss average moves by 1% per event (about the last hundred events).
  auto track = [&](double loss) {
    online_loss_ = std::isnan(online_loss_) ? loss : 0.99 * online_loss_ + 0.01 * loss;
  };
  switch (algo_) {
    case Algo::kBpr: {
      const auto steps = params_.integer("online_steps");
      for (int64_t s = 0; s < steps; ++s) {
        const uint32_t j = static_cast<uint32_t>(rng_() % n_items_);
        if (!std::binary_search(items.begin(), items.end(), j)) track(bpr_step(e.user, e.item, j));
      }
      break;
    }
    case Algo::kAls:
      if (PtP_.empty()) gram(P_, n_users_, PtP_);
      if (QtQ_.empty()) gram(Q_, n_items_, QtQ_);
      als_solve_row(&P_[size_t{e.user} * k_], Q_.data(), QtQ_, user_items_[e.user],
                    user_values_[e.user]);
      als_solve_row(&Q_[size_t{e.item} * k_], P_.data(), PtP_, item_users_[e.item],
                    item_values_[e.item]);
      break;
    case Algo::kSgd:
      track(sgd_step(e.user, e.item, e.value));
      sgd_negatives(e.user);
      break;
  }
}

void MatrixFactorization::save(BinaryWriter& out) const {
  out.u32(n_users_);
  out.u32(n_items_);
  out.u32(k_);
  out.f32(mu_);
  out.f32s(P_);
  out.f32s(Q_);
  out.f32s(user_bias_);
  out.f32s(item_bias_);
}

void MatrixFactorization::load(BinaryReader& in) {
  const uint32_t users = in.u32(), items = in.u32(), k = in.u32();
  SR_CHECK(k == k_, ErrorKind::kCorrupt, "mf: file has {} factors, model is configured for {}", k,
           k_);
  init(0, 0);
  mu_ = in.f32();
  P_ = in.f32s();
  Q_ = in.f32s();
  user_bias_ = in.f32s();
  item_bias_ = in.f32s();
  SR_CHECK(P_.size() == size_t{users} * k && Q_.size() == size_t{items} * k &&
               user_bias_.size() == users && item_bias_.size() == items,
           ErrorKind::kCorrupt, "mf: factor sizes do not match {} users x {} items x {}", users,
           items, k);
  n_users_ = users;
  n_items_ = items;
  user_items_.resize(users);
  user_values_.resize(users);
  item_users_.resize(items);
  item_values_.resize(items);
}

}  // namespace streamrec::models
