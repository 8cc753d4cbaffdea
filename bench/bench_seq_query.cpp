// Request-path cost of the seq model: encoding one user's sequence for retrieval
// (retrieval_query on a stale user, as after every online step) and scoring every item
// (score_all: the encoding plus a pass over the item matrix, 12.8 MB at 100k items x 32
// dims), on a generated catalog; encoding users in batches of 4 and 16 (retrieval_queries,
// per user); and the server's publish (a snapshot by save, the serving
// copy by load). Prints one JSON line per case, the best of 6 rounds:
// {"bench": "seq_query", "case": ..., "us_per_call": ..., "ratio_vs_encode": ...} and
// {"bench": "seq_publish", "snapshot_mb": ..., "save_ms": ..., "load_ms": ...}; and the
// publish by delta after `events` learned events (the server's standby copy applies two):
// {"bench": "seq_publish_delta", "delta_mb": ..., "save_ms": ..., "apply_two_ms": ...}.
//   bench_seq_query [items] [users] [calls] [events]
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "streamrec/core/runtime_env.h"
#include "streamrec/core/serialize.h"
#include "streamrec/data/generator.h"
#include "streamrec/models/registry.h"
#include "streamrec/models/seq.h"

using namespace streamrec;

int main(int argc, char** argv) {
  configure_runtime(argc, argv);
  const uint32_t items = argc > 1 ? static_cast<uint32_t>(std::atoi(argv[1])) : 100000;
  const uint32_t users = argc > 2 ? static_cast<uint32_t>(std::atoi(argv[2])) : 20000;
  const int calls = argc > 3 ? std::atoi(argv[3]) : 2000;
  data::GeneratorOptions g;
  g.users = users;
  g.items = items;
  g.events = 5 * static_cast<size_t>(users);
  const auto ds = data::generate(g);
  const std::string spec = "seq:maxlen=50,dim=32,epochs=1,eval_every=1,negatives=1000";
  auto model = models::make_model(spec);
  model->fit(models::TrainData(ds.num_users(), ds.num_items(), ds.events, &ds));
  auto* seq = dynamic_cast<models::SeqModel*>(model.get());
  if (!seq) return 1;
  std::vector<float> query, scores(model->num_items());
  // One online event marks every user stale, as each learner step does in the server.
  const auto stale = [&] {
    model->observe(ds.events.front());
    model->flush();
  };
  // Cases: encode one user a call, score_all, and encode users in batches of 4 and 16
  // (retrieval_queries, as the server's concurrent requests share one); per user.
  constexpr int kCases = 4;
  const char* names[kCases] = {"encode", "score_all", "encode_batch4", "encode_batch16"};
  const size_t batch[kCases] = {1, 1, 4, 16};
  double best[kCases] = {1e30, 1e30, 1e30, 1e30};
  std::vector<uint32_t> group;
  for (int round = 0; round < 6; ++round)
    for (int what = 0; what < kCases; ++what) {
      stale();
      const auto t0 = std::chrono::steady_clock::now();
      for (int c = 0; c < calls; ++c) {
        const uint32_t user = static_cast<uint32_t>((c * 7919u) % ds.num_users());
        if (what == 0) {
          seq->retrieval_query(user, query);
        } else if (what == 1) {
          model->score_all(user, scores);
        } else {
          group.push_back(user);
          if (group.size() == batch[what] || c + 1 == calls) {
            seq->retrieval_queries(group);
            group.clear();
          }
        }
      }
      const double us =
          std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() /
          calls;
      best[what] = std::min(best[what], us);
    }
  for (int what = 0; what < kCases; ++what)
    fmt::print(
        "{{\"bench\": \"seq_query\", \"case\": \"{}\", \"items\": {}, \"us_per_call\": "
        "{:.1f}, \"ratio_vs_encode\": {:.3f}}}\n",
        names[what], items, best[what], best[what] / best[0]);

  // The server's publish: a snapshot of the learning model (save) and the serving copy
  // made from it (load), once a second by default.
  double best_save = 1e30, best_load = 1e30;
  size_t bytes = 0;
  for (int round = 0; round < 6; ++round) {
    const auto t0 = std::chrono::steady_clock::now();
    std::ostringstream out;
    BinaryWriter w(out);
    model->save(w);
    const std::string snapshot = out.str();
    const auto t1 = std::chrono::steady_clock::now();
    auto copy = models::make_model(spec);
    std::istringstream in(snapshot);
    BinaryReader r(in, "snapshot");
    copy->load(r);
    const auto t2 = std::chrono::steady_clock::now();
    best_save = std::min(best_save, std::chrono::duration<double, std::milli>(t1 - t0).count());
    best_load = std::min(best_load, std::chrono::duration<double, std::milli>(t2 - t1).count());
    bytes = snapshot.size();
  }
  fmt::print(
      "{{\"bench\": \"seq_publish\", \"items\": {}, \"snapshot_mb\": {:.1f}, \"save_ms\": "
      "{:.1f}, \"load_ms\": {:.1f}}}\n",
      items, bytes / 1e6, best_save, best_load);

  // The same publish by delta, as the server makes it: `events` learned since the last
  // publish (a second at that rate), the delta saved, and the standby copy (one publish
  // behind) brought up to date by the previous delta and this one.
  const size_t events = argc > 4 ? static_cast<size_t>(std::atoi(argv[4])) : 1000;
  auto load_copy = [&] {
    std::ostringstream out;
    BinaryWriter w(out);
    model->save(w);
    auto copy = models::make_model(spec);
    std::istringstream in(out.str());
    BinaryReader r(in, "snapshot");
    copy->load(r);
    return copy;
  };
  auto live = load_copy(), standby = load_copy();
  model->mark_delta();
  std::string standby_delta;  // takes standby to live's state
  double best_delta_save = 1e30, best_apply = 1e30;
  size_t delta_bytes = 0, next_event = 0;
  for (int round = 0; round < 7; ++round) {
    for (size_t e = 0; e < events; ++e, ++next_event) {
      auto ev = ds.events[(next_event * 7919u) % ds.events.size()];
      ev.timestamp = ds.events.back().timestamp + static_cast<int64_t>(next_event);
      model->observe(ev);
    }
    model->flush();
    const auto t0 = std::chrono::steady_clock::now();
    std::ostringstream out;
    BinaryWriter w(out);
    model->save_delta(w);
    model->mark_delta();
    std::string delta = std::move(out).str();
    const auto t1 = std::chrono::steady_clock::now();
    if (standby_delta.empty()) {  // the first round: the standby is at the live state
      standby->apply_deltas(std::span(&delta, 1));
    } else {
      const std::string both[] = {standby_delta, delta};
      standby->apply_deltas(both);
    }
    const auto t2 = std::chrono::steady_clock::now();
    std::swap(live, standby);
    standby_delta = std::move(delta);
    if (round == 0) continue;  // (one delta applied, not two)
    best_delta_save =
        std::min(best_delta_save, std::chrono::duration<double, std::milli>(t1 - t0).count());
    best_apply = std::min(best_apply, std::chrono::duration<double, std::milli>(t2 - t1).count());
    delta_bytes = standby_delta.size();
  }
  fmt::print(
      "{{\"bench\": \"seq_publish_delta\", \"items\": {}, \"events_between\": {}, "
      "\"delta_mb\": {:.2f}, \"save_ms\": {:.1f}, \"apply_two_ms\": {:.1f}, "
      "\"ratio_vs_full\": {:.3f}}}\n",
      items, events, delta_bytes / 1e6, best_delta_save, best_apply,
      (best_delta_save + best_apply) / (best_save + best_load));
  return 0;
}
