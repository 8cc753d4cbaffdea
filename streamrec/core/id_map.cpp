#include "streamrec/core/id_map.h"

#include "streamrec/core/error.h"
#include "streamrec/core/serialize.h"

namespace streamrec {

uint32_t IdMap::insert(std::string_view id) {
  auto it = index_.find(id);
  if (it != index_.end()) return it->second;
  SR_CHECK(ids_.size() < kMissing, ErrorKind::kInvalidInput, "IdMap is full ({} ids)", ids_.size());
  const auto index = static_cast<uint32_t>(ids_.size());
  ids_.emplace_back(id);
  index_.emplace(ids_.back(), index);
  return index;
}

uint32_t IdMap::find(std::string_view id) const {
  auto it = index_.find(id);
  return it == index_.end() ? kMissing : it->second;
}

void IdMap::reserve(size_t n) {
  ids_.reserve(n);
  index_.reserve(n);
}

void IdMap::save(std::ostream& out) const {
  BinaryWriter w(out);
  w.u64(ids_.size());
  for (const auto& id : ids_) w.str(id);
}

IdMap IdMap::load(std::istream& in) {
  BinaryReader r(in, "IdMap");
  IdMap map;
  const uint64_t n = r.u64();
  map.reserve(n);
  for (uint64_t i = 0; i < n; ++i) {
    const std::string id = r.str();
    SR_CHECK(map.insert(id) == i, ErrorKind::kCorrupt, "IdMap: duplicate id '{}'", id);
  }
  return map;
}

}  // namespace streamrec
