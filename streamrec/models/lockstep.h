// Online learning in lock step over the processes of a DataParallel world (module models;
// `serve` on MPI ranks): the root's engine keeps its learning model wrapped by `wrap()`, a
// Recommender that forwards every call to the model it holds and queues each call that
// changes it (the model's whole state when it is adopted, observe, flush, item attributes,
// expire). The queue goes to the other processes just before the root's model makes an
// online step (DataParallel::begin_online_step) and at stop(); each of them runs
// follow_root(), which makes the same calls on its own copy, so every process's model makes
// the same collective steps in the same order, and the root's holds the whole model after
// each (SeqModel's to_root). The other processes keep no engine, log or server.
//
// Thread-safety: not thread-safe; the root's learner thread (which holds the engine's
// learner lock for every call that changes the model) drives it, and the collectives run
// on that thread. A model adopted must save (its state is what the others start from).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "streamrec/models/recommender.h"

namespace streamrec::models {

class DataParallel;

class Lockstep {
 public:
  // Root side.
  explicit Lockstep(DataParallel& world);
  ~Lockstep();
  Lockstep(const Lockstep&) = delete;
  Lockstep& operator=(const Lockstep&) = delete;

  // The model the root learns with from now on: a copy of `model` of `spec` (fitted or
  // loaded; not attached to the world yet) loaded from the state queued for the others,
  // attached to the world for its online steps. Error(kInvalidInput) when it cannot learn
  // on the world (or was trained with differential privacy). The queue holds the calls
  // since the last online step: a model on the world calls begin_online_step() before each
  // step and at a flush that makes none (seq: federated), so at most a micro-batch's. The
  // wrapped model is not refitted, loaded or updated by deltas in place (kUnsupported): the
  // engine adopts a new model instead, which is wrapped in turn.
  std::unique_ptr<Recommender> wrap(std::unique_ptr<Recommender> model, const std::string& spec);
  // Sends what is queued and tells the others to return from follow_root. Idempotent.
  void stop();
  // The other processes: applies the root's calls to a model of the root's spec until the
  // root stops. Error(kCorrupt) for bytes that do not parse (the job then ends).
  static void follow_root(DataParallel& world);

 private:
  class Wrapped;
  // Queues call `call` with what `write` writes of it.
  template <typename Fn>
  void queue(uint8_t call, Fn&& write);
  // Queues `model`'s spec and whole state (returned): the others' models become copies.
  std::string adopt(Recommender& model, const std::string& spec);
  void send();
  DataParallel& world_;
  std::string queue_;  // encoded calls not sent yet
  uint64_t queued_ = 0;
  bool stopped_ = false;
};

}  // namespace streamrec::models
