// A ring of the last `capacity` values (live percentiles of latency, freshness, quality)
// and the percentile of a sample. Not thread-safe: the owner's lock guards it.
#pragma once

#include <algorithm>
#include <cstddef>
#include <vector>

namespace streamrec {

template <typename T>
class Ring {
 public:
  explicit Ring(size_t capacity = 1000) : capacity_(capacity) { values_.reserve(capacity); }
  void push(T v) {
    if (values_.size() < capacity_)
      values_.push_back(v);
    else
      values_[next_++ % capacity_] = v;
  }
  // The values held, in no particular order.
  const std::vector<T>& values() const { return values_; }
  // The k-th value held (0 <= k < size()); rings pushed in step share their indices.
  const T& operator[](size_t k) const { return values_[k]; }
  bool empty() const { return values_.empty(); }
  size_t size() const { return values_.size(); }
  auto begin() const { return values_.begin(); }
  auto end() const { return values_.end(); }

 private:
  size_t capacity_;
  std::vector<T> values_;
  size_t next_ = 0;
};

// The p-th percentile (0..100) of `values` (copied), 0 when empty.
inline double percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  const size_t k = std::min(values.size() - 1, static_cast<size_t>(values.size() * p / 100));
  std::nth_element(values.begin(), values.begin() + k, values.end());
  return values[k];
}

}  // namespace streamrec
