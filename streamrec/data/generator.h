// Synthetic event stream with planted structure, the built-in default data.
//
// Users hold latent interests over item categories that drift over time; items belong to a
// category, have long-tail (Zipf) popularity and arrive over time; context matters (hour of
// day shifts interests, device shifts them too); users also arrive over time; consecutive
// events follow a planted sequential pattern (the next item in a category's chain).
// Deterministic under `seed`: the same options give byte-identical output.
#pragma once

#include <cstdint>

#include "streamrec/core/config.h"
#include "streamrec/data/records.h"

namespace streamrec::data {

struct GeneratorOptions {
  uint64_t seed = 42;
  uint32_t users = 2000;
  uint32_t items = 2000;
  uint32_t categories = 20;
  uint64_t events = 100000;
  int64_t start_time = 1'700'000'000;  // Unix seconds
  uint32_t days = 30;
  double zipf = 1.1;            // item popularity exponent within a category
  double new_item_share = 0.3;  // items released after the start, uniformly over time
  double new_user_share = 0.3;  // users joining after the start
  double drift = 0.002;         // per-event chance that a user's interest moves
  double sequential = 0.3;      // chance the next event follows the item chain
  double context_effect = 0.5;  // how strongly hour and device shift interests

  static Params params();
  static GeneratorOptions from_params(const Params& p);
};

Dataset generate(const GeneratorOptions& options);

}  // namespace streamrec::data
