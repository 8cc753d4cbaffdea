// The Engine's publishing: snapshots, the serving copies (full and by delta), the guard and
// its rollbacks, versions, checkpoints, and the ANN index kept in step with each copy.
#include "streamrec/engine/engine.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <functional>
#include <limits>
#include <numeric>
#include <random>
#include <sstream>
#include <thread>
#include <tuple>
#include <unordered_map>

#include "streamrec/core/clock.h"
#include "streamrec/core/error.h"
#include "streamrec/core/log.h"
#include "streamrec/core/parallel.h"
#include "streamrec/core/runtime_env.h"
#include "streamrec/core/serialize.h"
#include "streamrec/core/simd.h"
#include "streamrec/models/artifact.h"
#include "streamrec/models/registry.h"
#include "streamrec/models/threads.h"
#include "streamrec/serve/batch_scorer.h"
#include "streamrec/serve/pipeline.h"
#include "streamrec/serve/ranker_features.h"
#include "streamrec/train/fit_fresh.h"

#include "streamrec/engine/engine_internal.h"

namespace streamrec::engine {

using data::parse_context;

bool Engine::scores_finite(const models::Recommender& model, uint32_t user, uint32_t users) const {
  // A few users: the batch's first, and a spread over all known users.
  uint32_t n = users;
  if (n == 0) {
    std::shared_lock state(state_mutex_);
    n = users_.users().size();
  }
  std::vector<float> scores(model.num_items());
  for (uint32_t k = 0; k < 8 && n > 0; ++k) {
    const uint32_t u = k == 0 ? std::min(user, n - 1) : (k * 2654435761u) % n;
    model.score_all(u, scores);
    for (float v : scores)
      if (!std::isfinite(v)) return false;
  }
  return true;
}

size_t Engine::learned_count() const {
  std::shared_lock state(state_mutex_);
  return learned_events_.size();
}

std::optional<std::string> Engine::snapshot() {
  if (!can_snapshot_) return std::nullopt;
  try {
    return saved_bytes(*model_);
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::kUnsupported) throw;
    can_snapshot_ = false;
    return std::nullopt;
  }
}

void Engine::publish_serving(const std::optional<std::string>& bytes) {
  publisher_->publish_full(*model_, bytes);
}

void Engine::install_serving(std::shared_ptr<const models::Recommender> copy) {
  if (copy) ann_.offer(copy);
  snapshot_.install(std::move(copy), ranker_->clone());
}

std::optional<std::vector<models::ScoredItem>> Engine::ann_candidates(
    const models::Recommender& model, uint32_t user, size_t n, const std::vector<uint32_t>& exclude,
    const serve::ItemOk& ok) const {
  std::vector<float> query;
  if (!ann_.usable(model.num_items()) || !snapshot_.retrieval_query(model, user, query))
    return std::nullopt;
  return ann_.search(query, n, model.num_items(), exclude, ok);
}

void Engine::guard_and_publish(uint32_t user) {
  // Learner lock held. A model whose scores are not all finite is rolled back to the last
  // published healthy state, the live serving copy (or refitted on the learned events before
  // it if there is none); a healthy one is published, by delta when the model makes them.
  // So a broken model is never published. (The quality guard judges windows after
  // micro-batches, see judge_quality.)
  last_publish_ = std::chrono::steady_clock::now();
  if (!scores_finite(*model_, user)) {
    return roll_back_to(guard_.health_target(
        fmt::format("the model produced non-finite scores after {} learned events",
                    learned_count()),
        guard_.health_fallback_is_live() ? publisher_->live_bytes() : std::nullopt));
  }
  if (!publisher_->publish_delta(*model_, [this] { return snapshot(); })) {
    const auto bytes = snapshot();
    if (!bytes) return;
    publish_serving(bytes);
  }
  guard_.published_healthy(learned_count());
  if (options_.checkpoint_s > 0 && std::chrono::steady_clock::now() - last_checkpoint_ >=
                                       std::chrono::duration<double>(options_.checkpoint_s)) {
    write_checkpoint();
  }
}

