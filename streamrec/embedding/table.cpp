#include "streamrec/embedding/table.h"

#include <sys/mman.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <istream>
#include <limits>
#include <numeric>
#include <sstream>
#include <thread>

#include "streamrec/core/error.h"
#include "streamrec/core/serialize.h"
#include "streamrec/embedding/keys.h"

namespace streamrec::embedding {
namespace {

// Row header words.
// Row header words: the key, the "state" word (low 16 bits: seqlock counter, odd while the
// writer changes the row; high 16 bits: the row's update count, saturating at 65535, which
// serves Adam's bias correction, exact to 1e-28 by then, and LFU), last-seen time.
constexpr uint32_t kKeyLo = 0, kKeyHi = 1, kState = 2, kLastSeen = 3, kHeader = 4;

inline uint32_t count_of(uint32_t state) { return state >> 16; }

constexpr uint64_t kEmpty = 0;
constexpr uint64_t kTombstone = 0xFFFFFFFFull;  // fingerprint 0, row field 0xFFFFFFFF
// Index sizing: grow when live + tombstone slots pass kMaxLoad, to a live load of
// kLoadAfterGrow; a rebuild keeps the size when the live load is below kKeepSizeBelow (then
// it only clears tombstones). 8-byte slots at 0.6-0.85 load cost 9.4-13.3 bytes per row.
constexpr double kMaxLoad = 0.85;
constexpr double kLoadAfterGrow = 0.6;
constexpr double kKeepSizeBelow = 0.7;

inline uint64_t hash_key(uint64_t key) { return mix64(key ^ 0x9E3779B97F4A7C15ull); }
inline uint32_t fingerprint(uint64_t hash) { return static_cast<uint32_t>(hash); }

inline uint32_t aload(const uint32_t* p, std::memory_order o = std::memory_order_relaxed) {
  return std::atomic_ref<uint32_t>(*const_cast<uint32_t*>(p)).load(o);
}
inline void astore(uint32_t* p, uint32_t v, std::memory_order o = std::memory_order_relaxed) {
  std::atomic_ref<uint32_t>(*p).store(v, o);
}
// Row weights are copied inside a seqlock window, racing by design with the writer; the
// sequence check discards any copy that overlapped a write (the pattern C++ proposal P1478,
// atomic_load_per_byte_memcpy, standardises). ThreadSanitizer builds copy word by word with
// relaxed atomics so that the sanitizer checks the protocol itself; other builds use memcpy,
// which vectorises: dim-64 gathers took 16-27 ns per row against 33-61 ns word by word on
// 1,000 cached keys, 38-39 against 68-79 ns on 100,000 keys (same session, both variants of
// this file compiled into one microbenchmark).
#if defined(__SANITIZE_THREAD__)
inline void copy_from_row(const uint32_t* src, float* dst, uint32_t n) {
  for (uint32_t i = 0; i < n; ++i) dst[i] = std::bit_cast<float>(aload(src + i));
}
inline void copy_to_row(uint32_t* dst, const float* src, uint32_t n) {
  for (uint32_t i = 0; i < n; ++i) astore(dst + i, std::bit_cast<uint32_t>(src[i]));
}
#else
// Common dims get a fixed-size copy the compiler inlines as a few vector moves; others call
// memcpy (a library call costs about as much as copying a cached 256-byte row).
inline void copy_from_row(const uint32_t* src, float* dst, uint32_t n) {
  switch (n) {
    case 16:
      std::memcpy(dst, src, 64);
      return;
    case 32:
      std::memcpy(dst, src, 128);
      return;
    case 64:
      std::memcpy(dst, src, 256);
      return;
    case 128:
      std::memcpy(dst, src, 512);
      return;
    default:
      std::memcpy(dst, src, size_t{n} * 4);
  }
}
inline void copy_to_row(uint32_t* dst, const float* src, uint32_t n) {
  std::memcpy(dst, src, size_t{n} * 4);
}
#endif

// Writer side of the seqlock: begin makes the counter odd, end even again (with the
// update count replaced by `count`), both wrapping within 16 bits.
inline uint32_t seq_begin(uint32_t* row) {
  const uint32_t state = aload(row + kState);
  astore(row + kState, (state & 0xFFFF0000u) | ((state + 1) & 0xFFFFu));
  std::atomic_thread_fence(std::memory_order_release);
  return state;
}
inline void seq_end(uint32_t* row, uint32_t state_before, uint32_t count) {
  astore(row + kState, (std::min<uint32_t>(count, 0xFFFFu) << 16) | ((state_before + 2) & 0xFFFFu),
         std::memory_order_release);
}

// Asks for every cache line of `words` 32-bit words at `p` (a row: header, weights, state).
inline void prefetch_words(const uint32_t* p, uint32_t words) {
  for (uint32_t off = 0; off < words; off += 16) __builtin_prefetch(p + off);
  __builtin_prefetch(p + words - 1);
}

inline uint64_t row_key(const uint32_t* row) {
  return (uint64_t{aload(row + kKeyHi)} << 32) | aload(row + kKeyLo);
}

constexpr uint32_t kFileVersion = 1;

constexpr size_t kHugePage = size_t{2} << 20;

// Zeroed memory, 2 MiB-aligned, from its own mapping: pages are only backed once touched,
// and the whole 2 MiB pages inside `bytes` are asked to be transparent huge pages (random
// access then misses the TLB far less); a tail shorter than that stays in small pages.
void* allocate_huge(size_t bytes) {
  const size_t size = (bytes + kHugePage - 1) / kHugePage * kHugePage;
  void* raw =
      mmap(nullptr, size + kHugePage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  SR_CHECK(raw != MAP_FAILED, ErrorKind::kIo, "out of memory mapping {} bytes", size);
  const auto start = reinterpret_cast<uintptr_t>(raw);
  const uintptr_t aligned = (start + kHugePage - 1) / kHugePage * kHugePage;
  if (aligned > start) munmap(raw, aligned - start);
  const uintptr_t end = start + size + kHugePage;
  if (end > aligned + size) munmap(reinterpret_cast<void*>(aligned + size), end - aligned - size);
  if (bytes >= kHugePage)
    madvise(reinterpret_cast<void*>(aligned), bytes / kHugePage * kHugePage, MADV_HUGEPAGE);
  return reinterpret_cast<void*>(aligned);
}
// Unmaps what allocate_huge(bytes) mapped.
struct FreeHuge {
  size_t bytes = 0;
  void operator()(void* p) const { munmap(p, (bytes + kHugePage - 1) / kHugePage * kHugePage); }
};

}  // namespace

double TableStats::overhead_bytes_per_row() const {
  return rows == 0 ? 0.0 : static_cast<double>(bytes - raw_bytes) / static_cast<double>(rows);
}

// Rows in fixed chunks that never move; chunk pointers are published with release stores.
// A chunk holds a power of two of rows, at least 4 MiB of them, so that nearly all of it
// sits in transparent huge pages (only whole 2 MiB pages inside an allocation can be huge:
// 4,096 row-wise-Adagrad rows, 1.2 MB, got none, and their random access missed the TLB).
class EmbeddingTable::RowStore {
 public:
  static constexpr uint64_t kMaxRows = (uint64_t{1} << 32) - 2;  // row + 1 fits 32 bits

