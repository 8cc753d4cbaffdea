// BPR matrix factorisation trained data-parallel over MPI (module dist): user and item
// factors live in one ShardedTable (users in slot 1, items in slot 2, Adagrad rows), each
// rank samples its share of every global batch of (user, positive, negative) triples from
// its share of the interactions, gathers the rows it needs in one all-to-all, computes the
// BPR gradients and sends them to the rows' owners in another. fit() is collective; once it
// returns, every rank holds the whole factor matrices and scores like any model.
//
// Quality does not depend on the number of ranks: the global batch, the number of steps
// and the update rule are the same, only which rank samples a triple changes (tests/e2e
// dist_train.sh compares 1 and 2 ranks).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "streamrec/dist/comm.h"
#include "streamrec/models/recommender.h"

namespace streamrec::dist {

class ShardedTable;

class DistributedBpr final : public models::Recommender {
 public:
  DistributedBpr(const Comm& comm, Params params);
  ~DistributedBpr() override;
  static Params declare_params();

  std::string name() const override { return "dist-bpr"; }
  const Params& params() const override { return params_; }
  uint32_t num_items() const override { return n_items_; }
  // Collective. With init_from(dir), training starts from that saved factor table (on any
  // number of ranks) instead of random rows.
  void fit(const models::TrainData& data) override;
  void init_from(std::string dir) { init_dir_ = std::move(dir); }
  // Collective, after fit: the factor table as a sharded checkpoint (ShardedTable::save).
  void save_factors(const std::string& dir) const;
  void score_all(uint32_t user, std::span<float> scores) const override;
  std::span<const float> item_vectors(size_t& dim) const override {
    dim = k_;
    return Q_;
  }
  Size size() const override {
    return {uint64_t{n_users_} + n_items_, 4 * (P_.size() + Q_.size())};
  }

 private:
  const Comm& comm_;
  Params params_;
  uint32_t k_ = 0, n_users_ = 0, n_items_ = 0;
  std::vector<float> P_, Q_;  // users x k, items x k (after fit, on every rank)
  std::unique_ptr<ShardedTable> table_;
  std::string init_dir_;
};

}  // namespace streamrec::dist
