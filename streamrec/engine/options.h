// The engine's options (module engine), declared once: EngineOptions holds the values and
// engine_options() lists each with its flag, help text and range. `streamrec serve` makes
// its flags from that list, and the engine checks every value against it at start
// (Error(kInvalidInput) naming the flag and the value).
// Thread-safety: plain values and a constant table.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "streamrec/serve/ann.h"

namespace streamrec::engine {

// Meanings, defaults' reasons and ranges: engine_options() and options.cpp.
struct EngineOptions {
  std::string model = "mf:algo=bpr";
  std::string data_dir;
  std::string model_dir;
  bool sync = true;
  size_t micro_batch = 256;
  size_t max_queue = 1000000;
  int flush_ms = 100;
  size_t max_history = 200;
  int64_t state_ttl_s = 0;
  size_t live_checks = 32;
  int publish_ms = 1000;
  double checkpoint_s = 60;
  size_t keep_versions = 10;
  int64_t fresh_seconds = 3 * 86400;
  double context_weight = 0.3;
  double calibrate = 0, max_category_share = 1;
  size_t ann_min_items = 200000;
  int64_t retrain_every_s = 0;
  double quality_margin = 0.5;
  std::string ranker = "auto";
  size_t rank_pool = 50;
  uint64_t quality_checks = 300;
  size_t retrain_holdout = 1000;
  double retrain_margin = 0.1;
  serve::AnnOptions ann;
  int background_nice = 5;
  bool background_idle = false;
  int blas_threads = 1;
  bool batch_scoring = true;
  bool batch_queries = true;
  int64_t max_future_s = 86400;
  bool accept_data_loss = false;
  double max_value = 100;
  std::string image_root;
  std::string follow;  // a replica of the leader at this URL (no log, no learning)
  size_t replication_log_mb = 256;
};

// A reference to one field of an EngineOptions.
using OptionRef = std::variant<std::string*, bool*, int*, int64_t*, size_t*, double*>;

struct EngineOption {
  const char* flag;  // the CLI flag, e.g. "--micro-batch"
  const char* help;
  OptionRef (*field)(EngineOptions&);
  double min, max;                   // numeric range (inclusive); strings: unchecked
  std::vector<std::string> choices;  // strings: the accepted values (empty: any)
};

// Every option the CLI exposes, in --help order.
std::span<const EngineOption> engine_options();
// Error(kInvalidInput) naming the flag and value for the first option out of its range.
void check_options(EngineOptions& options);

}  // namespace streamrec::engine