  explicit RowStore(uint32_t words) : words_(words) {
    while ((uint64_t{1} << chunk_bits_) * words_ * 4 < (uint64_t{4} << 20)) ++chunk_bits_;
    max_chunks_ = static_cast<uint32_t>((kMaxRows >> chunk_bits_) + 1);
    chunks_.reset(new std::atomic<uint32_t*>[max_chunks_]);
    for (uint32_t c = 0; c < max_chunks_; ++c) chunks_[c].store(nullptr, std::memory_order_relaxed);
  }
  uint32_t* row(uint32_t id) const {
    uint32_t* chunk = chunks_[id >> chunk_bits_].load(std::memory_order_acquire);
    return chunk + size_t{id & chunk_mask()} * words_;
  }
  uint32_t allocate() {
    SR_CHECK(allocated() < kMaxRows, ErrorKind::kInvalidInput, "embedding table is full ({} rows)",
             allocated());
    const uint32_t id = static_cast<uint32_t>(next_.load(std::memory_order_relaxed));
    if ((id & chunk_mask()) == 0) {
      owned_.push_back(allocate_chunk(chunk_bytes()));
      chunks_[id >> chunk_bits_].store(owned_.back().get(), std::memory_order_release);
      ++n_chunks_;
    }
    next_.store(id + 1ull, std::memory_order_relaxed);
    return id;
  }
  // Safe from any thread.
  uint64_t allocated() const { return next_.load(std::memory_order_relaxed); }
  // Memory the rows occupy: full chunks, and of the newest one the part rows reached,
  // rounded up to the 2 MiB page it faulted in (the rest of it is never touched).
  uint64_t bytes() const {
    const uint64_t chunks = n_chunks_.load(), rows = allocated();
    if (chunks == 0) return 0;
    const uint64_t in_last = rows - ((chunks - 1) << chunk_bits_);
    const uint64_t last = std::min<uint64_t>(
        chunk_bytes(), (in_last * words_ * 4 + kHugePage - 1) / kHugePage * kHugePage);
    return (chunks - 1) * chunk_bytes() + last;
  }
  uint32_t words() const { return words_; }

 private:
  uint32_t chunk_mask() const { return (1u << chunk_bits_) - 1; }
  size_t chunk_bytes() const { return (size_t{1} << chunk_bits_) * words_ * 4; }