void Engine::write_checkpoint() {
  last_checkpoint_ = std::chrono::steady_clock::now();
  if (options_.checkpoint_s <= 0 || erasing_) return;
  try {
    if (!can_snapshot_) return;
    std::vector<std::string> users, items;
    {
      std::shared_lock state(state_mutex_);
      users = users_.users().ids();
      items = users_.items().ids();
    }
    models::write_artifact(checkpoint_path(), options_.model, *model_, users, items, covered_seq_);
  } catch (const Error& e) {
    if (e.kind() == ErrorKind::kUnsupported) {
      can_snapshot_ = false;
      return;
    }
    log::error("serve: writing the model checkpoint '{}' failed: {}", checkpoint_path(), e.what());
  } catch (const std::exception& e) {
    log::error("serve: writing the model checkpoint '{}' failed: {}", checkpoint_path(), e.what());
  }
}

std::unique_ptr<models::Artifact> Engine::read_checkpoint() const {
  const std::string path = checkpoint_path();
  if (options_.checkpoint_s <= 0 || !std::filesystem::exists(path)) return nullptr;
  try {
    auto c = std::make_unique<models::Artifact>(models::read_artifact(path));
    if (c->spec != options_.model) {
      log::warn("serve: checkpoint '{}' is of model {}, not {}: not resuming from it", path,
                c->spec, options_.model);
      return nullptr;
    }
    SR_CHECK(c->covered_seq <= log_.last_seq(), ErrorKind::kCorrupt,
             "it covers event {}, past the log's last ({})", c->covered_seq, log_.last_seq());
    if (!c->model->supports_online() && c->covered_seq < log_.last_seq()) {
      log::info(
          "serve: model {} does not learn online: refitting on the log, not resuming "
          "from checkpoint '{}' (events were logged after it)",
          c->spec, path);
      return nullptr;
    }
    return c;
  } catch (const std::exception& e) {
    log::warn("serve: checkpoint '{}' not used ({}): refitting on the log", path, e.what());
    return nullptr;
  }
}

void Engine::roll_back_to(const train::Guard::Target& to) {
  const auto& [why, target, learned] = to;
  std::unique_ptr<models::Recommender> fresh;
  std::string how;
  {
    std::shared_lock state(state_mutex_);
    // The catalog as it is now, not as it was then.
    const auto prepare = [&](models::Recommender& m) { give_attributes(m); };
    if (!target.empty()) {
      fresh = loaded_model(options_.model, target, "guard snapshot");
      prepare(*fresh);
      how = fmt::format("the snapshot after {} events", learned);
    } else {
      auto events = learned_events_.copy(0, learned);
      fresh = train::fit_fresh(options_.model, users_.users().size(), users_.items().size(),
                               std::move(events), 0, prepare)
                  .model;
      how = fmt::format("a refit on the first {} events", learned);
    }
  }
  adopt(std::move(fresh));
  const auto bytes = snapshot();
  publish_version("guard rollback", learned_count(), bytes);
  publish_serving(bytes);
  metrics_.count_rollback();
  log::error("serve: guard: {}; rolled back to {} (now version {})", why, how, versions_.current());
}

void Engine::publish_version(const std::string& reason, size_t events_learned,
                             const std::optional<std::string>& bytes) {
  // Learner lock held. Records the new version with its snapshot, if the model can save.
  VersionInfo v;
  v.reason = reason;
  v.events_learned = events_learned;
  v.live_hr10 = metrics_.live_means().first;
  versions_.add(std::move(v), bytes);
  note_model_state();  // a new version may be a new model
}

std::vector<VersionInfo> Engine::versions() const { return versions_.list(); }

uint64_t Engine::rollback_to(uint64_t version) {
  std::lock_guard learner(learner_mutex_);
  auto fresh = loaded_model(options_.model, versions_.snapshot(version, options_.model),
                            fmt::format("version {}", version));
  {
    std::shared_lock state(state_mutex_);
    give_attributes(*fresh);  // the catalog as it is now, not as it was then
  }
  adopt(std::move(fresh));
  const auto bytes = snapshot();
  publish_version(fmt::format("rollback to {}", version), learned_count(), bytes);
  publish_serving(bytes);
  start_quality_window(/*rebaseline=*/true, learned_count());
  log::info("serve: rolled back to version {}, now version {}", version, versions_.current());
  return versions_.current();
}

}  // namespace streamrec::engine
