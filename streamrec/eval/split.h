// Evaluation protocols that split a data set's events into fit / validation / test.
//
// - loo: leave-one-out by time per user. Each user's events are ordered by timestamp, ties
//   by input order; the last is the test event, the second last the validation event (a
//   user needs >= 2 events to be tested and >= 3 to be validated; fewer: all in train).
// - temporal: one global cut by time: the first `train` share of events (in time order,
//   ties by input order) is train, the next `valid` share validation, the rest test.
// - random: RecBole's random 8:1:1 split grouped by user: each user's events are shuffled
//   (seeded) and cut by the ratios.
// Train events stay in time order. Evaluate on test after fitting on train + validation;
// tune on validation after fitting on train alone.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "streamrec/data/records.h"

namespace streamrec::eval {

struct SplitOptions {
  std::string protocol = "loo";  // loo | temporal | random
  double train_ratio = 0.8;      // temporal, random
  double valid_ratio = 0.1;      // temporal, random
  uint64_t seed = 2020;          // random
};

struct Split {
  std::vector<data::Interaction> train;
  std::vector<data::Interaction> validation;
  std::vector<data::Interaction> test;
  // train followed by validation, in time order: what a model is fitted on before test.
  std::vector<data::Interaction> fit_for_test() const;
};

const std::vector<std::string>& protocol_names();

// Throws Error(kInvalidInput) on an unknown protocol or bad ratios.
Split split_events(const data::Dataset& ds, const SplitOptions& options);

}  // namespace streamrec::eval
