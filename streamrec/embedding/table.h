// The dynamic embedding table: collisionless, self-growing, with per-row optimizer state.
//
// Keys are 64-bit (see keys.h); each admitted key owns one row of `dim` floats, followed in
// memory by its optimizer slots and preceded by a 16-byte header (key; seqlock counter and
// saturating 16-bit update count; last-seen event time). Rows live in fixed chunks that never move;
// an open-addressing index (linear probing, 8-byte slots holding a 32-bit key fingerprint and the
// row id) maps keys to rows.
//
// Thread-safety: ONE writer thread calls the non-const methods (gather_train,
// apply_gradients, evict_*, erase, mark, checkpoint load/apply); ANY number of reader threads
// may call gather()/contains()/stats() at the same time. Readers never block the writer and
// never see a torn row: rows are published under a per-row seqlock and read with atomic
// loads; the index is replaced (when it grows) by publishing a new one through a shared
// pointer, the old one staying alive while readers hold it. A reader may miss a key
// inserted after it took its index snapshot (it then reads the default), never more.
// Checkpoint writing (save_full/save_delta) is const but must not run concurrently with the
// writer: call it from the writer thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "streamrec/embedding/optimizer.h"

namespace streamrec {
class BinaryWriter;
class BinaryReader;
}  // namespace streamrec

namespace streamrec::embedding {

struct TableConfig {
  enum class Init { kZeros, kUniform, kNormal };
  enum class Policy { kLru, kLfu };

  uint32_t dim = 64;
  OptimizerConfig optimizer;
  // New rows: deterministic per key (seeded by key and `seed`), so a row's initial value does
  // not depend on insertion order or on which shard holds it.
  Init init = Init::kNormal;
  float init_scale = 0.01f;  // normal: std dev; uniform: half-width
  uint64_t seed = 0;
  // Admission: a key gets a row at its `admit_after`-th sighting in training; with
  // admit_probability < 1, each sighting admits it with that probability instead.
  uint32_t admit_after = 1;
  float admit_probability = 1.0f;
  // Eviction: rows unseen for `ttl_seconds` of event time expire (evict_expired); with a
  // capacity, inserting past it first evicts `evict_fraction` of the rows by LRU or LFU.
  int64_t ttl_seconds = 0;  // 0 = no TTL
  uint64_t capacity = 0;    // 0 = unbounded
  Policy policy = Policy::kLru;
  float evict_fraction = 0.05f;
  // What a missing or not-yet-admitted key reads; empty = zeros.
  std::vector<float> default_row;
};

struct TableStats {
  uint64_t rows = 0;  // live rows
  uint64_t allocated_rows = 0;
  uint64_t pending_keys = 0;  // seen, not yet admitted
  uint64_t index_slots = 0;
  uint64_t bytes = 0;      // rows allocated + index + pending map (estimate)
  uint64_t raw_bytes = 0;  // rows * dim * 4 * (1 + optimizer slots)
  uint64_t admitted = 0, evicted = 0;
  double overhead_bytes_per_row() const;
};

class EmbeddingTable {
 public:
  explicit EmbeddingTable(TableConfig config);
  ~EmbeddingTable();
  EmbeddingTable(const EmbeddingTable&) = delete;
  EmbeddingTable& operator=(const EmbeddingTable&) = delete;

  const TableConfig& config() const { return config_; }
  uint32_t dim() const { return config_.dim; }

  // Reader: rows of `keys` into `out` (keys.size() * dim floats, row-major). Missing keys
  // read the default row. `found` (optional, keys.size()) receives 1 for keys with a row.
  // Returns the number of keys found. Safe concurrently with the writer.
  size_t gather(std::span<const uint64_t> keys, std::span<float> out,
                std::span<uint8_t> found = {}) const;
  bool contains(uint64_t key) const;

  // Writer (training): counts a sighting of each key at event time `now`, admits keys per the
  // policy (creating their rows with the initializer), stamps last-seen, and gathers as
  // gather() does. A capacity-bound table evicts before it grows past its capacity.
  size_t gather_train(std::span<const uint64_t> keys, int64_t now, std::span<float> out);

