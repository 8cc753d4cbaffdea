#include "streamrec/store/event_log.h"

#include <fcntl.h>
#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>

#include "streamrec/core/error.h"
#include "streamrec/core/log.h"
#include "streamrec/core/text.h"
#include "streamrec/store/rocks.h"

namespace streamrec::store {
namespace {

std::string key_of(uint64_t seq) {
  std::string k(8, '\0');
  for (int b = 0; b < 8; ++b) k[b] = static_cast<char>(seq >> (56 - 8 * b));
  return k;
}

uint64_t seq_of(std::string_view k) {
  uint64_t seq = 0;
  for (unsigned char c : k.substr(0, 8)) seq = seq << 8 | c;
  return seq;
}

// After every event key (8 bytes, first byte 0): the highest number handed out, kept when
// a deletion removes the newest events.
const std::string kHighWaterKey =
    "\xff"
    "high-water";

std::string u64_bytes(uint64_t v) { return key_of(v); }

void check(const rocksdb::Status& s, const std::string& what) {
  rocks_check(s, "event log: " + what);
}

template <typename T>
void put(std::string& out, T v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof v);
}

void put_str(std::string& out, const std::string& s) {
  put<uint32_t>(out, static_cast<uint32_t>(s.size()));
  out += s;
}

}  // namespace

// Appends are serialised so that sequence numbers are dense and in order.
struct EventLog::Writer {
  std::mutex mutex;
  uint64_t last = 0;   // handed out
  uint64_t acked = 0;  // written (in path_.acked)
};

EventLog::EventLog(const std::string& path, EventLogOptions options)
    : path_(path), options_(options), writer_(std::make_unique<Writer>()) {
  rocksdb::Options o = rocks_options();
  // A 16 MiB memtable (RocksDB's default is 64): the log is written, rarely read, and each
  // memtable is memory held until it is flushed.
  o.write_buffer_size = 16 << 20;
  o.compression = rocksdb::kNoCompression;
  // A record cut short at the very end is a write that a crash interrupted (kill -9 between
  // the write calls of one record: the fault-injection test saw it), never acknowledged:
  // dropped. Damage anywhere else fails the open; a loss of acknowledged events shows in
  // the mark (check_acknowledged). (kAbsoluteConsistency refused restarts after kill -9.)
  o.wal_recovery_mode = options.accept_data_loss
                            ? rocksdb::WALRecoveryMode::kPointInTimeRecovery
                            : rocksdb::WALRecoveryMode::kTolerateCorruptedTailRecords;
  const auto opened = rocks_open(o, path, db_);
  SR_CHECK(!opened.IsCorruption(), ErrorKind::kCorrupt,
           "event log '{}': its write-ahead log is damaged ({}); acknowledged events may be "
           "lost. Restore the data directory from a backup, or start with --accept-data-loss true "
           "to keep the events before the damage",
           path, opened.ToString());
  check(opened, "cannot open '" + path + "'");
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  it->SeekToLast();
  if (it->Valid() && it->key().ToStringView() == kHighWaterKey) {
    writer_->last = seq_of(it->value().ToStringView());
    it->Prev();
  }
  if (it->Valid()) writer_->last = std::max(writer_->last, seq_of(it->key().ToStringView()));
  check(it->status(), "cannot read '" + path + "'");
  check_acknowledged();
}

