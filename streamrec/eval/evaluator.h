// Offline evaluation: fit a model on a split and rank all candidate items for every test
// user (full ranking), excluding the items the user has in the fitted data.
//
// Candidates are the items that occur in any event of the data set (catalog entries that
// nobody interacted with are not ranked). A user's relevant items are their distinct target
// items not already in their fitted history; users with none are skipped.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "streamrec/data/records.h"
#include "streamrec/eval/split.h"
#include "streamrec/models/recommender.h"

namespace streamrec::eval {

struct EvalOptions {
  std::vector<size_t> ks{10, 20};
  bool on_validation = false;  // fit on train, score validation (else fit train+valid, test)
  // Fairness re-ranking of each list, as the server does it (models/calibration.h), from
  // the model's top 5 x max(ks): calibrate 0..1, max_category_share (0, 1]. Needs item
  // categories in the data (else no effect).
  double calibrate = 0, max_category_share = 1;
};

struct EvalResult {
  std::string model;
  std::string params;
  std::map<std::string, double> metrics;  // "hr@10", "ndcg@10", ..., "mae", "rmse"
  double fit_seconds = 0;
  double eval_seconds = 0;
  size_t users = 0;
};

// What evaluate() fits on: the split's fit events (train + validation, or train alone
// with on_validation).
models::TrainData fit_data(const data::Dataset& ds, const Split& split, const EvalOptions& options);
// Fits `model` (unless `fit` is false) on fit_data and evaluates it. `progress` (may be
// empty) receives (done, total) over users.
EvalResult evaluate(models::Recommender& model, const data::Dataset& ds, const Split& split,
                    const EvalOptions& options, bool fit = true,
                    const models::ProgressFn& progress = {});

// Metric names in display order for the given cut-offs.
std::vector<std::string> metric_names(const std::vector<size_t>& ks);

}  // namespace streamrec::eval
