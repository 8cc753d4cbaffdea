// The durable event log (module store): every accepted event is appended here, in RocksDB,
// before anything learns from it or the caller is told it was accepted. Keys are 8-byte
// big-endian sequence numbers (so iteration is in arrival order); values are LoggedEvent
// records with the caller's string ids, so the log alone rebuilds id maps, histories and
// models after a restart.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>

#include "streamrec/data/records.h"

namespace rocksdb {
class DB;
}

namespace streamrec::store {

struct LoggedEvent {
  std::string user, item;
  float value = 1.0f;
  data::EventType type = data::EventType::kClick;
  int64_t timestamp = 0;  // event time, Unix seconds
  std::string context;    // free key=value pairs, `;`-separated (may be empty)
};

struct EventLogOptions {
  // fsync the write-ahead log before append() returns: an acknowledged event survives a
  // machine crash, not only a process crash (kill -9 is covered either way).
  bool sync = true;
  // Open a damaged log anyway, keeping the events before the damage (a warning says how
  // many acknowledged events are gone). Without it such a log is Error(kCorrupt).
  bool accept_data_loss = false;
};

class EventLog {
 public:
  // Opens (creating if needed) the log in directory `path`; Error(kIo) if RocksDB cannot.
  // Acknowledged events must all be there: a write-ahead log damaged anywhere but in its
  // last, unfinished record (what a crash mid-write leaves), or a log that ends before the
  // last acknowledged event (recorded in `path`.acked after each append), is
  // Error(kCorrupt) saying how to recover, unless options.accept_data_loss.
  explicit EventLog(const std::string& path, EventLogOptions options = {});
  ~EventLog();
  EventLog(const EventLog&) = delete;
  EventLog& operator=(const EventLog&) = delete;

  // Appends a batch atomically and durably (with `sync`); returns the sequence number of
  // its first event. Events are numbered from 1 in arrival order. Thread-safe; concurrent
  // appends share WAL syncs.
  uint64_t append(std::span<const LoggedEvent> events);
  // Events with sequence number >= `from`, in order; `fn` returns false to stop.
  void scan(uint64_t from, const std::function<bool(uint64_t seq, const LoggedEvent&)>& fn) const;
  // Deletes every event of `user` (a privacy request); returns how many.
  uint64_t erase_user(const std::string& user);
  // Highest sequence number handed out (0 when empty).
  uint64_t last_seq() const;
  const std::string& path() const { return path_; }

  static std::string encode(const LoggedEvent& e);
  // Error(kCorrupt) naming the sequence number when the record does not parse.
  static LoggedEvent decode(std::string_view bytes, uint64_t seq);

 private:
  std::string path_;
  EventLogOptions options_;
  std::unique_ptr<rocksdb::DB> db_;
  struct Writer;
  std::unique_ptr<Writer> writer_;
  int acked_fd_ = -1;         // path_.acked: the highest acknowledged sequence number
  void check_acknowledged();  // at open: Error(kCorrupt) if acknowledged events are gone
  void write_acknowledged(uint64_t seq);  // writer_ lock held (or at open)
};

}  // namespace streamrec::store
