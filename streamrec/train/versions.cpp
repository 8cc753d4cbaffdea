#include "streamrec/train/versions.h"

#include <algorithm>

#include "streamrec/core/clock.h"
#include "streamrec/core/error.h"

namespace streamrec::train {

uint64_t Versions::add(VersionInfo info, const std::optional<std::string>& snapshot) {
  std::lock_guard lock(mutex_);
  info.version = ++current_;
  info.created_ms = unix_ms();
  info.restorable = snapshot.has_value();
  kept_.push_back({info, snapshot.value_or("")});
  while (kept_.size() > keep_) kept_.pop_front();
  return info.version;
}

std::vector<VersionInfo> Versions::list() const {
  std::lock_guard lock(mutex_);
  std::vector<VersionInfo> out;
  for (const auto& [info, bytes] : kept_) out.push_back(info);
  return out;
}

std::string Versions::snapshot(uint64_t version, const std::string& model) const {
  std::lock_guard lock(mutex_);
  const auto it = std::find_if(kept_.begin(), kept_.end(),
                               [&](const auto& v) { return v.first.version == version; });
  SR_INPUT_CHECK(it != kept_.end(), "version {} is not kept (see /v1/model/versions)", version);
  SR_CHECK(it->first.restorable, ErrorKind::kUnsupported,
           "version {} has no snapshot: model {} cannot save its state", version, model);
  return it->second;
}

void Versions::forget() {
  std::lock_guard lock(mutex_);
  kept_.clear();
}

}  // namespace streamrec::train
