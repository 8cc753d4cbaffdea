#include "streamrec/store/catalog.h"

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include <sstream>

#include <fmt/format.h>

#include "streamrec/core/error.h"
#include "streamrec/core/serialize.h"
#include "streamrec/store/rocks.h"

namespace streamrec::store {
namespace {

// Record formats: 1 = the first; 2 = items also carry an image path. Users stay at 1.
constexpr uint8_t kUserFormat = 1, kItemFormat = 2;
constexpr uint64_t kMaxEntries = 1 << 20;
const std::string kItemPrefix = "i/", kUserPrefix = "u/";

// Users are keyed by a 64-bit FNV-1a hash of their id (the id itself is in the value), so
// that no user id is left in RocksDB's MANIFEST (which records file key ranges) after the
// user's record is deleted and compacted away.
std::string user_key(const std::string& id) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : id) h = (h ^ c) * 1099511628211ull;
  return kUserPrefix + fmt::format("{:016x}", h);
}

void check(const rocksdb::Status& s, const std::string& what) {
  rocks_check(s, "catalog: " + what);
}

void write_strings(BinaryWriter& w, const std::vector<std::string>& v) {
  w.u64(v.size());
  for (const auto& s : v) w.str(s);
}

std::vector<std::string> read_strings(BinaryReader& r) {
  std::vector<std::string> v(r.count(kMaxEntries));
  for (auto& s : v) s = r.str();
  return v;
}

template <typename Map>
void write_map(BinaryWriter& w, const Map& m) {
  w.u64(m.size());
  for (const auto& [k, v] : m) {
    w.str(k);
    if constexpr (std::is_same_v<typename Map::mapped_type, double>)
      w.f64(v);
    else
      w.str(v);
  }
}

template <typename Map>
Map read_map(BinaryReader& r) {
  Map m;
  const auto n = r.count(kMaxEntries);
  for (uint64_t x = 0; x < n; ++x) {
    auto k = r.str();
    if constexpr (std::is_same_v<typename Map::mapped_type, double>)
      m[std::move(k)] = r.f64();
    else
      m[std::move(k)] = r.str();
  }
  return m;
}

template <typename Fn>
std::string encode_with(uint8_t format, Fn&& fn) {
  std::ostringstream out;
  BinaryWriter w(out);
  w.u8(format);
  fn(w);
  return out.str();
}

// Calls fn(reader, format) for a record of a format from 1 to `newest`.
template <typename Fn>
void decode_with(std::string_view bytes, const std::string& what, uint8_t newest, Fn&& fn) {
  std::istringstream in{std::string(bytes)};
  BinaryReader r(in, what);
  const auto format = r.u8();
  SR_CHECK(format >= 1 && format <= newest, ErrorKind::kCorrupt, "{}: unknown record format {}",
           what, format);
  fn(r, format);
  SR_CHECK(in.peek() == std::char_traits<char>::eof(), ErrorKind::kCorrupt,
           "{}: trailing bytes after the record", what);
}

}  // namespace

Catalog::Catalog(const std::string& path, bool sync) : sync_(sync) {
  rocksdb::Options o = rocks_options();
  check(rocks_open(o, path, db_), "cannot open '" + path + "'");
}

Catalog::~Catalog() = default;

std::string Catalog::encode(const ItemRecord& r) {
  return encode_with(kItemFormat, [&](BinaryWriter& w) {
    w.str(r.attrs.title);
    write_strings(w, r.attrs.categories);
    write_strings(w, r.attrs.tags);
    write_map(w, r.attrs.numeric);
    write_map(w, r.fields);
    w.u8(r.hidden ? 1 : 0);
    w.i64(r.expires_at);
    w.i64(r.created_at);
    w.str(r.attrs.image);
  });
}

std::string Catalog::encode(const UserRecord& r) {
  return encode_with(kUserFormat, [&](BinaryWriter& w) {
    w.str(r.id);
    write_map(w, r.attrs.fields);
    write_map(w, r.attrs.numeric);
  });
}

