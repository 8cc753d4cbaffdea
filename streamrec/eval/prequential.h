// Prequential (test-then-train) replay: events in time order (ties by input order); the
// model is fitted on the first `warmup_share` of the time span, then for every later event
// it first recommends top-K for the event's user (excluding items the user already has)
// and is scored on whether the event's item is in the list; then it learns the event
// (observe) if it learns online, else it stays frozen. Repeat consumptions are learned but
// not scored (they cannot be recommended).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "streamrec/data/records.h"
#include "streamrec/models/recommender.h"

namespace streamrec::eval {

struct PrequentialOptions {
  double warmup_share = 0.2;  // of the time span
  size_t k = 10;
  size_t window = 1000;     // scored events per curve point
  uint64_t max_events = 0;  // stop after this many scored events (0 = all)
};

struct PrequentialPoint {
  uint64_t scored = 0;      // scored events so far
  int64_t timestamp = 0;    // of the window's last event
  double hr = 0, ndcg = 0;  // over the window
};

struct PrequentialResult {
  std::string model;
  bool online = false;
  uint64_t warmup_events = 0, scored = 0;
  double hr = 0, ndcg = 0;  // over all scored events
  double fit_seconds = 0, replay_seconds = 0;
  std::vector<PrequentialPoint> curve;
};

PrequentialResult prequential(models::Recommender& model, const data::Dataset& ds,
                              const PrequentialOptions& options,
                              const models::ProgressFn& progress = {});

}  // namespace streamrec::eval
