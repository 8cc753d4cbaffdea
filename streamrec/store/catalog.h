// The durable catalog (module store): item and user records with their attributes, in
// RocksDB beside the event log. An upsert replaces the whole record and is durable (with
// `sync`) before it returns, so an acknowledged catalog change survives a crash.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "streamrec/data/records.h"

namespace rocksdb {
class DB;
}

namespace streamrec::store {

struct ItemRecord {
  std::string id;
  data::ItemAttributes attrs;                 // title, categories, tags, numeric fields
  std::map<std::string, std::string> fields;  // other string attributes (brand, language ...)
  bool hidden = false;                        // never recommended (still known to the model)
  int64_t expires_at = 0;  // Unix seconds after which it is not recommended; 0: never
  int64_t created_at = 0;  // Unix seconds of the first upsert (kept by later upserts)
};

struct UserRecord {
  std::string id;
  data::UserAttributes attrs;
};

class Catalog {
 public:
  // Opens (creating if needed) the catalog in directory `path`; Error(kIo) if RocksDB cannot.
  explicit Catalog(const std::string& path, bool sync = true);
  ~Catalog();
  Catalog(const Catalog&) = delete;
  Catalog& operator=(const Catalog&) = delete;

  // Writes the records atomically (one batch). Thread-safe.
  void put_items(std::span<const ItemRecord> items);
  void put_users(std::span<const UserRecord> users);
  std::optional<ItemRecord> item(const std::string& id) const;
  std::optional<UserRecord> user(const std::string& id) const;
  // Every item, in id byte order; every user, in no particular order.
  void scan_items(const std::function<void(const ItemRecord&)>& fn) const;
  void scan_users(const std::function<void(const UserRecord&)>& fn) const;
  // Removes a user's record (a privacy request) and compacts it out of the files; true if
  // there was one.
  bool erase_user(const std::string& id);

  static std::string encode(const ItemRecord& r);
  static std::string encode(const UserRecord& r);
  // Error(kCorrupt) naming the record when the bytes do not parse.
  static ItemRecord decode_item(std::string_view bytes, std::string_view id);
  static UserRecord decode_user(std::string_view bytes, std::string_view id);

 private:
  bool sync_;
  std::unique_ptr<rocksdb::DB> db_;
};

}  // namespace streamrec::store