ItemRecord Catalog::decode_item(std::string_view bytes, std::string_view id) {
  ItemRecord r;
  r.id = id;
  decode_with(bytes, "catalog item '" + r.id + "'", kItemFormat, [&](BinaryReader& in, uint8_t f) {
    r.attrs.title = in.str();
    r.attrs.categories = read_strings(in);
    r.attrs.tags = read_strings(in);
    r.attrs.numeric = read_map<std::map<std::string, double>>(in);
    r.fields = read_map<std::map<std::string, std::string>>(in);
    r.hidden = in.u8() != 0;
    r.expires_at = in.i64();
    r.created_at = in.i64();
    if (f >= 2) r.attrs.image = in.str();
  });
  return r;
}

UserRecord Catalog::decode_user(std::string_view bytes, std::string_view id) {
  UserRecord r;
  decode_with(bytes, "catalog user '" + std::string(id) + "'", kUserFormat,
              [&](BinaryReader& in, uint8_t) {
                r.id = in.str();
                r.attrs.fields = read_map<std::map<std::string, std::string>>(in);
                r.attrs.numeric = read_map<std::map<std::string, double>>(in);
              });
  return r;
}

void Catalog::put_items(std::span<const ItemRecord> items) {
  rocksdb::WriteBatch batch;
  for (const auto& r : items) check(batch.Put(kItemPrefix + r.id, encode(r)), "batch");
  rocksdb::WriteOptions wo;
  wo.sync = sync_;
  rocks_write(*db_, wo, batch, "catalog: cannot write items");
}

void Catalog::put_users(std::span<const UserRecord> users) {
  rocksdb::WriteBatch batch;
  for (const auto& r : users) check(batch.Put(user_key(r.id), encode(r)), "batch");
  rocksdb::WriteOptions wo;
  wo.sync = sync_;
  rocks_write(*db_, wo, batch, "catalog: cannot write users");
}

std::optional<ItemRecord> Catalog::item(const std::string& id) const {
  std::string value;
  const auto s = db_->Get(rocksdb::ReadOptions(), kItemPrefix + id, &value);
  if (s.IsNotFound()) return std::nullopt;
  check(s, "cannot read item '" + id + "'");
  return decode_item(value, id);
}

std::optional<UserRecord> Catalog::user(const std::string& id) const {
  std::string value;
  const auto s = db_->Get(rocksdb::ReadOptions(), user_key(id), &value);
  if (s.IsNotFound()) return std::nullopt;
  check(s, "cannot read user '" + id + "'");
  auto r = decode_user(value, id);
  if (r.id != id) return std::nullopt;  // a hash collision: another user's record
  return r;
}

void Catalog::scan_items(const std::function<void(const ItemRecord&)>& fn) const {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek(kItemPrefix); it->Valid() && it->key().starts_with(kItemPrefix); it->Next()) {
    const auto key = it->key().ToStringView().substr(kItemPrefix.size());
    fn(decode_item(it->value().ToStringView(), key));
  }
  check(it->status(), "cannot scan items");
}

void Catalog::scan_users(const std::function<void(const UserRecord&)>& fn) const {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek(kUserPrefix); it->Valid() && it->key().starts_with(kUserPrefix); it->Next())
    fn(decode_user(it->value().ToStringView(), it->key().ToStringView()));
  check(it->status(), "cannot scan users");
}

bool Catalog::erase_user(const std::string& id) {
  if (!user(id)) return false;
  rocksdb::WriteOptions wo;
  wo.sync = sync_;
  rocksdb::WriteBatch batch;
  batch.Delete(user_key(id));
  rocks_write(*db_, wo, batch, "catalog: cannot delete user '" + id + "'");
  // Purge the record from the files themselves, not just mark it deleted.
  check(db_->Flush(rocksdb::FlushOptions()), "flush failed");
  rocksdb::CompactRangeOptions co;
  co.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
  check(db_->CompactRange(co, nullptr, nullptr), "compaction failed");
  return true;
}

}  // namespace streamrec::store
