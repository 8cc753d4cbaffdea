// Preprocessing of an imported Dataset: missing values, de-duplication, implicit
// thresholds, rating normalization, k-core filtering, time sort. Each step is optional
// and applied in that order; the report counts what each step removed.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "streamrec/core/config.h"
#include "streamrec/data/records.h"

namespace streamrec::data {

struct PreprocessOptions {
  enum class Missing { kFail, kDrop, kFill, kUserMean };
  enum class Dedupe { kNone, kKeepFirst, kKeepLast };
  enum class Normalize { kNone, kMinMax, kUserMean };

  Missing missing = Missing::kFail;
  float fill_value = 1.0f;
  Dedupe dedupe = Dedupe::kNone;            // a (user, item) pair seen again; "first/last" in time
  std::optional<float> implicit_threshold;  // keep value >= threshold, as implicit positives
  Normalize normalize = Normalize::kNone;
  uint32_t min_user_events = 0;  // k-core: iterate until every user and item has at least
  uint32_t min_item_events = 0;  //   this many events
  bool sort_by_time = true;      // stable: ties keep input order

  // Declared parameters (one source of truth for the CLI); from_params reads them back.
  static Params params();
  static PreprocessOptions from_params(const Params& p);
};

struct PreprocessReport {
  uint64_t missing_dropped = 0, missing_filled = 0, duplicates_dropped = 0,
           below_threshold_dropped = 0, kcore_dropped = 0;
  std::string summary() const;
};

// Throws Error(kInvalidInput) when missing == kFail and a value is missing (NaN).
PreprocessReport preprocess(Dataset& ds, const PreprocessOptions& options);

}  // namespace streamrec::data