  uint32_t words_;
  uint32_t chunk_bits_ = 12;
  uint32_t max_chunks_ = 0;
  std::unique_ptr<std::atomic<uint32_t*>[]> chunks_;
  static std::unique_ptr<uint32_t[], FreeHuge> allocate_chunk(size_t bytes) {
    return std::unique_ptr<uint32_t[], FreeHuge>(static_cast<uint32_t*>(allocate_huge(bytes)),
                                                 FreeHuge{bytes});
  }
  std::vector<std::unique_ptr<uint32_t[], FreeHuge>> owned_;  // writer only
  std::atomic<uint64_t> next_{0}, n_chunks_{0};
};

// The index's slots live in huge pages too: a lookup is a random access, and with 4 KiB
// pages a 13 MB index (1M keys) misses the TLB on nearly every one.
struct EmbeddingTable::Index {
  static_assert(kEmpty == 0, "zeroed memory must read as empty slots");
  explicit Index(uint64_t cap)
      : capacity(cap),
        slots(static_cast<std::atomic<uint64_t>*>(allocate_huge(cap * sizeof(uint64_t))),
              FreeHuge{cap * sizeof(uint64_t)}) {}
  uint64_t start(uint64_t hash) const {
    return static_cast<uint64_t>((static_cast<unsigned __int128>(hash) * capacity) >> 64);
  }
  uint64_t capacity;
  std::unique_ptr<std::atomic<uint64_t>[], FreeHuge> slots;
  uint64_t used = 0;  // live + tombstones (writer only)
};

EmbeddingTable::EmbeddingTable(TableConfig config)
    : config_(std::move(config)),
      state_floats_(config_.optimizer.state_floats(config_.dim)),
      rng_(config_.seed) {
  SR_INPUT_CHECK(config_.dim > 0 && config_.dim <= 65536, "embedding dim must be in [1, 65536]");
  SR_INPUT_CHECK(config_.default_row.empty() || config_.default_row.size() == config_.dim,
                 "default row has {} values for dim {}", config_.default_row.size(), config_.dim);
  SR_INPUT_CHECK(config_.admit_probability > 0 && config_.admit_probability <= 1,
                 "admit_probability must be in (0, 1]");
  SR_INPUT_CHECK(config_.evict_fraction > 0 && config_.evict_fraction <= 1,
                 "evict_fraction must be in (0, 1]");
  if (config_.default_row.empty()) config_.default_row.assign(config_.dim, 0.0f);
  store_ = std::make_unique<RowStore>(kHeader + config_.dim + state_floats_);
  windex_ = std::make_shared<Index>(1024);
  publish_index(windex_);
  scratch_.resize(config_.dim);
}

EmbeddingTable::~EmbeddingTable() = default;

std::shared_ptr<EmbeddingTable::Index> EmbeddingTable::load_index() const {
  std::lock_guard lock(index_mutex_);
  return index_;
}

void EmbeddingTable::publish_index(std::shared_ptr<Index> index) {
  std::lock_guard lock(index_mutex_);
  index_ = std::move(index);
}

uint32_t EmbeddingTable::find_row(const Index& index, uint64_t key, uint64_t hash) const {
  const uint32_t fp = fingerprint(hash);
  uint64_t pos = index.start(hash);
  for (uint64_t probes = 0; probes < index.capacity; ++probes) {
    const uint64_t v = index.slots[pos].load(std::memory_order_acquire);
    if (v == kEmpty) return UINT32_MAX;
    if (v != kTombstone && static_cast<uint32_t>(v >> 32) == fp) {
      const uint32_t row = static_cast<uint32_t>(v) - 1;
      if (row_key(store_->row(row)) == key) return row;
    }
    if (++pos == index.capacity) pos = 0;
  }
  return UINT32_MAX;
}

uint32_t EmbeddingTable::find_candidate(const Index& index, uint64_t hash) const {
  const uint32_t fp = fingerprint(hash);
  uint64_t pos = index.start(hash);
  for (uint64_t probes = 0; probes < index.capacity; ++probes) {
    const uint64_t v = index.slots[pos].load(std::memory_order_acquire);
    if (v == kEmpty) return UINT32_MAX;
    if (v != kTombstone && static_cast<uint32_t>(v >> 32) == fp)
      return static_cast<uint32_t>(v) - 1;
    if (++pos == index.capacity) pos = 0;
  }
  return UINT32_MAX;
}

[[gnu::always_inline]] inline bool EmbeddingTable::read_row(uint32_t row, uint64_t key,
                                                            float* out) const {
  const uint32_t* r = store_->row(row);
  const uint32_t dim = config_.dim;
  for (uint64_t attempt = 0;; ++attempt) {
    // The writer may be descheduled mid-update: spin briefly, then give up the core.
    if (attempt > 64) std::this_thread::yield();
    const uint32_t s1 = aload(r + kState, std::memory_order_acquire);
    if (s1 & 1) continue;  // the writer is mid-update
    const uint64_t k = row_key(r);
    copy_from_row(r + kHeader, out, dim);
    std::atomic_thread_fence(std::memory_order_acquire);
    if (aload(r + kState) == s1) return k == key;
  }
}

// Walks keys[0..n) in a three-stage software pipeline over groups of kGroup keys, so that
// cache misses overlap: a group's index slots are prefetched one group before its rows are
// looked up, and its rows one group before they are consumed. Each stage is a tight loop
// over its group (no per-key stage branches). lookup(hash) returns the row or UINT32_MAX;
// consume(i, row) uses it.
template <typename Lookup, typename Consume>
void EmbeddingTable::pipelined(std::span<const uint64_t> keys, const Index& index,
                               uint32_t row_words, Lookup&& lookup, Consume&& consume) const {
  constexpr size_t kGroup = 8;
  uint64_t hashes[3][kGroup];
  uint32_t rows[3][kGroup];
  const size_t n = keys.size(), groups = (n + kGroup - 1) / kGroup;
  auto size_of = [&](size_t g) { return std::min(kGroup, n - g * kGroup); };
  for (size_t g = 0; g < groups + 2; ++g) {
    if (g < groups) {
      const uint64_t* k = keys.data() + g * kGroup;
      uint64_t* h = hashes[g % 3];
      for (size_t i = 0, m = size_of(g); i < m; ++i) {
        h[i] = hash_key(k[i]);
        __builtin_prefetch(&index.slots[index.start(h[i])]);
      }
    }
    if (g >= 1 && g - 1 < groups) {
      const uint64_t* h = hashes[(g - 1) % 3];
      uint32_t* r = rows[(g - 1) % 3];
      for (size_t i = 0, m = size_of(g - 1); i < m; ++i) {
        r[i] = lookup(h[i]);
        if (r[i] != UINT32_MAX) prefetch_words(store_->row(r[i]), row_words);
      }
    }
    if (g >= 2) {
      const uint32_t* r = rows[(g - 2) % 3];
      const size_t base = (g - 2) * kGroup;
      for (size_t i = 0, m = size_of(g - 2); i < m; ++i) consume(base + i, r[i]);
    }
  }
}

template <typename RowOf, typename Consume>
void EmbeddingTable::pipelined_rows(size_t n, uint32_t row_words, RowOf&& row_of,
                                    Consume&& consume) const {
  constexpr size_t kAhead = 8;
  for (size_t i = 0; i < n + kAhead; ++i) {
    if (i < n) {
      const uint32_t row = row_of(i);
      if (row != UINT32_MAX) {
        prefetch_words(store_->row(row), row_words);
      }
    }
    if (i >= kAhead) consume(i - kAhead, row_of(i - kAhead));
  }
}

size_t EmbeddingTable::gather(std::span<const uint64_t> keys, std::span<float> out,
                              std::span<uint8_t> found) const {
  const uint32_t dim = config_.dim;
  SR_INPUT_CHECK(out.size() == keys.size() * dim, "gather: output has {} floats, want {}",
                 out.size(), keys.size() * dim);
  SR_INPUT_CHECK(found.empty() || found.size() == keys.size(), "gather: found has wrong size");
  const std::shared_ptr<Index> index = load_index();
  size_t hits = 0;
  pipelined(
      keys, *index, kHeader + dim, [&](uint64_t h) { return find_candidate(*index, h); },
      [&](size_t k, uint32_t row) {
        float* dst = out.data() + k * dim;
        bool ok = row != UINT32_MAX && read_row(row, keys[k], dst);
        if (!ok && row != UINT32_MAX) {  // fingerprint collision or a reused row: full lookup
          row = find_row(*index, keys[k], hash_key(keys[k]));
          ok = row != UINT32_MAX && read_row(row, keys[k], dst);
        }
        if (!ok) std::memcpy(dst, config_.default_row.data(), dim * sizeof(float));
        if (!found.empty()) found[k] = ok;
        hits += ok;
      });
  return hits;
}

bool EmbeddingTable::contains(uint64_t key) const {
  const std::shared_ptr<Index> index = load_index();
  return find_row(*index, key, hash_key(key)) != UINT32_MAX;
}

uint32_t EmbeddingTable::stamp(int64_t now) {
  // Saturating: a damaged file's time must not overflow (fuzz_checked_files found it).
  if (!has_time_base_) {
    // Room for events ~34 years older than the first.
    if (__builtin_sub_overflow(now, int64_t{1} << 30, &time_base_))
      time_base_ = std::numeric_limits<int64_t>::min();
    has_time_base_ = true;
  }
  int64_t since = 0;
  if (__builtin_sub_overflow(now, time_base_, &since))
    since = now < time_base_ ? 0 : std::numeric_limits<int64_t>::max();
  return static_cast<uint32_t>(std::clamp<int64_t>(since, 0, UINT32_MAX));
}

bool EmbeddingTable::admit(uint64_t key) {
  if (config_.admit_probability < 1.0f)
    return std::uniform_real_distribution<float>(0.0f, 1.0f)(rng_) < config_.admit_probability;
  if (config_.admit_after <= 1) return true;
  uint32_t& seen = pending_[key];
  const bool admitted = ++seen >= config_.admit_after;
  if (admitted) pending_.erase(key);
  pending_count_.store(pending_.size(), std::memory_order_relaxed);
  return admitted;
}

void EmbeddingTable::init_row(uint64_t key, float* w) const {
  uint64_t state = mix64(key ^ mix64(config_.seed + 0x51ED270B27A3F0E1ull));
  auto next_unit = [&state] {  // uniform in [0, 1)
    state += 0x9E3779B97F4A7C15ull;
    return static_cast<float>(mix64(state) >> 40) * 0x1.0p-24f;
  };
  const float scale = config_.init_scale;
  const uint32_t dim = config_.dim;
  switch (config_.init) {
    case TableConfig::Init::kZeros:
      std::fill(w, w + dim, 0.0f);
      return;
    case TableConfig::Init::kUniform:
      for (uint32_t i = 0; i < dim; ++i) w[i] = (2.0f * next_unit() - 1.0f) * scale;
      return;
    case TableConfig::Init::kNormal:
      // Marsaglia's polar method: two normals per accepted pair, no trigonometry.
      for (uint32_t i = 0; i < dim;) {
        const float a = 2.0f * next_unit() - 1.0f, b = 2.0f * next_unit() - 1.0f;
        const float q = a * a + b * b;
        if (q >= 1.0f || q == 0.0f) continue;
        const float f = std::sqrt(-2.0f * std::log(q) / q) * scale;
        w[i++] = a * f;
        if (i < dim) w[i++] = b * f;
      }
      return;
  }
}

void EmbeddingTable::maybe_grow_index() {
  Index& idx = *windex_;
  if (static_cast<double>(idx.used + 1) <= kMaxLoad * static_cast<double>(idx.capacity)) return;
  // Full of live keys: grow. Full of tombstones (after evictions): rebuild at the same size,
  // so that a table under steady churn keeps a steady footprint.
  const uint64_t live = live_rows_.load();
  const bool mostly_tombstones = static_cast<double>(live + 1) < kKeepSizeBelow * idx.capacity;
  rebuild_index(mostly_tombstones
                    ? idx.capacity
                    : std::max<uint64_t>(1024, static_cast<uint64_t>((live + 1) / kLoadAfterGrow)));
}

void EmbeddingTable::reserve_rows(uint64_t more) {
  const uint64_t want = live_rows_.load() + more;
  if (static_cast<double>(want) > kMaxLoad * static_cast<double>(windex_->capacity))
    rebuild_index(static_cast<uint64_t>(want / kLoadAfterGrow) + 1);
}

void EmbeddingTable::rebuild_index(uint64_t cap) {
  auto fresh = std::make_shared<Index>(cap);
  for (uint32_t row = 0; row < live_.size(); ++row) {
    if (!live_[row]) continue;
    const uint64_t key = row_key(store_->row(row));
    const uint64_t h = hash_key(key);
    uint64_t pos = fresh->start(h);
    while (fresh->slots[pos].load(std::memory_order_relaxed) != kEmpty)
      if (++pos == fresh->capacity) pos = 0;
    fresh->slots[pos].store((uint64_t{fingerprint(h)} << 32) | (row + 1),
                            std::memory_order_relaxed);
    ++fresh->used;
  }
  windex_ = fresh;
  publish_index(fresh);  // readers switch; the old index lives while they hold it
}

void EmbeddingTable::index_insert(uint64_t hash, uint32_t row) {
  maybe_grow_index();
  Index& idx = *windex_;
  uint64_t pos = idx.start(hash);
  while (true) {
    const uint64_t v = idx.slots[pos].load(std::memory_order_relaxed);
    if (v == kEmpty || v == kTombstone) {
      if (v == kEmpty) ++idx.used;
      idx.slots[pos].store((uint64_t{fingerprint(hash)} << 32) | (row + 1),
                           std::memory_order_release);
      return;
    }
    if (++pos == idx.capacity) pos = 0;
  }
}

void EmbeddingTable::index_erase(uint64_t key, uint64_t hash) {
  Index& idx = *windex_;
  const uint32_t fp = fingerprint(hash);
  uint64_t pos = idx.start(hash);
  for (uint64_t probes = 0; probes < idx.capacity; ++probes) {
    const uint64_t v = idx.slots[pos].load(std::memory_order_relaxed);
    if (v == kEmpty) return;
    if (v != kTombstone && static_cast<uint32_t>(v >> 32) == fp &&
        row_key(store_->row(static_cast<uint32_t>(v) - 1)) == key) {
      idx.slots[pos].store(kTombstone, std::memory_order_release);
      return;
    }
    if (++pos == idx.capacity) pos = 0;
  }
}

uint32_t EmbeddingTable::insert_row(uint64_t key, int64_t now, const float* weights) {
  uint32_t row;
  if (!free_rows_.empty()) {
    row = free_rows_.back();
    free_rows_.pop_back();
  } else {
    row = store_->allocate();
    live_.push_back(0);
    if (dirty_.size() * 64 <= row) dirty_.push_back(0);
  }
  uint32_t* r = store_->row(row);
  // A reused row may be read concurrently under its old key: rewrite it under the seqlock.
  const uint32_t before = seq_begin(r);
  astore(r + kKeyLo, static_cast<uint32_t>(key));
  astore(r + kKeyHi, static_cast<uint32_t>(key >> 32));
  if (!weights) {
    init_row(key, scratch_.data());
    weights = scratch_.data();
  }
  copy_to_row(r + kHeader, weights, config_.dim);
  seq_end(r, before, 0);
  r[kLastSeen] = stamp(now);
  float* state = reinterpret_cast<float*>(r + kHeader + config_.dim);
  config_.optimizer.init_state(state, config_.dim);
  live_[row] = 1;
  dirty_[row >> 6] |= uint64_t{1} << (row & 63);
  index_insert(hash_key(key), row);
  ++live_rows_;
  ++admitted_;
  return row;
}

void EmbeddingTable::remove_row(uint32_t row) {
  const uint64_t key = row_key(store_->row(row));
  index_erase(key, hash_key(key));
  live_[row] = 0;
  free_rows_.push_back(row);
  removed_keys_.push_back(key);
  --live_rows_;
  ++evicted_;
}

void EmbeddingTable::evict_for_capacity() {
  const uint64_t cap = config_.capacity;
  if (cap == 0 || live_rows_.load() < cap) return;
  const auto n = std::max<uint64_t>(1, static_cast<uint64_t>(cap * config_.evict_fraction));
  // Rank live rows by (count for LFU,) last seen; evict the n lowest.
  std::vector<std::pair<uint64_t, uint32_t>> order;
  order.reserve(live_rows_.load());
  for (uint32_t row = 0; row < live_.size(); ++row) {
    if (!live_[row]) continue;
    const uint32_t* r = store_->row(row);
    const uint64_t recency = r[kLastSeen];
    const uint64_t score = config_.policy == TableConfig::Policy::kLfu
                               ? (uint64_t{count_of(r[kState])} << 32) | recency
                               : recency;
    order.emplace_back(score, row);
  }
  const size_t k = std::min<size_t>(n, order.size());
  std::nth_element(order.begin(), order.begin() + (k - 1), order.end());
  for (size_t i = 0; i < k; ++i) remove_row(order[i].second);
}

size_t EmbeddingTable::gather_train(std::span<const uint64_t> keys, int64_t now,
                                    std::span<float> out) {
  const uint32_t dim = config_.dim;
  SR_INPUT_CHECK(out.size() == keys.size() * dim, "gather_train: output has {} floats, want {}",
                 out.size(), keys.size() * dim);
  const uint32_t t = stamp(now);
  size_t hits = 0;
  // Lookups only propose candidates; admission and inserts happen in order in the consume
  // stage. An insert may grow (replace) the index: `held` keeps the one the pipeline walks
  // alive, and the consume stage re-checks against the current one.
  const std::shared_ptr<Index> held = windex_;
  train_keys_.assign(keys.begin(), keys.end());
  train_rows_.assign(keys.size(), UINT32_MAX);
  train_evicted_ = evicted_.load(std::memory_order_relaxed);
  pipelined(
      keys, *held, kHeader + dim, [&](uint64_t h) { return find_candidate(*held, h); },
      [&](size_t k, uint32_t row) {
        const uint64_t key = keys[k];
        if (row == UINT32_MAX || row_key(store_->row(row)) != key) {
          row = find_row(*windex_, key, hash_key(key));  // an earlier insert may have added it
          if (row == UINT32_MAX && admit(key)) {
            evict_for_capacity();
            row = insert_row(key, now);
          }
        }
        float* dst = out.data() + k * dim;
        if (row == UINT32_MAX) {
          std::memcpy(dst, config_.default_row.data(), dim * sizeof(float));
          return;
        }
        train_rows_[k] = row;
        uint32_t* r = store_->row(row);
        r[kLastSeen] = t;
        std::memcpy(dst, r + kHeader, dim * sizeof(float));  // the writer reads its own rows
        ++hits;
      });
  return hits;
}

size_t EmbeddingTable::apply_gradients(std::span<const uint64_t> keys, std::span<const float> grads,
                                       int64_t now) {
  const uint32_t dim = config_.dim;
  SR_INPUT_CHECK(grads.size() == keys.size() * dim, "apply_gradients: {} gradient floats, want {}",
                 grads.size(), keys.size() * dim);
  const uint32_t t = stamp(now);
  // Sum duplicate keys: group positions by key with a small open-addressing map (linear in
  // the batch), keeping first-seen order.
  const size_t n = keys.size();
  size_t cap = 16;
  while (cap < 2 * n) cap <<= 1;
  dedupe_slots_.assign(cap, UINT32_MAX);
  unique_.clear();
  first_.clear();
  next_.assign(n, UINT32_MAX);
  last_.clear();
  for (uint32_t i = 0; i < n; ++i) {
    size_t pos = mix64(keys[i]) & (cap - 1);
    while (dedupe_slots_[pos] != UINT32_MAX && unique_[dedupe_slots_[pos]] != keys[i])
      pos = (pos + 1) & (cap - 1);
    if (dedupe_slots_[pos] == UINT32_MAX) {
      dedupe_slots_[pos] = static_cast<uint32_t>(unique_.size());
      unique_.push_back(keys[i]);
      first_.push_back(i);
      last_.push_back(i);
    } else {
      const uint32_t u = dedupe_slots_[pos];
      next_[last_[u]] = i;
      last_[u] = i;
    }
  }
  std::vector<float> g(dim), w_new(dim);
  size_t updated = 0;
  // Rows remembered from gather_train hold their keys unless a row was removed (and maybe
  // reused) since that gather began (evicted_ counts every removal); only then is each
  // checked.
  const bool check_rows = evicted_.load(std::memory_order_relaxed) != train_evicted_;
  auto update = [&](size_t u, uint32_t row) {
    if (check_rows && row != UINT32_MAX && (!live_[row] || row_key(store_->row(row)) != unique_[u]))
      row = UINT32_MAX;
    if (row == UINT32_MAX) row = find_row(*windex_, unique_[u], hash_key(unique_[u]));
    if (row == UINT32_MAX) return;  // not admitted: no trainable row
    std::memcpy(g.data(), grads.data() + size_t{first_[u]} * dim, dim * sizeof(float));
    for (uint32_t x = next_[first_[u]]; x != UINT32_MAX; x = next_[x]) {
      const float* gx = grads.data() + size_t{x} * dim;
      for (uint32_t i = 0; i < dim; ++i) g[i] += gx[i];
    }
    uint32_t* r = store_->row(row);
    const float* w = reinterpret_cast<const float*>(r + kHeader);
    float* state = reinterpret_cast<float*>(r + kHeader + dim);
    const uint32_t step = std::min<uint32_t>(count_of(r[kState]) + 1, 0xFFFFu);
    apply_step(config_.optimizer, w, state, g.data(), dim, step, w_new.data());
    const uint32_t before = seq_begin(r);
    copy_to_row(r + kHeader, w_new.data(), dim);
    seq_end(r, before, step);
    r[kLastSeen] = t;
    dirty_[row >> 6] |= uint64_t{1} << (row & 63);
    ++updated;
  };
  const bool remembered =
      keys.size() == train_keys_.size() &&
      (keys.empty() ||  // (memcmp of null data is undefined, even for 0 bytes: UBSan)
       std::memcmp(keys.data(), train_keys_.data(), keys.size() * sizeof(uint64_t)) == 0);
  if (remembered) {
    // The rows gather_train found for these very keys: no index lookups. A key it had to
    // admit after an earlier position of the batch asked for it is looked up.
    pipelined_rows(
        unique_.size(), store_->words(), [&](size_t u) { return train_rows_[first_[u]]; }, update);
  } else {
    const std::shared_ptr<Index> held = windex_;
    pipelined(
        unique_, *held, store_->words(),  // weights and optimizer state
        [&](uint64_t h) { return find_candidate(*held, h); }, update);
  }
  return updated;
}

size_t EmbeddingTable::evict_expired(int64_t now) {
  if (config_.ttl_seconds <= 0 || !has_time_base_) return 0;
  const int64_t limit = static_cast<int64_t>(stamp(now)) - config_.ttl_seconds;
  size_t n = 0;
  for (uint32_t row = 0; row < live_.size(); ++row) {
    if (live_[row] && static_cast<int64_t>(store_->row(row)[kLastSeen]) < limit) {
      remove_row(row);
      ++n;
    }
  }
  return n;
}

size_t EmbeddingTable::assign(std::span<const uint64_t> keys, std::span<const float> rows,
                              int64_t now) {
  const uint32_t dim = config_.dim;
  SR_INPUT_CHECK(rows.size() == keys.size() * dim, "assign: {} row floats, want {}", rows.size(),
                 keys.size() * dim);
  const uint32_t t = stamp(now);
  size_t n = 0;
  for (size_t k = 0; k < keys.size(); ++k) {
    const uint32_t row = find_row(*windex_, keys[k], hash_key(keys[k]));
    if (row == UINT32_MAX) continue;
    uint32_t* r = store_->row(row);
    const uint32_t before = seq_begin(r);  // readers see the old row or the new one
    copy_to_row(r + kHeader, rows.data() + k * dim, dim);
    seq_end(r, before, count_of(r[kState]));
    r[kLastSeen] = t;
    dirty_[row >> 6] |= uint64_t{1} << (row & 63);
    ++n;
  }
  return n;
}

size_t EmbeddingTable::erase(std::span<const uint64_t> keys) {
  size_t n = 0;
  for (uint64_t key : keys) {
    pending_.erase(key);
    pending_count_.store(pending_.size(), std::memory_order_relaxed);
    const uint32_t row = find_row(*windex_, key, hash_key(key));
    if (row != UINT32_MAX) {
      remove_row(row);
      ++n;
    }
  }
  return n;
}

TableStats EmbeddingTable::stats() const {
  TableStats s;
  const std::shared_ptr<Index> index = load_index();
  s.rows = live_rows_.load();
  s.pending_keys = pending_count_.load(std::memory_order_relaxed);
  s.allocated_rows = store_->allocated();
  s.index_slots = index->capacity;
  s.admitted = admitted_.load();
  s.evicted = evicted_.load();
  s.raw_bytes = s.rows * 4ull * (config_.dim + state_floats_);
  // Row chunks as allocated (up to 4095 rows of slack in the newest chunk), the index, and
  // ~48 bytes per pending key in the unordered_map (node, bucket pointer, key, count).
  s.bytes = store_->bytes() + index->capacity * 8 + s.pending_keys * 48;
  return s;
}

void EmbeddingTable::export_slot(uint32_t slot, std::vector<uint64_t>& keys,
                                 std::vector<float>& rows) const {
  std::vector<std::pair<uint64_t, uint32_t>> found;
  for (uint32_t row = 0; row < live_.size(); ++row) {
    if (!live_[row]) continue;
    const uint64_t key = row_key(store_->row(row));
    if (key_slot(key) == slot) found.emplace_back(key, row);
  }
  std::sort(found.begin(), found.end());
  keys.clear();
  rows.resize(found.size() * config_.dim);
  for (size_t i = 0; i < found.size(); ++i) {
    keys.push_back(found[i].first);
    std::memcpy(rows.data() + i * config_.dim, store_->row(found[i].second) + kHeader,
                config_.dim * sizeof(float));
  }
}

// ---- checkpoints ----

void EmbeddingTable::mark() {
  std::fill(dirty_.begin(), dirty_.end(), 0);
  removed_keys_.clear();
}

void EmbeddingTable::write_rows(BinaryWriter& w, const std::vector<uint32_t>& rows) const {
  w.u64(rows.size());
  const size_t floats = size_t{config_.dim} + state_floats_;
  for (uint32_t row : rows) {
    const uint32_t* r = store_->row(row);
    w.u64(row_key(r));
    w.u32(r[kLastSeen]);
    w.u32(count_of(r[kState]));
    w.bytes(r + kHeader, floats * 4);
  }
}

void EmbeddingTable::read_rows(BinaryReader& rd, uint64_t count, std::vector<uint64_t>* keys,
                               const std::function<bool(uint64_t)>* keep, int64_t shift) {
  const size_t floats = size_t{config_.dim} + state_floats_;
  std::vector<uint32_t> buf(floats);
  for (uint64_t i = 0; i < count; ++i) {
    const uint64_t key = rd.u64();
    const uint32_t last_seen = static_cast<uint32_t>(
        std::clamp<int64_t>(int64_t{rd.u32()} + shift, 0, int64_t{UINT32_MAX}));
    const uint32_t updates = rd.u32();
    rd.bytes(buf.data(), floats * 4);
    if (keep && !(*keep)(key)) continue;
    if (keys) keys->push_back(key);
    const auto* weights = reinterpret_cast<const float*>(buf.data());
    uint32_t row = find_row(*windex_, key, hash_key(key));
    const bool fresh = row == UINT32_MAX;
    if (fresh) {
      row = insert_row(key, time_base_, weights);
      --admitted_;  // restored, not admitted
    }
    uint32_t* r = store_->row(row);
    const uint32_t before = seq_begin(r);
    if (!fresh) copy_to_row(r + kHeader, weights, config_.dim);  // a fresh row has them
    seq_end(r, before, updates);
    std::memcpy(r + kHeader + config_.dim, buf.data() + config_.dim, (floats - config_.dim) * 4);
    r[kLastSeen] = last_seen;
    dirty_[row >> 6] |= uint64_t{1} << (row & 63);
  }
}

namespace {
void write_table_header(BinaryWriter& w, const TableConfig& c, int64_t time_base, bool has_base) {
  w.u32(c.dim);
  w.u8(static_cast<uint8_t>(c.optimizer.kind));
  w.i64(time_base);
  w.u8(has_base);
}
}  // namespace

void EmbeddingTable::write_pending(BinaryWriter& w) const {
  w.u64(pending_.size());
  for (const auto& [k, n] : pending_) w.u64(k), w.u32(n);
}

void EmbeddingTable::read_pending(BinaryReader& r) {
  pending_.clear();
  const uint64_t n = r.count(uint64_t{1} << 40);
  for (uint64_t i = 0; i < n; ++i) {
    const uint64_t k = r.u64();
    pending_[k] = r.u32();
  }
  pending_count_ = pending_.size();
}

void EmbeddingTable::write_full(BinaryWriter& w) const {
  write_table_header(w, config_, time_base_, has_time_base_);
  write_pending(w);
  std::vector<uint32_t> rows;
  for (uint32_t row = 0; row < live_.size(); ++row)
    if (live_[row]) rows.push_back(row);
  write_rows(w, rows);
}

void EmbeddingTable::save_full(const std::string& path) const {
  CheckedFileWriter file(path, {"embtable", kFileVersion});
  write_full(file.writer());
  file.commit();
}

std::string EmbeddingTable::save_full_bytes() const {
  std::ostringstream payload;
  BinaryWriter w(payload);
  write_full(w);
  return checked_bytes({"embtable", kFileVersion}, std::move(payload).str());
}

void EmbeddingTable::write_delta(BinaryWriter& w) const {
  write_table_header(w, config_, time_base_, has_time_base_);
  write_pending(w);
  w.u64(removed_keys_.size());
  for (uint64_t k : removed_keys_) w.u64(k);
  std::vector<uint32_t> rows;
  for (uint32_t row = 0; row < live_.size(); ++row)
    if (live_[row] && (dirty_[row >> 6] >> (row & 63) & 1)) rows.push_back(row);
  write_rows(w, rows);
}

void EmbeddingTable::save_delta(const std::string& path) const {
  CheckedFileWriter file(path, {"embdelta", kFileVersion});
  write_delta(file.writer());
  file.commit();
}

std::string EmbeddingTable::save_delta_bytes() const {
  std::ostringstream payload;
  BinaryWriter w(payload);
  write_delta(w);
  return checked_bytes({"embdelta", kFileVersion}, std::move(payload).str());
}

namespace {
// Reads the header of a table file and checks it against the table's config.
void check_table_header(BinaryReader& r, const TableConfig& c, const std::string& path,
                        int64_t& time_base, bool& has_base) {
  const uint32_t dim = r.u32();
  const auto kind = static_cast<OptimizerKind>(r.u8());
  SR_CHECK(dim == c.dim && kind == c.optimizer.kind, ErrorKind::kCorrupt,
           "'{}' holds a table of dim {} with optimizer {}; this table has dim {} and {}", path,
           dim, to_string(kind), c.dim, to_string(c.optimizer.kind));
  time_base = r.i64();
  has_base = r.u8() != 0;
}
}  // namespace

void EmbeddingTable::clear() {
  for (uint32_t row = 0; row < live_.size(); ++row)
    if (live_[row]) remove_row(row);
  pending_.clear();
  pending_count_ = 0;
  train_keys_.clear();  // the rows a gather found belong to the old contents
  train_rows_.clear();
  windex_ = std::make_shared<Index>(windex_->capacity);  // drop tombstones
  publish_index(windex_);
}

void EmbeddingTable::read_full(BinaryReader& r, const std::string& what) {
  clear();
  check_table_header(r, config_, what, time_base_, has_time_base_);
  read_pending(r);
  const uint64_t rows = r.count(uint64_t{1} << 40);
  reserve_rows(rows);
  read_rows(r, rows);
  mark();
}

void EmbeddingTable::load_full(const std::string& path) {
  auto in = open_checked_file(path, "embtable", kFileVersion);
  BinaryReader r(*in, path);
  read_full(r, path);
}

void EmbeddingTable::merge_full(const std::string& path,
                                const std::function<bool(uint64_t key)>& keep) {
  auto in = open_checked_file(path, "embtable", kFileVersion);
  BinaryReader r(*in, path);
  merge_from(r, path, keep);
}

void EmbeddingTable::merge_full_bytes(std::string_view bytes, const std::string& what,
                                      const std::function<bool(uint64_t key)>& keep) {
  MemoryIStream in(checked_payload(bytes, "embtable", kFileVersion, what));
  BinaryReader r(in, what);
  merge_from(r, what, keep);
}

void EmbeddingTable::merge_from(BinaryReader& r, const std::string& what,
                                const std::function<bool(uint64_t key)>& keep) {
  const int64_t shift = merge_header(r, what, &keep);
  const uint64_t rows = r.count(uint64_t{1} << 40);
  read_rows(r, rows, nullptr, &keep, shift);
  mark();
}

int64_t EmbeddingTable::merge_header(BinaryReader& r, const std::string& what,
                                     const std::function<bool(uint64_t key)>* keep) {
  int64_t file_base = 0;
  bool file_has_base = false;
  check_table_header(r, config_, what, file_base, file_has_base);
  if (!has_time_base_ && file_has_base) {
    time_base_ = file_base;
    has_time_base_ = true;
  }
  const uint64_t pending = r.count(uint64_t{1} << 40);
  for (uint64_t i = 0; i < pending; ++i) {
    const uint64_t k = r.u64();
    const uint32_t seen = r.u32();
    if (!keep || (*keep)(k)) pending_[k] = seen;
  }
  pending_count_ = pending_.size();
  return file_base - time_base_;
}

void EmbeddingTable::read_removed(BinaryReader& r, std::vector<uint64_t>* keys) {
  const uint64_t removed = r.count(uint64_t{1} << 40);
  for (uint64_t i = 0; i < removed; ++i) {
    const uint64_t key = r.u64();
    if (keys) keys->push_back(key);
    const uint32_t row = find_row(*windex_, key, hash_key(key));
    if (row != UINT32_MAX) remove_row(row);
  }
}

void EmbeddingTable::load_full_bytes(std::string_view bytes, const std::string& what) {
  MemoryIStream in(checked_payload(bytes, "embtable", kFileVersion, what));
  BinaryReader r(in, what);
  read_full(r, what);
}

void EmbeddingTable::read_delta(BinaryReader& r, const std::string& what,
                                std::vector<uint64_t>* keys) {
  check_table_header(r, config_, what, time_base_, has_time_base_);
  read_pending(r);
  read_removed(r, keys);
  read_rows(r, r.count(uint64_t{1} << 40), keys);
  mark();
}

void EmbeddingTable::apply_delta(const std::string& path) {
  auto in = open_checked_file(path, "embdelta", kFileVersion);
  BinaryReader r(*in, path);
  read_delta(r, path);
}

void EmbeddingTable::apply_delta_bytes(std::string_view bytes, const std::string& what,
                                       std::vector<uint64_t>* keys) {
  MemoryIStream in(checked_payload(bytes, "embdelta", kFileVersion, what));
  BinaryReader r(in, what);
  read_delta(r, what, keys);
}

void EmbeddingTable::merge_delta_bytes(std::string_view bytes, const std::string& what,
                                       std::vector<uint64_t>* keys) {
  MemoryIStream in(checked_payload(bytes, "embdelta", kFileVersion, what));
  BinaryReader r(in, what);
  const int64_t shift = merge_header(r, what, nullptr);
  read_removed(r, keys);
  read_rows(r, r.count(uint64_t{1} << 40), keys, nullptr, shift);
}

}  // namespace streamrec::embedding
