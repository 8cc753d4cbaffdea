// IdMap: external string ids <-> dense indices 0..size()-1.
//
// Ids are strings ("0104257" is not 104257). Indices are assigned in order of first
// insertion and never reused. Not thread-safe: one writer, no concurrent readers.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace streamrec {

class IdMap {
 public:
  static constexpr uint32_t kMissing = UINT32_MAX;

  // Index of `id`, inserting it if new.
  uint32_t insert(std::string_view id);
  // Index of `id`, or kMissing.
  uint32_t find(std::string_view id) const;
  const std::string& id(uint32_t index) const { return ids_.at(index); }
  uint32_t size() const { return static_cast<uint32_t>(ids_.size()); }
  // Every id, in index order.
  const std::vector<std::string>& ids() const { return ids_; }
  void reserve(size_t n);

  void save(std::ostream& out) const;
  static IdMap load(std::istream& in);

 private:
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, uint32_t, Hash, std::equal_to<>> index_;
  std::vector<std::string> ids_;
};

}  // namespace streamrec
