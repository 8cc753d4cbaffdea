// Matrix factorization, three ways (param `algo`):
// - bpr: Bayesian personalized ranking (Rendle et al. 2009) by SGD over sampled
//   (user, positive, negative) triples, with item biases; implicit feedback.
// - als: implicit-feedback ALS (Hu, Koren, Volinsky 2008) with confidence 1 + alpha * r,
//   each least-squares step solved by a few conjugate-gradient iterations warm-started from
//   the previous factors (Takacs et al. 2011, as the `implicit` library does).
// - sgd: biased MF for explicit ratings, r = mu + b_u + b_i + p_u . q_i (Funk/Koren), for
//   MAE/RMSE; its ranking score is the predicted rating. On implicit data (all values 1)
//   set `negatives` so that sampled unobserved items teach it what is not liked.
// Factors live in row-major float arrays; score(u, i) = p_u . q_i + b_i (+ mu + b_u for sgd).
// Online: bpr and sgd take SGD steps on the new event; als re-solves the user's and the
// item's factors against the fixed other side (fold-in).
#pragma once

#include <limits>
#include <random>

#include "streamrec/models/recommender.h"

namespace streamrec::models {

class MatrixFactorization final : public Recommender {
 public:
  explicit MatrixFactorization(Params params);
  static Params declare_params();

  std::string name() const override { return "mf"; }
  const Params& params() const override { return params_; }
  uint32_t num_items() const override { return n_items_; }
  void fit(const TrainData& data) override;
  void score_all(uint32_t user, std::span<float> scores) const override;
  bool supports_online() const override { return true; }
  std::span<const float> item_vectors(size_t& dim) const override {
    dim = k_;
    return {Q_.data(), size_t{n_items_} * k_};
  }
  // Query [p_u, 1] against items [q_i, b_i]: the score minus the user's constant part.
  bool retrieval_query(uint32_t user, std::vector<float>& query) const override;
  std::vector<float> retrieval_items(size_t& dim) const override;
  void observe(const data::Interaction& event) override;
  bool predicts_ratings() const override { return algo_ == Algo::kSgd; }
  double online_loss() const override { return online_loss_; }
  Size size() const override {
    return {uint64_t{n_users_} + n_items_,
            4 * (P_.size() + Q_.size() + user_bias_.size() + item_bias_.size())};
  }
  float predict(uint32_t user, uint32_t item) const override;
  void save(BinaryWriter& out) const override;
  void load(BinaryReader& in) override;

  uint32_t factors() const { return k_; }
  std::span<const float> user_vector(uint32_t u) const { return {&P_[size_t{u} * k_], k_}; }
  std::span<const float> item_vector(uint32_t i) const { return {&Q_[size_t{i} * k_], k_}; }

 private:
  enum class Algo { kBpr, kAls, kSgd };
  void init(uint32_t users, uint32_t items);
  void grow(uint32_t users, uint32_t items);
  float dot(uint32_t u, uint32_t i) const;
  // BPR
  void fit_bpr(const TrainData& data);
  // One SGD step; returns the pair's loss before it (-log sigmoid(x_uij)).
  float bpr_step(uint32_t u, uint32_t i, uint32_t j);
  // ALS
  void fit_als(const TrainData& data);
  // Solves one side's factors `x` against the other side `Y` with Gram matrix `YtY`, for the
  // rows listed in `rows` whose interactions are (cols[k], conf[k]).
  void als_solve_row(float* x, const float* Y, const std::vector<float>& YtY,
                     std::span<const uint32_t> cols, std::span<const float> values) const;
  void gram(const std::vector<float>& M, uint32_t rows, std::vector<float>& out) const;
  // SGD (explicit)
  void fit_sgd(const TrainData& data);
  // One SGD step; returns the squared error before it.
  float sgd_step(uint32_t u, uint32_t i, float rating);
  // With negatives > 0: SGD steps towards 0 on that many items the user does not have.
  void sgd_negatives(uint32_t u);

  Params params_;
  Algo algo_;
  uint32_t k_;
  float lr_, reg_, alpha_;
  uint32_t n_users_ = 0, n_items_ = 0;
  std::vector<float> P_, Q_;  // users x k, items x k
  std::vector<float> user_bias_, item_bias_;
  float mu_ = 0.0f;
  double online_loss_ = std::numeric_limits<double>::quiet_NaN();  // moving average
  std::mt19937_64 rng_;
  // Online state: each user's items (sorted) for negative sampling and ALS fold-in.
  std::vector<std::vector<uint32_t>> user_items_;
  std::vector<std::vector<float>> user_values_;
  std::vector<std::vector<uint32_t>> item_users_;
  std::vector<std::vector<float>> item_values_;
  std::vector<float> PtP_, QtQ_;  // ALS Gram matrices, refreshed by fit
};

}  // namespace streamrec::models
