// What every RocksDB database of the store shares (module store, internal): the options it
// opens with and the mapping of a RocksDB status to our Error.
//
// RocksDB's own info log goes to Streamrec's log (errors only), not to a LOG
// file beside the data: on a full disk, Debian's RocksDB asserts (aborts the process) when
// it logs the write error to a LOG file that is failing too.
#pragma once

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/status.h>

#include <memory>
#include <string>
#include <string_view>

namespace streamrec::store {

// create_if_missing, and the info log forwarded to streamrec's log.
rocksdb::Options rocks_options();
// DB::Open of `path`, its directory made first (else RocksDB logs an error about the
// missing directory before it creates it). The status is the caller's to check.
rocksdb::Status rocks_open(const rocksdb::Options& options, const std::string& path,
                           std::unique_ptr<rocksdb::DB>& db);

// Error(kNoSpace) when the disk is full, Error(kIo) for any other failure; `what` names the
// database and the operation ("event log: append to '...' failed").
void rocks_check(const rocksdb::Status& s, std::string_view what);

// db.Write(options, batch), checked. A failed write stops RocksDB's writes until it
// recovers: from a full disk by itself, a few seconds after the disk has room again (its
// SstFileManager wants the size of a memtable, 64 MiB, free); from other errors when
// asked (DB::Resume). So a write that fails asks for a Resume once and, if that works,
// writes again: the failed write was not applied, so nothing is written twice.
void rocks_write(rocksdb::DB& db, const rocksdb::WriteOptions& options, rocksdb::WriteBatch& batch,
                 std::string_view what);

}  // namespace streamrec::store
