#include "streamrec/train/publisher.h"

#include <chrono>
#include <sstream>
#include <utility>

#include "streamrec/core/error.h"
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
  go_live_full(std::move(copy), t0);
  if (published_ && bytes) published_(true, *bytes);
}

void Publisher::go_live_full(std::shared_ptr<models::Recommender> copy,
                             std::chrono::steady_clock::time_point t0) {
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
  if (!swap_in(delta)) {
    auto old_live = live_;
    publish_full(model, save());
    standby_ = std::move(old_live);  // the old live state + this delta = the new live state
    standby_delta_ = std::move(delta);
    return true;
  }
  if (published_) published_(false, standby_delta_);
  ++delta_;
  last_ms_ = ms_since(t0);
  return true;
}

bool Publisher::swap_in(const std::string& delta) {
  // Free: only this pointer holds it (queries and the ANN thread hold the live copies they
  // read). The acquire fence orders their last reads of it before the writes below.
  if (!standby_ || standby_.use_count() != 1) return false;
  std::atomic_thread_fence(std::memory_order_acquire);
  try {
    const std::string both[] = {std::move(standby_delta_), delta};
    standby_->apply_deltas(both);
  } catch (const std::exception& e) {
    log::error("serve: a serving copy failed to apply a delta ({}); publishing in full", e.what());
    standby_ = nullptr;
    return false;
  }
  auto next = std::move(standby_);
  standby_ = std::exchange(live_, next);
  standby_delta_ = delta;
  install_(std::move(next));
  return true;
}

void Publisher::install_full(const std::string& bytes) {
  const auto t0 = std::chrono::steady_clock::now();
  go_live_full(models::loaded_model(spec_, bytes, "leader's model"), t0);
}

void Publisher::install_delta(const std::string& delta) {
  SR_CHECK(live_, ErrorKind::kInvalidInput, "a delta arrived before any full state");
  const auto t0 = std::chrono::steady_clock::now();
  if (!swap_in(delta)) {  // a fresh copy of the live state takes the delta
    std::shared_ptr<models::Recommender> copy =
        models::loaded_model(spec_, models::saved_bytes(*live_), "serving copy");
    const std::string one[] = {delta};
    copy->apply_deltas(one);
    standby_ = std::exchange(live_, copy);
    standby_delta_ = delta;
    install_(std::move(copy));
  }
  ++delta_;
  last_ms_ = ms_since(t0);
}

std::optional<std::string> Publisher::live_bytes() const {
  if (!live_) return std::nullopt;
  return models::saved_bytes(*live_);
}

}  // namespace streamrec::train
