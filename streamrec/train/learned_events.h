// The interactions learned since the last refit, in learning order (module train): a
// retrain's input and the guard's fallback refit. Positions are absolute (counted from the
// refit), so that they stay valid after expire() drops the oldest ones (the state TTL).
//
// Thread-safety: none inside; the engine's state lock guards it. Invariant: the kept events
// are positions [first(), size()).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <vector>

#include "streamrec/data/records.h"

namespace streamrec::train {

class LearnedEvents {
 public:
  // After a refit: `events` are positions 0.., nothing dropped.
  void assign(std::vector<data::Interaction> events);
  void push_back(const data::Interaction& e) { kept_.push_back(e); }

  size_t size() const { return dropped_ + kept_.size(); }  // learned since the refit
  size_t first() const { return dropped_; }                // the oldest kept
  const std::deque<data::Interaction>& kept() const { return kept_; }
  // Positions [from, to) that are still kept (from is raised to first()).
  std::vector<data::Interaction> copy(size_t from, size_t to) const;

  // Drops the oldest events while their event time is before `before` (in learning order:
  // stops at the first newer one); returns how many.
  size_t expire(int64_t before);

 private:
  std::deque<data::Interaction> kept_;
  size_t dropped_ = 0;
};

}  // namespace streamrec::train
