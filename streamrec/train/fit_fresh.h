// One way to fit a fresh model on learned events (module train), shared by the start's
// refit, the guard's refit fallback and the background retrain: a new model of `spec`,
// given the catalog's attributes by `prepare`, fitted on the events in time order (stable)
// without the newest `holdout`, which are then tested and learned one by one
// (test-then-train, as the live model is measured).
// Thread-safety: touches only its arguments; the caller holds whatever guards `prepare`.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "streamrec/models/recommender.h"

namespace streamrec::train {

struct FreshFit {
  std::unique_ptr<models::Recommender> model;
  // HR@10 on the held-out events: new items of users with history, at most 300 checks
  // spread over them.
  double holdout_hr10 = 0;
  uint64_t holdout_checks = 0;
};

FreshFit fit_fresh(const std::string& spec, uint32_t users, uint32_t items,
                   std::vector<data::Interaction> events, size_t holdout,
                   const std::function<void(models::Recommender&)>& prepare);

}  // namespace streamrec::train
