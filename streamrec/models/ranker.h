// The fusion ranker (module models): a small deep & cross network (DCN-style cross layers
// beside an MLP, libtorch) that orders a candidate list from per-candidate features: the
// retrieval model's rank and score, popularity, trend, item age and activity, context lift,
// the user's category affinity and similarity to their recent items, how often it followed
// or preceded their recent items in other users' streams (item-CF), the candidate source.
// It learns online (pointwise BCE: the item the user took next against the other
// candidates), so it works on top of any candidate source. Features are standardised with
// running means and variances kept in the ranker.
//
// Threads: score() is const and safe from many threads on a ranker nobody trains; train()
// needs exclusive access. Serving uses a clone() made at publish time.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

namespace streamrec::models {

// One candidate's features for the server's ranker, by name. write() lays them out in the
// order of the ranker's input row (RankerFeatures::kCount floats); a new feature is one
// field here and one line in write().
struct RankerFeatures {
  static constexpr int64_t kCount = 11;
  float rank = 0;            // retrieval rank: 1 - position / candidates
  float score = 0;           // retrieval score, standardised over the candidates
  float popularity = 0;      // log1p(7-day decayed count)
  float trend = 0;           // log1p(6-hour decayed count)
  float age = 0;             // log1p(hours since first seen)
  float events = 0;          // log1p(events)
  float context_lift = 0;    // context x category log-lift, clamped to [-2, 2]
  float category_share = 0;  // the user's recent share of the item's best category
  float similarity = 0;      // max cosine to the user's last five items
  float from_model = 0;      // 1: the retrieval model's candidate, 0: item-CF's
  float itemcf = 0;          // log1p(transition count with the user's last five items)
  void write(float* row) const {
    const float values[kCount] = {rank,       score,      popularity,   trend,
                                  age,        events,     context_lift, category_share,
                                  similarity, from_model, itemcf};
    std::copy(values, values + kCount, row);
  }
};

// The offline fusion model's row for one candidate (FusionModel): each source model's score
// and rank-scaled position (1 at the top, 0 outside its top `pool`), then the item's log
// popularity. Its width follows the source count. RankerFeatures above is the online
// ranker's fixed row over one model's candidates and live statistics: the two rankers see
// different evidence, so they have two layouts, both declared here.
struct FusionLayout {
  size_t sources = 0;
  int64_t count() const { return static_cast<int64_t>(2 * sources + 1); }
  size_t score(size_t source) const { return 2 * source; }
  size_t position(size_t source) const { return 2 * source + 1; }
  size_t popularity() const { return 2 * sources; }
};

struct FusionRankerOptions {
  int64_t features = RankerFeatures::kCount;  // per candidate
  int64_t hidden = 32;
  int64_t cross_layers = 2;
  // >= 0: the logit is this input feature (standardised) times a learned weight (from 1)
  // plus the net's output, which starts at zero: the ranker starts as that feature's order
  // and learns corrections to it. -1: the net's output alone.
  int64_t base = -1;
  double lr = 0.003;
  uint64_t seed = 42;
};

class FusionRanker {
 public:
  static constexpr int64_t kFeatures = RankerFeatures::kCount;  // the server's feature list
  explicit FusionRanker(FusionRankerOptions options = {});
  ~FusionRanker();
  FusionRanker(const FusionRanker&) = delete;
  FusionRanker& operator=(const FusionRanker&) = delete;

  // One logit per row of `features` (rows x options.features, row-major).
  std::vector<float> score(std::span<const float> features) const;
  // One Adam step of binary cross-entropy on the rows (labels 1 or 0); returns the loss.
  double train(std::span<const float> features, std::span<const float> labels);
  // One Adam step of listwise softmax cross-entropy: `sizes` splits the rows into candidate
  // lists in order; a list's loss is the mean of -log softmax over its rows at its label-1
  // rows (a list without one adds nothing). Returns the mean over the lists with labels.
  double train_lists(std::span<const float> features, std::span<const float> labels,
                     std::span<const size_t> sizes);
  // An independent copy (weights and feature statistics) for serving.
  std::unique_ptr<FusionRanker> clone() const;
  uint64_t steps() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace streamrec::models