  // Writer: applies `grads` (keys.size() * dim) with the row optimizer. Duplicate keys are
  // summed first. Keys without a row are ignored (not admitted: no trainable row).
  // Returns the number of rows updated. The usual training step, gather_train(keys) then
  // apply_gradients(the same keys), reuses the rows the gather found instead of looking
  // the keys up again (each is checked to still hold its key).
  size_t apply_gradients(std::span<const uint64_t> keys, std::span<const float> grads, int64_t now);

  // Writer: sets the weights of `keys`' rows to `rows` (keys.size() * dim), keeping their
  // optimizer state (e.g. weights a federated server averaged). Keys without a row are
  // ignored. Returns the number of rows written.
  size_t assign(std::span<const uint64_t> keys, std::span<const float> rows, int64_t now);

  // Writer: removes rows unseen since now - ttl_seconds; returns how many.
  size_t evict_expired(int64_t now);
  // Writer: removes these keys' rows and admission counts (e.g. a privacy deletion).
  size_t erase(std::span<const uint64_t> keys);

  // Safe from readers (counters are atomics; byte counts are estimates).
  TableStats stats() const;

  // Writer thread: all rows of one feature slot, keys ascending, weights keys.size() * dim.
  void export_slot(uint32_t slot, std::vector<uint64_t>& keys, std::vector<float>& rows) const;

  // Checkpoints (kind "embtable" / "embdelta"). A delta holds the rows changed and the keys
  // removed since the last mark(); restore = load_full(base) then apply_delta() of each delta
  // in order. Loading replaces the table's contents; the config's dim and optimizer must match
  // the file's (Error(kCorrupt) otherwise).
  void mark();
  void save_full(const std::string& path) const;
  void save_delta(const std::string& path) const;
  void load_full(const std::string& path);
  void apply_delta(const std::string& path);
  // The bytes save_full / save_delta would write, and loading them, without a file (a
  // model's in-memory snapshot, a serving copy's update); `what` names the bytes in errors.
  std::string save_full_bytes() const;
  void load_full_bytes(std::string_view bytes, const std::string& what);
  std::string save_delta_bytes() const;
  // With `keys`, also appends the key of every row the delta removed or wrote.
  void apply_delta_bytes(std::string_view bytes, const std::string& what,
                         std::vector<uint64_t>* keys = nullptr);
  // Writer: another shard's delta (its save_delta_bytes) on top of this table, without
  // ending this table's own delta: its admission counts are added (a key's count replaced),
  // its removed keys go, its rows are written, and all of them count as changed since this
  // table's mark() (a root gathering the rows its ranks' online steps changed, then
  // publishing its own delta). With `keys`, appends the keys written or removed.
  void merge_delta_bytes(std::string_view bytes, const std::string& what,
                         std::vector<uint64_t>* keys = nullptr);
  // Writer: adds the rows (weights, optimizer state, update count, last-seen time) and the
  // admission counts of a full checkpoint whose keys `keep` accepts to what the table holds;
  // a key already here is overwritten. For re-sharding: a shard restores its keys from the
  // files of another sharding. Last-seen times keep their event time whatever the file's
  // time base. Marks afterwards, as load_full does.
  void merge_full(const std::string& path, const std::function<bool(uint64_t key)>& keep);
  // The same from the bytes save_full_bytes wrote (a rank's shard sent over MPI).
  void merge_full_bytes(std::string_view bytes, const std::string& what,
                        const std::function<bool(uint64_t key)>& keep);
  // Writer: removes every row and admission count.
  void clear();

 private:
  struct Index;
  class RowStore;

