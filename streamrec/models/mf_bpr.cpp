// BPR and biased-SGD training loops of MatrixFactorization.
#include <algorithm>
#include <cmath>

#include "streamrec/models/mf.h"

namespace streamrec::models {

float MatrixFactorization::bpr_step(uint32_t u, uint32_t i, uint32_t j) {
  float* p = &P_[size_t{u} * k_];
  float* qi = &Q_[size_t{i} * k_];
  float* qj = &Q_[size_t{j} * k_];
  float x = item_bias_[i] - item_bias_[j];
  for (uint32_t f = 0; f < k_; ++f) x += p[f] * (qi[f] - qj[f]);
  const float z = 1.0f / (1.0f + std::exp(x));  // sigmoid(-x): the gradient's weight
  for (uint32_t f = 0; f < k_; ++f) {
    const float pf = p[f], qif = qi[f], qjf = qj[f];
    p[f] += lr_ * (z * (qif - qjf) - reg_ * pf);
    qi[f] += lr_ * (z * pf - reg_ * qif);
    qj[f] += lr_ * (-z * pf - reg_ * qjf);
  }
  item_bias_[i] += lr_ * (z - reg_ * item_bias_[i]);
  item_bias_[j] += lr_ * (-z - reg_ * item_bias_[j]);
  return x > 30 ? std::exp(-x) : std::log1p(std::exp(-x));  // softplus(-x)
}

void MatrixFactorization::fit_bpr(const TrainData& data) {
  const int64_t epochs = params_.integer("epochs") > 0 ? params_.integer("epochs") : 100;
  // Positives are the distinct (user, item) pairs; each epoch samples nnz of them.
  std::vector<std::pair<uint32_t, uint32_t>> pairs;
  pairs.reserve(data.nnz());
  for (uint32_t u = 0; u < n_users_; ++u)
    for (uint32_t i : user_items_[u]) pairs.emplace_back(u, i);
  if (pairs.empty() || n_items_ < 2) return;
  for (int64_t epoch = 0; epoch < epochs; ++epoch) {
    for (size_t s = 0; s < pairs.size(); ++s) {
      const auto [u, i] = pairs[rng_() % pairs.size()];
      const auto& seen = user_items_[u];
      if (seen.size() >= n_items_) continue;
      uint32_t j;
      do {
        j = static_cast<uint32_t>(rng_() % n_items_);
      } while (std::binary_search(seen.begin(), seen.end(), j));
      bpr_step(u, i, j);
    }
    report_progress(epoch + 1, epochs);
  }
}

float MatrixFactorization::sgd_step(uint32_t u, uint32_t i, float rating) {
  float* p = &P_[size_t{u} * k_];
  float* q = &Q_[size_t{i} * k_];
  const float err = rating - (mu_ + user_bias_[u] + item_bias_[i] + dot(u, i));
  user_bias_[u] += lr_ * (err - reg_ * user_bias_[u]);
  item_bias_[i] += lr_ * (err - reg_ * item_bias_[i]);
  for (uint32_t f = 0; f < k_; ++f) {
    const float pf = p[f], qf = q[f];
    p[f] += lr_ * (err * qf - reg_ * pf);
    q[f] += lr_ * (err * pf - reg_ * qf);
  }
  return err * err;
}

void MatrixFactorization::sgd_negatives(uint32_t u) {
  const int64_t n = params_.integer("negatives");
  const auto& seen = user_items_[u];
  for (int64_t s = 0; s < n && seen.size() < n_items_; ++s) {
    const uint32_t j = static_cast<uint32_t>(rng_() % n_items_);
    if (!std::binary_search(seen.begin(), seen.end(), j)) sgd_step(u, j, 0.0f);
  }
}

void MatrixFactorization::fit_sgd(const TrainData& data) {
  const int64_t epochs = params_.integer("epochs") > 0 ? params_.integer("epochs") : 20;
  const auto& events = data.events();
  if (events.empty()) return;
  double sum = 0;
  for (const auto& e : events) sum += e.value;
  mu_ = static_cast<float>(sum / events.size());
  std::vector<uint32_t> order(events.size());
  for (uint32_t x = 0; x < order.size(); ++x) order[x] = x;
  for (int64_t epoch = 0; epoch < epochs; ++epoch) {
    std::shuffle(order.begin(), order.end(), rng_);
    for (uint32_t x : order) {
      sgd_step(events[x].user, events[x].item, events[x].value);
      sgd_negatives(events[x].user);
    }
    report_progress(epoch + 1, epochs);
  }
}

}  // namespace streamrec::models
