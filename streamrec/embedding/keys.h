// 64-bit embedding keys: a feature slot in the high 16 bits, the value's index in the low 48
// bits, so keys of different features never collide and no two values share a row.
#pragma once

#include <cstdint>

namespace streamrec::embedding {

constexpr int kSlotBits = 16;
constexpr int kIndexBits = 64 - kSlotBits;
constexpr uint64_t kIndexMask = (uint64_t{1} << kIndexBits) - 1;

constexpr uint64_t make_key(uint32_t slot, uint64_t index) {
  return (uint64_t{slot} << kIndexBits) | (index & kIndexMask);
}
constexpr uint32_t key_slot(uint64_t key) { return static_cast<uint32_t>(key >> kIndexBits); }
constexpr uint64_t key_index(uint64_t key) { return key & kIndexMask; }

// A strong 64-bit mix (splitmix64 finalizer): hashing and per-key deterministic init.
constexpr uint64_t mix64(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

}  // namespace streamrec::embedding
