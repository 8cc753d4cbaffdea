// The Engine's fits: the start's rebuild from the log (or a checkpoint), the background
// retrain with its catch-up, the scheduler that starts retrains, and user deletion.
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
#include "streamrec/core/text.h"
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

void Engine::add_to_state(uint32_t u, uint32_t i, int64_t counted, store::LoggedEvent e) {
  item_stats_.count_event(i, counted, e.context);
  item_stats_.count_transitions(i, users_.last_items(u, 3));
  users_.add(u, i, std::move(e));
}

Engine::Rebuilt Engine::rebuild_state(uint64_t covered_seq) {
  std::vector<store::LoggedEvent> logged;
  std::vector<uint64_t> seqs;
  log_.scan(1, [&](uint64_t seq, const store::LoggedEvent& e) {
    logged.push_back(e);
    seqs.push_back(seq);
    return true;
  });
  std::vector<size_t> order(logged.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return logged[a].timestamp < logged[b].timestamp; });
  // The state (ids, histories, counters) takes every logged event, in time order; the model
  // the ones it covers: all of them, or (resuming) those up to the checkpoint. The learner
  // learns the later ones (`replayed`: their state is counted here).
  std::vector<data::Interaction> events;
  std::vector<data::Interaction> all(logged.size());
  std::vector<train::Queued> to_learn;
  const auto now = std::chrono::steady_clock::now();
  for (size_t x : order) {
    const uint32_t u = users_.users().insert(logged[x].user),
                   i = users_.items().insert(logged[x].item);
    all[x] = to_interaction(u, i, logged[x]);
    if (seqs[x] > covered_seq)
      to_learn.push_back({u, logged[x], now, seqs[x], /*replayed=*/true});
    else
      events.push_back(all[x]);
  }
  // Catalog items without events get ids after those with events.
  catalog_.scan_items([&](const store::ItemRecord& r) {
    const uint32_t i = users_.items().insert(r.id);
    item_stats_.ensure(i);
    item_stats_.set_record(i, r);
  });
  const int64_t clock = unix_seconds();  // counters never take a time past the clock
  for (size_t x : order)
    add_to_state(all[x].user, all[x].item, std::min(logged[x].timestamp, clock),
                 std::move(logged[x]));
  // The learner takes them in log order.
  std::sort(to_learn.begin(), to_learn.end(),
            [](const train::Queued& a, const train::Queued& b) { return a.seq < b.seq; });
  return {std::move(events), std::move(to_learn)};
}