void EventLog::check_acknowledged() {
  const std::string mark = path_ + ".acked";
  acked_fd_ = ::open(mark.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  SR_CHECK(acked_fd_ >= 0, ErrorKind::kIo, "event log: cannot open '{}': {}", mark,
           std::strerror(errno));
  char buf[32] = {};
  const ssize_t n = ::pread(acked_fd_, buf, sizeof buf - 1, 0);
  const auto acked = n > 0 ? text::parse_int(text::trim(std::string_view(buf, n))) : std::nullopt;
  const uint64_t last = writer_->last;
  if (acked && *acked > 0 && static_cast<uint64_t>(*acked) > last) {
    SR_CHECK(options_.accept_data_loss, ErrorKind::kCorrupt,
             "event log '{}': {} acknowledged events are missing (the log ends at event {}, "
             "events up to {} were acknowledged). Restore the data directory from a backup, or "
             "start with --accept-data-loss true to go on without them",
             path_, *acked - static_cast<int64_t>(last), last, *acked);
    log::warn("event log '{}': {} acknowledged events are lost (--accept-data-loss)", path_,
              *acked - static_cast<int64_t>(last));
  }
  writer_->acked = last;
  write_acknowledged(last);
}

void EventLog::write_acknowledged(uint64_t seq) {
  // Padded to a fixed width, so a shorter number never leaves digits of a longer one.
  const std::string text = fmt::format("{:<20}\n", seq);
  if (::pwrite(acked_fd_, text.data(), text.size(), 0) != static_cast<ssize_t>(text.size()))
    log::warn("event log: cannot write '{}.acked': {}", path_, std::strerror(errno));
}

EventLog::~EventLog() {
  if (acked_fd_ >= 0) ::close(acked_fd_);
}

std::string EventLog::encode(const LoggedEvent& e) {
  std::string out;
  out.reserve(32 + e.user.size() + e.item.size() + e.context.size());
  put<uint8_t>(out, 1);  // record version
  put_str(out, e.user);
  put_str(out, e.item);
  put<float>(out, e.value);
  put<uint8_t>(out, static_cast<uint8_t>(e.type));
  put<int64_t>(out, e.timestamp);
  put_str(out, e.context);
  return out;
}

LoggedEvent EventLog::decode(std::string_view in, uint64_t seq) {
  size_t pos = 0;
  auto take = [&](void* dst, size_t n) {
    SR_CHECK(pos + n <= in.size(), ErrorKind::kCorrupt, "event log: record {} is truncated", seq);
    std::memcpy(dst, in.data() + pos, n);
    pos += n;
  };
  auto take_str = [&] {
    uint32_t n = 0;
    take(&n, sizeof n);
    SR_CHECK(pos + n <= in.size(), ErrorKind::kCorrupt, "event log: record {} is truncated", seq);
    std::string s(in.substr(pos, n));
    pos += n;
    return s;
  };
  uint8_t version = 0;
  take(&version, 1);
  SR_CHECK(version == 1, ErrorKind::kCorrupt, "event log: record {} has unknown version {}", seq,
           version);
  LoggedEvent e;
  e.user = take_str();
  e.item = take_str();
  take(&e.value, sizeof e.value);
  uint8_t type = 0;
  take(&type, 1);
  SR_CHECK(type <= static_cast<uint8_t>(data::EventType::kOther), ErrorKind::kCorrupt,
           "event log: record {} has unknown event type {}", seq, type);
  e.type = static_cast<data::EventType>(type);
  take(&e.timestamp, sizeof e.timestamp);
  e.context = take_str();
  return e;
}

uint64_t EventLog::append(std::span<const LoggedEvent> events) {
  // Numbers are taken under the lock, the write (and fsync) happens outside it, so that
  // concurrent appends share one WAL sync (RocksDB's group commit). A failed write leaves
  // a gap in the numbering, which readers do not mind.
  uint64_t first = 0;
  {
    std::lock_guard lock(writer_->mutex);
    first = writer_->last + 1;
    writer_->last += events.size();
  }
  rocksdb::WriteBatch batch;
  for (size_t x = 0; x < events.size(); ++x) batch.Put(key_of(first + x), encode(events[x]));
  rocksdb::WriteOptions wo;
  wo.sync = options_.sync;
  rocks_write(*db_, wo, batch, "event log: append to '" + path_ + "' failed");
  {
    std::lock_guard lock(writer_->mutex);
    if (first + events.size() - 1 > writer_->acked) {
      writer_->acked = first + events.size() - 1;
      write_acknowledged(writer_->acked);
    }
  }
  return first;
}

void EventLog::scan(uint64_t from,
                    const std::function<bool(uint64_t, const LoggedEvent&)>& fn) const {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek(key_of(from)); it->Valid() && it->key().size() == 8; it->Next()) {
    const uint64_t seq = seq_of(it->key().ToStringView());
    if (!fn(seq, decode(it->value().ToStringView(), seq))) break;
  }
  check(it->status(), "cannot read '" + path_ + "'");
}

uint64_t EventLog::erase_user(const std::string& user) {
  std::lock_guard lock(writer_->mutex);
  rocksdb::WriteBatch batch;
  uint64_t n = 0;
  scan(1, [&](uint64_t seq, const LoggedEvent& e) {
    if (e.user == user) {
      batch.Delete(key_of(seq));
      ++n;
    }
    return true;
  });
  batch.Put(kHighWaterKey, u64_bytes(writer_->last));  // the numbering goes on after them
  rocksdb::WriteOptions wo;
  wo.sync = options_.sync;
  rocks_write(*db_, wo, batch, "event log: erase from '" + path_ + "' failed");
  // Purge the deleted records from the files themselves, not just mark them deleted.
  check(db_->Flush(rocksdb::FlushOptions()), "flush of '" + path_ + "' failed");
  check(db_->CompactRange(rocksdb::CompactRangeOptions(), nullptr, nullptr),
        "compaction of '" + path_ + "' failed");
  return n;
}

uint64_t EventLog::last_seq() const {
  std::lock_guard lock(writer_->mutex);
  return writer_->last;
}

}  // namespace streamrec::store
