// Cold-start protocol for new items: a share of the items (drawn at random among those with
// events) is held out of training entirely, their events included; the model is fitted on
// the rest, with the catalog's attributes of every item. Then for each distinct (user,
// held-out item) pair the item is ranked among the held-out items, the user's other
// held-out items excluded: HR@k and NDCG@k over pairs. Only a content (attribute) tower can
// rank these items; baselines beside the models:
// - random: the expected HR@k of a random order (k / candidates per pair);
// - category-popular: held-out items ranked by the training events of their categories
//   (what popularity can know of an item without events);
// - oracle-popular: ranked by their own held-out events' count (knows the future; a
//   reference, not a method).
#pragma once

#include <cstdint>
#include <string>
#include <unordered_set>
#include <vector>

#include "streamrec/data/records.h"
#include "streamrec/eval/evaluator.h"
#include "streamrec/models/recommender.h"

namespace streamrec::eval {

struct ColdStartOptions {
  double share = 0.1;  // of the items with events
  uint64_t seed = 2020;
  std::vector<size_t> ks{10, 50};
};

struct ColdStartSplit {
  std::vector<char> cold;                  // per item: held out
  std::vector<uint32_t> cold_items;        // ascending
  std::vector<data::Interaction> train;    // events of the other items, time order
  std::vector<data::Interaction> targets;  // one per distinct (user, held-out item) pair
};

ColdStartSplit split_cold_items(const data::Dataset& ds, const ColdStartOptions& options);

// Fits `model` on the split's train events with the catalog (unless `fit` is false: then it
// must have been fitted on them already) and ranks the held-out items.
EvalResult evaluate_cold_start(models::Recommender& model, const data::Dataset& ds,
                               const ColdStartSplit& split, const ColdStartOptions& options,
                               bool fit = true, const models::ProgressFn& progress = {});

// The three baselines above, as result rows named "random", "category-popular",
// "oracle-popular".
std::vector<EvalResult> cold_start_baselines(const data::Dataset& ds, const ColdStartSplit& split,
                                             const ColdStartOptions& options);

}  // namespace streamrec::eval