void Engine::refit_from_log(const std::string& reason, std::unique_ptr<models::Artifact> resume) {
  // Rebuilds ids, histories and popularity from the log and fits a fresh model on it; or,
  // resuming, takes the checkpoint's model and ids, rebuilds the state of the events it
  // covers and queues the later ones for the learner.
  std::lock_guard learner(learner_mutex_);
  std::unique_lock lock(state_mutex_);
  // Ids are rebuilt: older versions' snapshots no longer match them (and after a deletion
  // they would hold the deleted user's data), nor does the ANN index.
  versions_.forget();
  ann_.ids_rebuilt();
  replication_reset_ = true;  // replicas take a new snapshot
  // The fusion ranker learned from the events' live checks: it starts over too (a deletion
  // must leave no trace of the user in it).
  ranker_ = std::make_unique<models::FusionRanker>();
  ranker_x_.clear();
  ranker_y_.clear();
  ranker_steps_ = 0;
  ranker_ahead_ = false;
  if (resume)
    users_.reset(resume->users, resume->items);
  else
    users_.reset({}, {});
  item_stats_.clear();
  auto [events, to_learn] = rebuild_state(resume ? resume->covered_seq : UINT64_MAX);
  std::unique_ptr<models::Recommender> fresh;
  if (resume) {
    fresh = std::move(resume->model);
    give_attributes(*fresh);
  }
  const auto n_events = events.size();
  learned_events_.assign(events);
  guard_.refitted(learned_events_.size());  // the guards' fallback: a refit on these events
  if (!resume && n_events > 0)
    log::info("serve: fitting model {} on {} logged events ({})", options_.model, n_events, reason);
  if (!resume)
    fresh =
        train::fit_fresh(options_.model, users_.users().size(), users_.items().size(),
                         std::move(events), 0, [&](models::Recommender& m) { give_attributes(m); })
            .model;
  adopt(std::move(fresh));
  covered_seq_ = resume ? resume->covered_seq : log_.last_seq();
  learned_ahead_.clear();
  const auto bytes = snapshot();
  start_quality_window(/*rebaseline=*/true, learned_events_.size());
  const std::string why = resume ? fmt::format("{}: checkpoint of {} events + {} from the log",
                                               reason, n_events, to_learn.size())
                                 : reason;
  publish_version(why, learned_events_.size(), bytes);
  publish_serving(bytes);
  if (resume) {
    last_checkpoint_ = std::chrono::steady_clock::now();
    log::info(
        "serve: model {} resumed from its checkpoint of {} logged events; {} logged after it "
        "are learned now ({} users, {} items)",
        options_.model, n_events, to_learn.size(), users_.users().size(), users_.items().size());
    queue_.restart(n_events, std::move(to_learn));
  } else {
    queue_.restart(n_events, {});
    log::info("serve: model {} fitted on {} logged events ({} users, {} items)", options_.model,
              n_events, users_.users().size(), users_.items().size());
    lock.unlock();  // (write_checkpoint reads the ids under the state lock)
    erasing_ = false;
    write_checkpoint();
  }
  if (!model_->supports_online())
    log::warn(
        "serve: model {} does not learn online: it changes only with retrains "
        "(--retrain-every or POST /v1/model/retrain)",
        options_.model);
}

bool Engine::start_retrain(bool scheduled) { return retrainer_.start(scheduled); }

size_t Engine::catch_up_and_swap(std::unique_ptr<models::Recommender> fresh, size_t fitted,
                                 uint64_t version) {
  // Catch up on what was learned meanwhile: most of it with only a read lock on the state,
  // the rest under the learner lock, then swap and publish. A new version meanwhile (a
  // deletion, a rollback) voids the result.
  size_t done = fitted;
  for (int pass = 0; pass < 2; ++pass) {
    std::unique_lock<std::mutex> learner(learner_mutex_, std::defer_lock);
    if (pass == 1) learner.lock();
    std::vector<data::Interaction> more;
    {
      std::shared_lock state(state_mutex_);
      SR_CHECK(versions_.current() == version, ErrorKind::kInvalidInput,
               "the model was replaced during the retrain; retrain again");
      more = learned_events_.copy(done, learned_events_.size());
      done = learned_events_.size();
      if (pass == 1) give_attributes(*fresh);  // catalog changes during the retrain
    }
    for (const auto& e : more) fresh->observe(e);
    fresh->flush();
    if (pass == 1) {  // still under the learner lock: swap and publish
      adopt(std::move(fresh));
      const auto bytes = snapshot();
      publish_version("retrain", done, bytes);
      publish_serving(bytes);
      start_quality_window(/*rebaseline=*/true, done);
    }
  }
  return done;
}

