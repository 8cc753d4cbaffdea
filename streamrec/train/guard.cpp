#include "streamrec/train/guard.h"

#include <cmath>

#include <fmt/format.h>

namespace streamrec::train {

QualityWindow::Verdict QualityWindow::judge() {
  if (checks_ < min_checks_) return Verdict::kWait;
  last_hr_ = double(hits_) / checks_;
  const double n = static_cast<double>(checks_);
  last_checks_ = checks_;
  hits_ = checks_ = 0;
  if (baseline_ >= 0 && last_hr_ < (1 - margin_) * baseline_) {
    // A drop must also be unlikely as noise: a two-proportion z-test at z >= 3 (at HR@10
    // near 0.03, a few hundred checks halve it by chance often enough to matter).
    const double pooled = (baseline_ * baseline_checks_ + last_hr_ * n) / (baseline_checks_ + n);
    const double se = std::sqrt(pooled * (1 - pooled) * (1 / baseline_checks_ + 1 / n));
    if (se > 0 && (baseline_ - last_hr_) / se >= 3) {
      baseline_ = -1;
      return Verdict::kFail;
    }
  }
  baseline_ = last_hr_;
  baseline_checks_ = n;
  return Verdict::kPass;
}

void QualityWindow::reset(bool rebaseline) {
  hits_ = checks_ = 0;
  if (rebaseline) baseline_ = -1;
}

void Guard::refitted(size_t learned) {
  good_snapshot_.clear();
  good_learned_ = learned;
  healthy_is_live_ = false;
  healthy_learned_ = learned;
}

void Guard::published_healthy(size_t learned) {
  healthy_is_live_ = true;
  healthy_learned_ = learned;
}

Guard::Target Guard::health_target(std::string why,
                                   const std::optional<std::string>& live_bytes) const {
  return {std::move(why), healthy_is_live_ && live_bytes ? *live_bytes : "", healthy_learned_};
}

std::optional<Guard::Target> Guard::judge_window() {
  if (quality_.judge() == QualityWindow::Verdict::kFail)
    return Target{fmt::format("live HR@10 {:.4f} over the last {} checks fell below {:.0f}% of "
                              "the window before",
                              quality_.last_hr(), quality_.last_checks(), 100 * (1 - margin_)),
                  good_snapshot_, good_learned_};
  if (!window_snapshot_.empty()) {
    good_snapshot_ = std::move(window_snapshot_);
    good_learned_ = window_learned_;
  }
  return std::nullopt;
}

void Guard::start_window(bool rebaseline, std::string snapshot, size_t learned) {
  quality_.reset(rebaseline);
  window_snapshot_ = std::move(snapshot);
  window_learned_ = learned;
}

}  // namespace streamrec::train
