// Re-ranking parts of the serving path (module serve): attribute filters over catalog
// records, maximal marginal relevance for diversity, and the quality guard's window. No
// locks here: callers hold their own.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "streamrec/store/catalog.h"

namespace streamrec::serve {

// One attribute predicate, e.g. "price<20", "brand=acme", "category!=horror", "tag=indie".
// Keys: category, tag, title, a numeric attribute or a string field of the item record.
struct Predicate {
  enum class Op { kEq, kNe, kLt, kLe, kGt, kGe };
  std::string key;
  Op op = Op::kEq;
  std::string text;
  std::optional<double> number;  // the value, when it parses as a number
};

// Error(kInvalidInput) naming the predicate when it has no operator, key or value, or a
// comparison (<, <=, >, >=) has a value that is not a number.
Predicate parse_predicate(std::string_view spec);
// Does the item satisfy it? An item without a record, or without the key, satisfies only !=.
bool matches(const store::ItemRecord* item, const Predicate& p);

struct ItemFilter {
  std::vector<std::string> categories;          // at least one of these (empty: any)
  std::vector<std::string> exclude_categories;  // none of these
  std::vector<Predicate> predicates;            // all of these
  bool empty() const {
    return categories.empty() && exclude_categories.empty() && predicates.empty();
  }
  bool accepts(const store::ItemRecord* item) const;
};

// Greedy maximal marginal relevance: picks `n` of the candidates, each time the one with
// the best (1 - lambda) * relevance - lambda * (max similarity to those already picked).
// `relevance` is min-max normalised inside. Returns candidate positions in pick order.
std::vector<size_t> mmr_order(std::span<const float> relevance, size_t n, double lambda,
                              const std::function<float(size_t, size_t)>& similarity);

// The quality guard's bookkeeping: prequential hits of the model since the last state that
// passed, judged once there are `min_checks` of them against the HR@10 of the window before.
// A window whose HR@10 is below (1 - margin) x the baseline, by at least three standard errors
// (two-proportion z-test), fails; a passing window becomes
// the new baseline; after a failure the next window sets a fresh baseline (a lasting change
// of the stream rolls back once, not forever).
class QualityWindow {
 public:
  enum class Verdict { kWait, kPass, kFail };
  QualityWindow(double margin, uint64_t min_checks) : margin_(margin), min_checks_(min_checks) {}
  void record(bool hit) {
    hits_ += hit;
    ++checks_;
  }
  bool ready() const { return checks_ >= min_checks_; }
  Verdict judge();
  // Forget the current window (the model was replaced) and, with `rebaseline`, the baseline.
  void reset(bool rebaseline);
  double baseline() const { return baseline_; }  // negative: none yet
  double last_hr() const { return last_hr_; }
  uint64_t last_checks() const { return last_checks_; }

 private:
  double margin_;
  uint64_t min_checks_;
  uint64_t hits_ = 0, checks_ = 0;
  double baseline_ = -1, baseline_checks_ = 0, last_hr_ = 0;
  uint64_t last_checks_ = 0;
};

}  // namespace streamrec::serve