void Engine::retrain(train::RetrainStatus& status) {
  lower_thread_priority(options_.background_nice, options_.background_idle);
  // 1. Snapshot (exclusive lock, brief): the events learned so far and the id counts.
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<data::Interaction> events;
  uint32_t n_users = 0, n_items = 0;
  uint64_t version = 0;
  size_t upto = 0;  // the position (learned since the refit) the fit covers
  {
    std::lock_guard learner(learner_mutex_);
    std::shared_lock state(state_mutex_);
    upto = learned_events_.size();
    events = learned_events_.copy(0, upto);
    n_users = users_.users().size();
    n_items = users_.items().size();
    version = versions_.current();
  }
  const size_t fitted = events.size();
  // 2. Fit a fresh model without any lock: serving and online learning go on. The newest
  //    events are held out of the fit, then tested and learned in order.
  auto fit = train::fit_fresh(options_.model, n_users, n_items, std::move(events),
                              std::min(options_.retrain_holdout, fitted / 10),
                              [&](models::Recommender& m) {
                                std::shared_lock state(state_mutex_);
                                give_attributes(m);
                              });
  status.events_fitted = fitted;
  status.holdout_hr10 = fit.holdout_hr10;
  status.holdout_checks = fit.holdout_checks;
  status.live_hr10 = metrics_.live_means().first;
  // 3. Accept only a healthy model that holds up against the live one on the held-out events.
  if (const auto why = retrain_refusal(status, *fit.model, n_users)) {
    log::warn("serve: retrain refused: {}; the live model stays", *why);
    return;
  }
  status.events_caught_up = catch_up_and_swap(std::move(fit.model), upto, version) - upto;
  status.accepted = true;  // (not when the swap failed: the model was replaced meanwhile)
  log::info("serve: retrained {} on {} events in {:.1f} s, caught up {} events, now version {}",
            options_.model, fitted,
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(),
            status.events_caught_up, model_version());
}

std::optional<std::string> Engine::retrain_refusal(const train::RetrainStatus& s,
                                                   const models::Recommender& fresh,
                                                   uint32_t users) const {
  constexpr uint64_t kMinChecks = 30;
  if (users > 0 && !scores_finite(fresh, 0, users))
    return "the fresh model's scores are not all finite";
  // Few held-out checks are no evidence against a live model that has been checked more.
  if (s.holdout_checks < kMinChecks && metrics_.live_checks() >= kMinChecks)
    return fmt::format(
        "only {} held-out checks (at least {} needed against a live model "
        "with {}; see --retrain-holdout)",
        s.holdout_checks, kMinChecks, metrics_.live_checks());
  if (s.holdout_checks >= kMinChecks &&
      s.holdout_hr10 < (1 - options_.retrain_margin) * s.live_hr10)
    return fmt::format(
        "HR@10 {:.4f} on {} held-out checks is below {:.0f}% of the live "
        "model's {:.4f}",
        s.holdout_hr10, s.holdout_checks, 100 * (1 - options_.retrain_margin), s.live_hr10);
  return std::nullopt;
}

void Engine::sampler_loop() {
  EngineStats last = stats();
  auto last_at = std::chrono::steady_clock::now();
  std::mutex sleep_mutex;
  std::unique_lock sleep_lock(sleep_mutex);
  for (;;) {
    sampler_cv_.wait_for(sleep_lock, std::chrono::seconds(1), [&] { return stopping_.load(); });
    if (stopping_) return;
    const EngineStats now = stats();
    const auto at = std::chrono::steady_clock::now();
    if (options_.retrain_every_s > 0) {
      const auto status = retrain_status();
      const int64_t since_ms = (status.finished_ms > 0 ? status.finished_ms : start_ms_.load()) +
                               options_.retrain_every_s * 1000;
      if (!status.running && now.events_learned > 0 && unix_ms() >= since_ms)
        start_retrain(/*scheduled=*/true);
    }
    const double dt = std::chrono::duration<double>(at - last_at).count();
    auto p = history_point(unix_ms(), now, last, dt);
    metrics_.add_point(std::move(p));
    last = now;
    last_at = at;
  }
}

std::optional<uint64_t> Engine::erase_user(const std::string& user) {
  wait_learned();
  bool known = false;
  {
    std::shared_lock state(state_mutex_);
    known = users_.users().find(user) != IdMap::kMissing;
  }
  if (!known) {  // no events learned: no model trace, no refit (and no versions dropped)
    if (!catalog_.erase_user(user)) return std::nullopt;
    log::info("serve: deleted the record of user {} (no events)", text::quote(user, 100));
    return 0;
  }
  // The checkpoint holds the user's data: gone before the log forgets them (the refit
  // writes a new one).
  erasing_ = true;  // no checkpoint until the refit's (a publish could write the user back)
  std::filesystem::remove(checkpoint_path());
  const uint64_t n = log_.erase_user(user);
  catalog_.erase_user(user);
  refit_from_log("deletion");
  return n;
}

}  // namespace streamrec::engine