  uint32_t find_row(const Index& index, uint64_t key, uint64_t hash) const;
  // The first row whose fingerprint matches, without reading the row (callers verify the key
  // once the row is in cache).
  uint32_t find_candidate(const Index& index, uint64_t hash) const;
  // Walks rows[0..n) (UINT32_MAX: none), prefetching each row kAhead iterations before
  // consume(i, row) uses it.
  template <typename RowOf, typename Consume>
  void pipelined_rows(size_t n, uint32_t row_words, RowOf&& row_of, Consume&& consume) const;
  template <typename Lookup, typename Consume>
  void pipelined(std::span<const uint64_t> keys, const Index& index, uint32_t row_words,
                 Lookup&& lookup, Consume&& consume) const;
  // A new row for `key` with `weights` (dim floats), or the initializer's if null.
  uint32_t insert_row(uint64_t key, int64_t now, const float* weights = nullptr);
  void remove_row(uint32_t row);
  void index_insert(uint64_t hash, uint32_t row);
  void index_erase(uint64_t key, uint64_t hash);
  void maybe_grow_index();
  // Grows the index at once for `more` rows beyond the live ones (a restore knows its count).
  void reserve_rows(uint64_t more);
  void rebuild_index(uint64_t capacity);
  void evict_for_capacity();
  bool admit(uint64_t key);
  void init_row(uint64_t key, float* weights) const;
  // Reads a row's weights consistently; false if the row no longer holds `key`.
  bool read_row(uint32_t row, uint64_t key, float* out) const;
  void write_full(BinaryWriter& w) const;  // a full checkpoint's payload
  void read_full(BinaryReader& r, const std::string& what);
  void merge_from(BinaryReader& r, const std::string& what,
                  const std::function<bool(uint64_t key)>& keep);
  void write_delta(BinaryWriter& w) const;  // a delta checkpoint's payload
  void read_delta(BinaryReader& r, const std::string& what, std::vector<uint64_t>* keys = nullptr);
  // A merge's header and admission counts (those `keep` accepts; null: all) added to this
  // table's; returns the shift of the bytes' last-seen times to this table's time base.
  int64_t merge_header(BinaryReader& r, const std::string& what,
                       const std::function<bool(uint64_t key)>* keep);
  // A delta's removed keys: their rows go (appended to `keys` when given).
  void read_removed(BinaryReader& r, std::vector<uint64_t>* keys);
  void write_rows(BinaryWriter& w, const std::vector<uint32_t>& rows) const;
  void write_pending(BinaryWriter& w) const;
  void read_pending(BinaryReader& r);
  // Rows whose key `keep` (if any) accepts; last-seen times move by `shift` seconds (from
  // the file's time base to this table's).
  void read_rows(BinaryReader& r, uint64_t count, std::vector<uint64_t>* keys = nullptr,
                 const std::function<bool(uint64_t)>* keep = nullptr, int64_t shift = 0);
  uint32_t stamp(int64_t now);

  TableConfig config_;
  uint32_t state_floats_;  // optimizer state per row
  std::unique_ptr<RowStore> store_;
  // What readers use, taken once per call. A mutex (not std::atomic<shared_ptr>, whose
  // libstdc++ 12 lock ThreadSanitizer cannot see) guards only the pointer copy.
  std::shared_ptr<Index> load_index() const;
  void publish_index(std::shared_ptr<Index> index);
  mutable std::mutex index_mutex_;
  std::shared_ptr<Index> index_;
  // Writer-only state.
  std::shared_ptr<Index> windex_;  // the writer's reference to the current index
  std::vector<uint8_t> live_;
  std::vector<uint32_t> free_rows_;
  std::unordered_map<uint64_t, uint32_t> pending_;  // admission sightings
  std::mt19937_64 rng_;
  int64_t time_base_ = 0;
  bool has_time_base_ = false;
  std::vector<uint64_t> dirty_;         // bitmap over row ids, since mark()
  std::vector<uint64_t> removed_keys_;  // since mark()
  std::atomic<uint64_t> live_rows_{0}, admitted_{0}, evicted_{0}, pending_count_{0};
  std::vector<float> scratch_;
  // The last gather_train's keys and the row each position found (UINT32_MAX: none).
  std::vector<uint64_t> train_keys_;
  std::vector<uint32_t> train_rows_;
  uint64_t train_evicted_ = 0;  // evicted_ when that gather_train began
  // apply_gradients' per-batch scratch: dedupe map, distinct keys, chains of positions.
  std::vector<uint32_t> dedupe_slots_, first_, next_, last_;
  std::vector<uint64_t> unique_;
};

}  // namespace streamrec::embedding
