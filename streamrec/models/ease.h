// EASE (Steck, WWW 2019): an item-item weight matrix B with zero diagonal minimizing
// |X - XB|^2 + lambda |B|^2, in closed form: P = (X^T X + lambda I)^-1,
// B_ij = -P_ij / P_jj. Dense linear algebra runs in libtorch (Cholesky, OpenBLAS).
// Only items with training interactions enter the solve (others have zero rows/columns in
// B exactly, since their Gram rows are lambda * e_i). Memory: 4 * m^2 bytes for m items.
// score(u, j) = sum over history items i of B_ij.
#pragma once

#include "streamrec/models/recommender.h"

namespace streamrec::models {

class Ease final : public Recommender {
 public:
  explicit Ease(Params params);
  static Params declare_params();

  std::string name() const override { return "ease"; }
  const Params& params() const override { return params_; }
  uint32_t num_items() const override { return n_items_; }
  void fit(const TrainData& data) override;
  void score_all(uint32_t user, std::span<float> scores) const override;
  void save(BinaryWriter& out) const override;
  void load(BinaryReader& in) override;

  // Weight B_ij for items i, j (0 for items outside the solve).
  float weight(uint32_t i, uint32_t j) const;

 private:
  Params params_;
  uint32_t n_items_ = 0;
  std::vector<uint32_t> active_;  // solve index -> item
  std::vector<uint32_t> slot_;    // item -> solve index or UINT32_MAX
  std::vector<float> B_;          // m x m, row-major
  std::vector<std::vector<uint32_t>> history_;
};

}  // namespace streamrec::models
