// A fit that trains data-parallel (module models; dist implements it over MPI ranks): every
// global batch is cut into `shares()` contiguous shares, and a process trains the shares
// `mine()` names (an MPI rank: its own; `LocalShares`: all of them, one after the other).
// Dense gradients are summed over the shares (`sum`), item rows live sharded by key and are
// reached through gather_rows / push_gradients + apply_gradients, which a step calls in the
// same order on every rank (they are collective under MPI).
//
// Equivalence: after one step, the rows of an MPI run and of `LocalShares` of the same
// share count are bit for bit equal (each owner sums a key's gradients in share order), and
// so are the dense gradients on 2 ranks (a + b is commutative; with more ranks, MPI's
// reduction order may round differently). Not thread-safe: the fitting thread owns it.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

namespace streamrec::embedding {
class EmbeddingTable;
}

namespace streamrec::models {

class DataParallel {
 public:
  // What a fit moved and waited for, this process's share (bytes sent).
  struct Traffic {
    uint64_t row_bytes = 0;       // keys and rows of gathers (requests + replies)
    uint64_t gradient_bytes = 0;  // keys and row gradients sent to their owners
    uint64_t reduce_bytes = 0;    // dense gradients and counters all-reduced
    uint64_t root_bytes = 0;      // rows an online step changed, sent to the root (to_root)
    uint64_t call_bytes = 0;      // the root's bytes broadcast to the others (from_root)
    uint64_t steps = 0;
    double comm_seconds = 0;  // inside collectives (waiting for the slowest rank included)
  };

  virtual ~DataParallel() = default;
  virtual int shares() const = 0;
  virtual std::vector<int> mine() const = 0;
  // Whether this process is the root (rank 0: it serves, scores and writes).
  virtual bool root() const = 0;
  // Collective: element-wise sum over the processes, in place.
  virtual void sum(std::span<float> values) = 0;
  virtual void sum(std::span<double> values) = 0;
  // Collective: rows of `keys` (this process's) from their owners' shards; `train` admits
  // and stamps them as EmbeddingTable::gather_train. `out` holds keys.size() * dim floats.
  virtual void gather_rows(embedding::EmbeddingTable& shard, std::span<const uint64_t> keys,
                           bool train, std::span<float> out) = 0;
  // Queues row gradients of this process's keys (duplicates summed at the owner, in order);
  // apply_gradients (collective) sends them to their owners, which apply them as one step.
  void push_gradients(std::span<const uint64_t> keys, std::span<const float> grads);
  virtual void apply_gradients(embedding::EmbeddingTable& shard) = 0;
  // Collective, after the fit: every process's `shard` becomes the whole table.
  virtual void unshard(embedding::EmbeddingTable& shard) = 0;
  // Collective, after an online step: the rows each process's shard changed since its
  // last to_root (or the fit's unshard) are written into the root's table, which then
  // holds the whole model again (EmbeddingTable::merge_delta_bytes: its own delta goes on).
  virtual void to_root(embedding::EmbeddingTable& shard) = 0;
  // Collective: a value every process takes from the root (keeps decisions in step).
  virtual double from_root(double value) = 0;
  // Collective: every process ends with the root's `bytes` (any length).
  virtual void from_root(std::string& bytes) = 0;
  // Online learning in lock step (lockstep.h): `fn` runs on this process before each online
  // step's first collective (a model calls begin_online_step()); empty: nothing runs.
  void before_online_step(std::function<void()> fn) { before_online_step_ = std::move(fn); }
  void begin_online_step() {
    if (before_online_step_) before_online_step_();
  }
  // A model calls it once at the end of each training step (Traffic::steps).
  void end_step() { ++traffic_.steps; }
  const Traffic& traffic() const { return traffic_; }

 protected:
  std::vector<uint64_t> pushed_keys_;
  std::vector<float> pushed_grads_;
  Traffic traffic_;

 private:
  std::function<void()> before_online_step_;
};

// One process playing `shares` ranks: the same arithmetic as an MPI run of as many ranks
// (rows bit for bit; dense sums in share order), for tests and for reproducing a
// distributed fit on one machine. The table is not sharded.
class LocalShares final : public DataParallel {
 public:
  explicit LocalShares(int shares) : shares_(shares) {}
  int shares() const override { return shares_; }
  std::vector<int> mine() const override;
  bool root() const override { return true; }
  void sum(std::span<float>) override {}
  void sum(std::span<double>) override {}
  void gather_rows(embedding::EmbeddingTable& shard, std::span<const uint64_t> keys, bool train,
                   std::span<float> out) override;
  void apply_gradients(embedding::EmbeddingTable& shard) override;
  void unshard(embedding::EmbeddingTable&) override {}
  void to_root(embedding::EmbeddingTable&) override {}
  double from_root(double value) override { return value; }
  void from_root(std::string&) override {}

 private:
  int shares_;
};

// The [begin, end) of share `s` of `n` items cut into `shares` contiguous shares (the first
// n % shares shares one longer).
std::pair<size_t, size_t> share_range(size_t n, int shares, int s);
// The share that owns `user` in online learning (a hash of the index: users spread evenly
// whatever order their ids came in).
int user_share(uint32_t user, int shares);
// The items of `all` in `world`'s shares for this process, in order (all of them without a
// world).
std::vector<uint32_t> my_shares(const DataParallel* world, std::span<const uint32_t> all);

}  // namespace streamrec::models
