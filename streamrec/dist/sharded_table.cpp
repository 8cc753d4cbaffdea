#include "streamrec/dist/sharded_table.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <limits>

#include <fmt/format.h>

#include "streamrec/core/error.h"
#include "streamrec/core/serialize.h"
#include "streamrec/embedding/keys.h"

namespace streamrec::dist {

ShardedTable::ShardedTable(const Comm& comm, embedding::TableConfig config)
    : comm_(comm),
      owned_(std::make_unique<embedding::EmbeddingTable>(std::move(config))),
      local_(*owned_) {}

ShardedTable::ShardedTable(const Comm& comm, embedding::EmbeddingTable& shard)
    : comm_(comm), local_(shard) {}

uint64_t ShardedTable::off_rank(const std::vector<int>& counts, size_t size) const {
  uint64_t n = 0;
  for (size_t q = 0; q < counts.size(); ++q)
    if (static_cast<int>(q) != comm_.rank()) n += static_cast<uint64_t>(counts[q]) * size;
  return n;
}

int ShardedTable::owner(uint64_t key) const {
  // Another mix than the local index's (which hashes key ^ the golden ratio), so a shard's
  // keys still spread over its index.
  return static_cast<int>(embedding::mix64(key ^ 0xD1B54A32D192ED03ull) %
                          static_cast<uint64_t>(comm_.size()));
}

ShardedTable::Route ShardedTable::route(std::span<const uint64_t> keys) {
  SR_INPUT_CHECK(keys.size() < (uint64_t{1} << 31) / std::max<uint32_t>(1, dim()),
                 "sharded table: a batch of {} keys is too large for MPI's 32-bit counts",
                 keys.size());
  Route r;
  const int n = comm_.size();
  std::vector<int> owners(keys.size());
  r.send_counts.assign(n, 0);
  for (size_t i = 0; i < keys.size(); ++i) ++r.send_counts[owners[i] = owner(keys[i])];
  std::vector<size_t> at(n, 0);
  for (int q = 1; q < n; ++q) at[q] = at[q - 1] + r.send_counts[q - 1];
  r.order.resize(keys.size());
  for (size_t i = 0; i < keys.size(); ++i) r.order[at[owners[i]]++] = static_cast<uint32_t>(i);
  std::vector<uint64_t> send(keys.size());
  for (size_t j = 0; j < keys.size(); ++j) send[j] = keys[r.order[j]];
  r.received = comm_.all_to_all(send, r.send_counts, r.recv_counts);
  sent_.keys += off_rank(r.send_counts, sizeof(uint64_t));
  return r;
}

namespace {
// Key counts as float counts (rows of `dim`), checked against MPI's 32-bit counts.
std::vector<int> times_dim(const std::vector<int>& counts, uint32_t dim) {
  std::vector<int> out(counts.size());
  for (size_t q = 0; q < counts.size(); ++q) {
    const int64_t n = int64_t{counts[q]} * dim;
    SR_CHECK(n <= std::numeric_limits<int>::max(), ErrorKind::kInvalidInput,
             "sharded table: {} keys of dim {} from one rank exceed MPI's 32-bit counts", counts[q],
             dim);
    out[q] = static_cast<int>(n);
  }
  return out;
}
}  // namespace

void ShardedTable::reply(const Route& r, std::span<const float> rows, std::span<float> out) {
  const uint32_t d = dim();
  const auto got = comm_.all_to_all(rows, times_dim(r.recv_counts, d), times_dim(r.send_counts, d));
  sent_.rows += off_rank(r.recv_counts, size_t{d} * sizeof(float));
  for (size_t j = 0; j < r.order.size(); ++j)
    std::memcpy(out.data() + size_t{r.order[j]} * d, got.data() + j * d, d * sizeof(float));
}

void ShardedTable::gather_train(std::span<const uint64_t> keys, int64_t now, std::span<float> out) {
  SR_INPUT_CHECK(out.size() == keys.size() * dim(), "gather_train: output has {} floats, want {}",
                 out.size(), keys.size() * dim());
  const auto r = route(keys);
  rows_.resize(r.received.size() * dim());
  local_.gather_train(r.received, now, rows_);
  reply(r, rows_, out);
}

void ShardedTable::gather(std::span<const uint64_t> keys, std::span<float> out) {
  SR_INPUT_CHECK(out.size() == keys.size() * dim(), "gather: output has {} floats, want {}",
                 out.size(), keys.size() * dim());
  const auto r = route(keys);
  rows_.resize(r.received.size() * dim());
  local_.gather(r.received, rows_);
  reply(r, rows_, out);
}

void ShardedTable::apply_gradients(std::span<const uint64_t> keys, std::span<const float> grads,
                                   int64_t now) {
  const uint32_t d = dim();
  SR_INPUT_CHECK(grads.size() == keys.size() * d, "apply_gradients: {} floats for {} keys",
                 grads.size(), keys.size());
  const auto r = route(keys);
  std::vector<float> send(grads.size());
  for (size_t j = 0; j < r.order.size(); ++j)
    std::memcpy(send.data() + j * d, grads.data() + size_t{r.order[j]} * d, d * sizeof(float));
  const auto received =
      comm_.all_to_all(send, times_dim(r.send_counts, d), times_dim(r.recv_counts, d));
  sent_.gradients += off_rank(r.send_counts, size_t{d} * sizeof(float));
  local_.apply_gradients(r.received, received, now);
}

uint64_t ShardedTable::evict_expired(int64_t now) {
  uint64_t n = local_.evict_expired(now);
  comm_.all_reduce_sum(std::span<uint64_t>(&n, 1));
  return n;
}

namespace {
constexpr uint32_t kManifestVersion = 1;
}

std::string ShardedTable::shard_path(const std::string& dir, uint32_t shard, uint32_t shards) {
  return (std::filesystem::path(dir) / fmt::format("shard-{}-of-{}.embtable", shard, shards))
      .string();
}

void ShardedTable::write_manifest(const std::string& dir, uint32_t shards, uint32_t dim) {
  CheckedFileWriter file((std::filesystem::path(dir) / "shards").string(),
                         {"embshard", kManifestVersion});
  file.writer().u32(shards);
  file.writer().u32(dim);
  file.commit();
}

void ShardedTable::save(const std::string& dir) const {
  if (comm_.rank() == 0) std::filesystem::create_directories(dir);
  comm_.barrier();
  const auto n = static_cast<uint32_t>(comm_.size());
  local_.save_full(shard_path(dir, static_cast<uint32_t>(comm_.rank()), n));
  comm_.barrier();  // every shard renamed into place before the manifest says so
  if (comm_.rank() == 0) write_manifest(dir, n, dim());
  comm_.barrier();
}

void ShardedTable::load(const std::string& dir) {
  const std::string manifest = (std::filesystem::path(dir) / "shards").string();
  auto in = open_checked_file(manifest, "embshard", kManifestVersion);
  BinaryReader r(*in, manifest);
  const uint32_t shards = r.u32(), file_dim = r.u32();
  SR_CHECK(shards >= 1 && shards <= 1u << 20, ErrorKind::kCorrupt, "'{}': {} shards", manifest,
           shards);
  SR_CHECK(file_dim == dim(), ErrorKind::kCorrupt, "'{}' holds tables of dim {}; this one has {}",
           manifest, file_dim, dim());
  local_.clear();
  const auto mine = [&](uint64_t key) { return owner(key) == comm_.rank(); };
  for (uint32_t s = 0; s < shards; ++s) local_.merge_full(shard_path(dir, s, shards), mine);
  comm_.barrier();
}

embedding::TableStats ShardedTable::stats() const {
  const auto s = local_.stats();
  uint64_t v[] = {s.rows,  s.allocated_rows, s.pending_keys, s.index_slots,
                  s.bytes, s.raw_bytes,      s.admitted,     s.evicted};
  comm_.all_reduce_sum(v);
  embedding::TableStats out;
  out.rows = v[0];
  out.allocated_rows = v[1];
  out.pending_keys = v[2];
  out.index_slots = v[3];
  out.bytes = v[4];
  out.raw_bytes = v[5];
  out.admitted = v[6];
  out.evicted = v[7];
  return out;
}

}  // namespace streamrec::dist
