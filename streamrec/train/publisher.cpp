#include "streamrec/train/publisher.h"

#include <chrono>
#include <sstream>
#include <utility>

#include "streamrec/core/log.h"
#include "streamrec/core/serialize.h"
#include "streamrec/models/registry.h"

namespace streamrec::train {
namespace {

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

Publisher::Publisher(std::string spec, Install install)
    : spec_(std::move(spec)), install_(std::move(install)) {}

void Publisher::publish_full(models::Recommender& model, const std::optional<std::string>& bytes) {
  // A copy made from the bytes: queries never touch the learning model.
  const auto t0 = std::chrono::steady_clock::now();
  std::shared_ptr<models::Recommender> copy;
  if (bytes) {
    copy = models::loaded_model(spec_, *bytes, "serving copy");
    model.mark_delta();  // the next delta starts at the state of `bytes`
  }
  live_ = copy;
  standby_ = nullptr;
  standby_delta_.clear();
  install_(std::move(copy));
  ++full_;
  last_ms_ = ms_since(t0);
}

bool Publisher::publish_delta(models::Recommender& model,
                              const std::function<std::optional<std::string>()>& save) {
  if (!live_) return false;
  const auto t0 = std::chrono::steady_clock::now();
  std::string delta;
  {
    std::ostringstream out;
    BinaryWriter w(out);
    if (!model.save_delta(w)) return false;
    delta = std::move(out).str();
  }
  model.mark_delta();
  // Free: only this pointer holds it (queries and the ANN thread hold the live copies they
  // read). The acquire fence orders their last reads of it before the writes below.
  bool applied = false;
  if (standby_ && standby_.use_count() == 1) {
    std::atomic_thread_fence(std::memory_order_acquire);
    try {
      const std::string both[] = {std::move(standby_delta_), delta};
      standby_->apply_deltas(both);
      applied = true;
    } catch (const std::exception& e) {
      log::error("serve: a serving copy failed to apply a delta ({}); publishing in full",
                 e.what());
    }
  }
  if (!applied) {
    auto old_live = live_;
    publish_full(model, save());
    standby_ = std::move(old_live);  // the old live state + this delta = the new live state
    standby_delta_ = std::move(delta);
    return true;
  }
  auto next = std::move(standby_);
  standby_ = std::exchange(live_, next);
  standby_delta_ = std::move(delta);
  install_(std::move(next));
  ++delta_;
  last_ms_ = ms_since(t0);
  return true;
}

std::optional<std::string> Publisher::live_bytes() const {
  if (!live_) return std::nullopt;
  return models::saved_bytes(*live_);
}

}  // namespace streamrec::train
