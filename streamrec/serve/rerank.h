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

}  // namespace streamrec::serve
