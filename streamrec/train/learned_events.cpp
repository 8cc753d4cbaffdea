#include "streamrec/train/learned_events.h"

#include <algorithm>

namespace streamrec::train {

void LearnedEvents::assign(std::vector<data::Interaction> events) {
  kept_.assign(events.begin(), events.end());
  dropped_ = 0;
}

std::vector<data::Interaction> LearnedEvents::copy(size_t from, size_t to) const {
  from = std::max(from, dropped_);
  to = std::min(to, size());
  if (from >= to) return {};
  return {kept_.begin() + (from - dropped_), kept_.begin() + (to - dropped_)};
}

size_t LearnedEvents::expire(int64_t before) {
  size_t n = 0;
  while (!kept_.empty() && kept_.front().timestamp < before) {
    kept_.pop_front();
    ++n;
  }
  if (kept_.empty()) kept_.shrink_to_fit();
  dropped_ += n;
  return n;
}

}  // namespace streamrec::train
