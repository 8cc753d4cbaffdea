// Prequential (test-then-train) replay: events in time order (ties by input order); the
// model is fitted on the first `warmup_share` of the time span, then for every later event
// it first recommends top-K for the event's user (excluding items the user already has)
// and is scored on whether the event's item is in the list; then it learns the event
// (observe) if it learns online and `learn` is set, else it stays frozen. With
// `retrain_every`, the model is also refitted from scratch on every event so far each time
// that much event time has passed (periodic batch retraining). Repeat consumptions are learned but
// not scored (they cannot be recommended).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "streamrec/data/records.h"
#include "streamrec/models/recommender.h"

namespace streamrec::eval {

struct PrequentialOptions {
  double warmup_share = 0.2;  // of the time span
  size_t k = 10;
  size_t window = 1000;       // scored events per curve point
  uint64_t max_events = 0;    // stop after this many scored events (0 = all)
  bool learn = true;          // false: frozen after the warm-up fit
  int64_t retrain_every = 0;  // event-time seconds between full refits (0 = never)
  double speed = 0;  // replay pace: event-time seconds per wall second (0 = as fast as possible)
  // false: this process only learns (an MPI rank beside the root, which scores): the model
  // makes the same calls and the loop stops at the same event, but nothing is scored.
  bool score = true;
};

struct PrequentialPoint {
  uint64_t scored = 0;      // scored events so far
  int64_t timestamp = 0;    // of the window's last event
  double hr = 0, ndcg = 0;  // over the window
};

struct PrequentialResult {
  std::string model;
  bool online = false;
  uint64_t warmup_events = 0, scored = 0, retrains = 0;
  double hr = 0, ndcg = 0;  // over all scored events
  // NDCG@k per activity group of the event's user (models::activity_group: cold, medium,
  // heavy), and how many scored events each holds.
  std::array<double, 3> group_ndcg{};
  std::array<uint64_t, 3> group_scored{};
  double fit_seconds = 0, replay_seconds = 0;
  std::vector<PrequentialPoint> curve;
};

PrequentialResult prequential(models::Recommender& model, const data::Dataset& ds,
                              const PrequentialOptions& options,
                              const models::ProgressFn& progress = {});

}  // namespace streamrec::eval
