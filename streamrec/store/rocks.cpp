#include "streamrec/store/rocks.h"

#include <rocksdb/env.h>
#include <rocksdb/write_batch.h>

#include <cstdarg>
#include <cstdio>
#include <filesystem>

#include "streamrec/core/error.h"
#include "streamrec/core/log.h"

namespace streamrec::store {
namespace {

// Forwards RocksDB's errors to our log; drops its routine lines (and its warnings, such as
// "Error when reading ... dir NotFound" when it creates a new database).
class ForwardingLogger : public rocksdb::Logger {
 public:
  ForwardingLogger() : rocksdb::Logger(rocksdb::InfoLogLevel::ERROR_LEVEL) {}
  using rocksdb::Logger::Logv;
  void Logv(const char* format, va_list ap) override {
    Logv(rocksdb::InfoLogLevel::INFO_LEVEL, format, ap);
  }
  void Logv(const rocksdb::InfoLogLevel level, const char* format, va_list ap) override {
    if (level < GetInfoLogLevel()) return;
    char line[1024];
    std::vsnprintf(line, sizeof line, format, ap);
    log::warn("rocksdb: {}", line);
  }
};

}  // namespace

rocksdb::Options rocks_options() {
  rocksdb::Options o;
  o.create_if_missing = true;
  o.info_log = std::make_shared<ForwardingLogger>();
  return o;
}

rocksdb::Status rocks_open(const rocksdb::Options& options, const std::string& path,
                           std::unique_ptr<rocksdb::DB>& db) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);  // an error shows in DB::Open's status
  rocksdb::DB* opened = nullptr;
  auto s = rocksdb::DB::Open(options, path, &opened);
  db.reset(opened);
  return s;
}

void rocks_check(const rocksdb::Status& s, std::string_view what) {
  if (s.ok()) return;
  SR_CHECK(!s.IsNoSpace(), ErrorKind::kNoSpace, "{}: the disk is full ({})", what, s.ToString());
  throw_error(ErrorKind::kIo, fmt::format("{}: {}", what, s.ToString()));
}

void rocks_write(rocksdb::DB& db, const rocksdb::WriteOptions& options, rocksdb::WriteBatch& batch,
                 std::string_view what) {
  auto s = db.Write(options, &batch);
  if (!s.ok() && db.Resume().ok()) s = db.Write(options, &batch);
  rocks_check(s, what);
}

}  // namespace streamrec::store
