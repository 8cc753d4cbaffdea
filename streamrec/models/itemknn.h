// Item-item collaborative filtering: cosine similarity of item columns of the user-item
// matrix, with shrinkage, pruned to each item's k nearest neighbours;
// score(u, i) = sum over history items j of sim(j, i) * x(u, j).
//
// Online: a new (user, item) event recomputes that item's neighbour list exactly and patches
// the lists of the user's other history items; lists of unrelated items refresh at next fit.
#pragma once

#include "streamrec/models/recommender.h"

namespace streamrec::models {

class ItemKnn final : public Recommender {
 public:
  explicit ItemKnn(Params params);
  static Params declare_params();

  std::string name() const override { return "itemknn"; }
  const Params& params() const override { return params_; }
  uint32_t num_items() const override { return static_cast<uint32_t>(neighbours_.size()); }
  void fit(const TrainData& data) override;
  void score_all(uint32_t user, std::span<float> scores) const override;
  bool supports_online() const override { return true; }
  void observe(const data::Interaction& event) override;

  struct Neighbour {
    uint32_t item;
    float sim;
  };
  const std::vector<Neighbour>& neighbours(uint32_t item) const { return neighbours_.at(item); }

 private:
  // Neighbours of `item` from scratch, using `co` (size num_items, zeroed) as scratch.
  std::vector<Neighbour> compute_row(uint32_t item, std::vector<float>& co,
                                     std::vector<uint32_t>& touched) const;
  float similarity(float co, uint32_t a, uint32_t b) const;

  Params params_;
  size_t k_;
  float shrink_;
  std::vector<std::vector<uint32_t>> history_;   // user -> items (insertion order)
  std::vector<std::vector<uint32_t>> users_of_;  // item -> users
  std::vector<std::vector<Neighbour>> neighbours_;
};

}  // namespace streamrec::models
