// An embedding table sharded by key across MPI ranks (module dist): each key's row, with
// its optimizer state, lives on one rank, its owner. A batch call is collective: every rank
// passes its own keys, they travel to their owners in one all-to-all, the owners run the
// local table's gather_train / gather / apply_gradients on what they received (in rank
// order), and rows travel back in a second all-to-all.
//
// Equivalence: after the same calls, a rank's rows are bit for bit those one
// EmbeddingTable would hold had it received every rank's batch, concatenated in rank order
// (duplicate keys are summed in that order too). tests/dist checks it on 1 and 3 ranks.
// Capacity eviction is per shard (each shard evicts by its own rows), so a capacity-bound
// table differs from one table there; TTL eviction does not.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "streamrec/dist/comm.h"
#include "streamrec/embedding/table.h"

namespace streamrec::dist {

class ShardedTable {
 public:
  ShardedTable(const Comm& comm, embedding::TableConfig config);
  // Over `shard`, a table the caller owns (it must outlive this) and fills only through
  // this object while it shards.
  ShardedTable(const Comm& comm, embedding::EmbeddingTable& shard);

  uint32_t dim() const { return local_.dim(); }
  int owner(uint64_t key) const;

  // Collective, as EmbeddingTable::gather_train / gather / apply_gradients of this rank's
  // keys; `out` and `grads` are keys.size() * dim floats. Keys without a row read the
  // default and take no gradient, as locally.
  void gather_train(std::span<const uint64_t> keys, int64_t now, std::span<float> out);
  void gather(std::span<const uint64_t> keys, std::span<float> out);
  void apply_gradients(std::span<const uint64_t> keys, std::span<const float> grads, int64_t now);
  // Collective: TTL eviction on every shard; returns the rows evicted over all ranks.
  uint64_t evict_expired(int64_t now);

  // Collective checkpoint in directory `dir` (one file system all ranks see): each rank
  // writes its shard (`shard-R-of-N.embtable`, a full table checkpoint), then rank 0 the
  // manifest (`shards`, last: a directory with a manifest is complete). load() replaces the
  // table's contents with the checkpoint's, on any number of ranks: each rank reads every
  // shard file and keeps the keys it owns now, bit for bit (last-seen times included).
  void save(const std::string& dir) const;
  void load(const std::string& dir);
  // Writes the manifest of `shards` shard files of tables of `dim` (what save() writes last).
  static void write_manifest(const std::string& dir, uint32_t shards, uint32_t dim);
  static std::string shard_path(const std::string& dir, uint32_t shard, uint32_t shards);

  // This rank's shard (its own calls are local: checkpoints, export, stats of the shard).
  embedding::EmbeddingTable& local() { return local_; }
  const embedding::EmbeddingTable& local() const { return local_; }
  // Bytes this rank sent to other ranks: keys (requests), rows (replies), gradients.
  struct Sent {
    uint64_t keys = 0, rows = 0, gradients = 0;
  };
  const Sent& sent() const { return sent_; }
  // Collective: rows and bytes summed over the shards.
  embedding::TableStats stats() const;

 private:
  // Where this rank's keys go: positions grouped by owner (stable), the counts each way,
  // and the keys this rank owns from every rank's batch, in rank order.
  struct Route {
    std::vector<uint32_t> order;
    std::vector<int> send_counts, recv_counts;
    std::vector<uint64_t> received;
  };
  Route route(std::span<const uint64_t> keys);
  // Sends each received key's row back to the rank that asked, into `out` at its positions.
  void reply(const Route& r, std::span<const float> rows, std::span<float> out);

  // Bytes of `counts` elements of `size` bytes bound for other ranks.
  uint64_t off_rank(const std::vector<int>& counts, size_t size) const;

  const Comm& comm_;
  std::unique_ptr<embedding::EmbeddingTable> owned_;  // null over a caller's shard
  embedding::EmbeddingTable& local_;
  std::vector<float> rows_;  // scratch: the rows of the received keys
  Sent sent_;
};

}  // namespace streamrec::dist
