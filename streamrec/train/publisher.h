// The publisher (module train): turns the learning model's state into serving copies that
// queries read. A full publish loads a new copy from the model's saved bytes. Models that
// make deltas are published by delta: the standby copy (one publish behind, no longer read
// by queries) applies the delta before and this one and becomes live; the live one becomes
// the standby. So a publish costs the rows that changed, not the whole model, and a copy is
// never written while a query reads it. Each new live copy goes to `install`.
//
// A replica's publisher has no learning model: it installs the full states and deltas a
// leader's publisher made (install_*), with the same live/standby pair.
//
// Thread-safety: publish_*, install_* and live_bytes are called by one thread at a time
// (the engine's learner lock); the counters may be read from any thread. It takes no lock;
// `install` and `published` may.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "streamrec/models/recommender.h"

namespace streamrec::train {

class Publisher {
 public:
  using Install = std::function<void(std::shared_ptr<const models::Recommender>)>;
  // `spec`: the model's spec (copies are made with it).
  Publisher(std::string spec, Install install);

  // Publishes the model state `bytes` (just saved from `model`) in full; `model`'s delta
  // mark moves to that state. nullopt (the model cannot save) installs no copy: queries
  // then read the learning model itself.
  void publish_full(models::Recommender& model, const std::optional<std::string>& bytes);
  // Publishes `model`'s delta since the live copy. Without a free standby, the publish is
  // full (`save` gives the bytes) and the old live copy becomes the standby. False (nothing
  // published) if the model makes no delta now (it cannot, or there is no live copy).
  bool publish_delta(models::Recommender& model,
                     const std::function<std::optional<std::string>()>& save);
  // A replica: the live copy becomes the model of the full state `bytes`; or the live
  // state plus `delta` (Error when it does not apply, e.g. a delta of another model). The
  // published hook is not called.
  void install_full(const std::string& bytes);
  void install_delta(const std::string& delta);
  // Called with what each publish_* made live: the full state or the delta (a leader's
  // replication log keeps them).
  void set_published(std::function<void(bool full, const std::string& bytes)> fn) {
    published_ = std::move(fn);
  }
  // The live copy's saved state, or nullopt when there is none.
  std::optional<std::string> live_bytes() const;

  uint64_t full_publishes() const { return full_; }
  uint64_t delta_publishes() const { return delta_; }
  double last_publish_ms() const { return last_ms_; }

 private:
  const std::string spec_;
  // The standby, brought to the live state plus `delta`, becomes live (the live one the
  // standby, one delta behind). False if the standby is busy or fails to apply it.
  bool swap_in(const std::string& delta);
  // `copy` (null: none) becomes live in full, with no standby.
  void go_live_full(std::shared_ptr<models::Recommender> copy,
                    std::chrono::steady_clock::time_point t0);
  const Install install_;
  std::function<void(bool, const std::string&)> published_;
  std::shared_ptr<models::Recommender> live_, standby_;
  std::string standby_delta_;  // takes the standby to the live state
  std::atomic<uint64_t> full_{0}, delta_{0};
  std::atomic<double> last_ms_{0};
};

}  // namespace streamrec::train
