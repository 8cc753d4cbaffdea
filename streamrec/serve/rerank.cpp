#include "streamrec/serve/rerank.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "streamrec/core/error.h"
#include "streamrec/core/text.h"

namespace streamrec::serve {
namespace {

bool compare(double a, Predicate::Op op, double b) {
  switch (op) {
    case Predicate::Op::kEq:
      return a == b;
    case Predicate::Op::kNe:
      return a != b;
    case Predicate::Op::kLt:
      return a < b;
    case Predicate::Op::kLe:
      return a <= b;
    case Predicate::Op::kGt:
      return a > b;
    case Predicate::Op::kGe:
      return a >= b;
  }
  return false;
}

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

}  // namespace

Predicate parse_predicate(std::string_view spec) {
  // The first operator character splits key and value; two-character operators first.
  const auto at = spec.find_first_of("=!<>");
  SR_INPUT_CHECK(
      at != std::string_view::npos && at > 0,
      "filter {}: expected key<op>value with op one of = != < <= > >=", text::quote(spec));
  Predicate p;
  p.key = std::string(text::trim(spec.substr(0, at)));
  size_t len = 1;
  const char c = spec[at];
  const bool eq_next = at + 1 < spec.size() && spec[at + 1] == '=';
  if (c == '=') {
    p.op = Predicate::Op::kEq;
  } else if (c == '!') {
    SR_INPUT_CHECK(eq_next, "filter {}: '!' must be followed by '='", text::quote(spec));
    p.op = Predicate::Op::kNe;
    len = 2;
  } else if (c == '<') {
    p.op = eq_next ? Predicate::Op::kLe : Predicate::Op::kLt;
    len = eq_next ? 2 : 1;
  } else {
    p.op = eq_next ? Predicate::Op::kGe : Predicate::Op::kGt;
    len = eq_next ? 2 : 1;
  }
  p.text = std::string(text::trim(spec.substr(at + len)));
  SR_INPUT_CHECK(!p.key.empty() && !p.text.empty(), "filter {}: key and value must not be empty",
                 text::quote(spec));
  p.number = text::parse_double(p.text);
  const bool ordered = p.op != Predicate::Op::kEq && p.op != Predicate::Op::kNe;
  SR_INPUT_CHECK(!ordered || p.number.has_value(),
                 "filter {}: value {} is not a number (needed for < <= > >=)", text::quote(spec),
                 text::quote(p.text));
  return p;
}

bool matches(const store::ItemRecord* item, const Predicate& p) {
  const bool ne = p.op == Predicate::Op::kNe;
  if (!item) return ne;
  if (p.key == "category" || p.key == "tag") {
    const auto& list = p.key == "category" ? item->attrs.categories : item->attrs.tags;
    if (p.op == Predicate::Op::kEq) return contains(list, p.text);
    if (ne) return !contains(list, p.text);
    return false;
  }
  if (p.key == "title") {
    if (p.op == Predicate::Op::kEq) return item->attrs.title == p.text;
    return ne && item->attrs.title != p.text;
  }
  if (const auto n = item->attrs.numeric.find(p.key); n != item->attrs.numeric.end())
    return p.number ? compare(n->second, p.op, *p.number) : ne;
  if (const auto f = item->fields.find(p.key); f != item->fields.end()) {
    if (p.op == Predicate::Op::kEq) return f->second == p.text;
    if (ne) return f->second != p.text;
    const auto v = text::parse_double(f->second);
    return v && compare(*v, p.op, *p.number);
  }
  return ne;
}

bool ItemFilter::accepts(const store::ItemRecord* item) const {
  if (!categories.empty()) {
    if (!item) return false;
    if (std::none_of(categories.begin(), categories.end(),
                     [&](const auto& c) { return contains(item->attrs.categories, c); }))
      return false;
  }
  if (item)
    for (const auto& c : exclude_categories)
      if (contains(item->attrs.categories, c)) return false;
  return std::all_of(predicates.begin(), predicates.end(),
                     [&](const auto& p) { return matches(item, p); });
}

std::vector<size_t> mmr_order(std::span<const float> relevance, size_t n, double lambda,
                              const std::function<float(size_t, size_t)>& similarity) {
  const size_t m = relevance.size();
  std::vector<size_t> picked;
  if (m == 0) return picked;
  const auto [lo, hi] = std::minmax_element(relevance.begin(), relevance.end());
  const float span = *hi - *lo;
  std::vector<float> rel(m), max_sim(m, -std::numeric_limits<float>::infinity());
  for (size_t x = 0; x < m; ++x) rel[x] = span > 0 ? (relevance[x] - *lo) / span : 1.0f;
  std::vector<bool> used(m, false);
  while (picked.size() < std::min(n, m)) {
    size_t best = m;
    double best_value = -std::numeric_limits<double>::infinity();
    for (size_t x = 0; x < m; ++x) {
      if (used[x]) continue;
      const double penalty = picked.empty() ? 0.0 : max_sim[x];
      const double v = (1 - lambda) * rel[x] - lambda * penalty;
      if (v > best_value) {
        best_value = v;
        best = x;
      }
    }
    used[best] = true;
    picked.push_back(best);
    for (size_t x = 0; x < m; ++x)
      if (!used[x]) max_sim[x] = std::max(max_sim[x], similarity(x, best));
  }
  return picked;
}

}  // namespace streamrec::serve
