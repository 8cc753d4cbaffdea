// Internal to models/seq*.cpp: what SeqModel's item tower knows of each item (Content: its
// attribute values as hashed embedding keys, and its picture) and the embedding bags built
// from it. Plain values; the model's owner serialises access.
#pragma once

#include <cmath>
#include <string>
#include <unordered_map>
#include <vector>

#include "streamrec/core/error.h"
#include "streamrec/core/log.h"
#include "streamrec/core/serialize.h"
#include "streamrec/core/text.h"
#include "streamrec/data/image.h"
#include "streamrec/data/records.h"
#include "streamrec/embedding/keys.h"

namespace streamrec::models::seq_internal {

// Feature slots in the embedding table: item ids, and the item tower's attribute values.
inline constexpr uint32_t kItemSlot = 1, kCategorySlot = 2, kTitleSlot = 3, kTagSlot = 4,
                          kNumericSlot = 5;

// Attribute fields the item tower reads (param `features`).
enum Field : unsigned { kCategories = 1, kTitle = 2, kTags = 4, kNumeric = 8, kImage = 16 };

inline unsigned parse_fields(const std::string& spec) {
  if (spec == "none" || spec.empty()) return 0;
  if (spec == "all") return kCategories | kTitle | kTags | kNumeric | kImage;
  unsigned fields = 0;
  for (auto name : text::split(spec, "+")) {
    if (name == "categories")
      fields |= kCategories;
    else if (name == "title")
      fields |= kTitle;
    else if (name == "tags")
      fields |= kTags;
    else if (name == "numeric")
      fields |= kNumeric;
    else if (name == "image")
      fields |= kImage;
    else
      throw Error(ErrorKind::kInvalidInput,
                  fmt::format("seq: features: unknown field {} (expected none, all, or "
                              "categories, title, tags, numeric, image joined by '+')",
                              text::quote(name)));
  }
  return fields;
}

inline uint64_t hashed_key(uint32_t slot, std::string_view value) {
  uint64_t h = 1469598103934665603ULL;  // FNV-1a, then mixed
  for (unsigned char c : value) h = (h ^ c) * 1099511628211ULL;
  return embedding::make_key(slot, embedding::mix64(h));
}

// A numeric attribute as a categorical value: years in 5-year buckets, anything else on a
// half-octave log scale (price 9.99 and 11 share a bucket, 10 and 100 do not).
inline std::string numeric_bucket(const std::string& name, double v) {
  if (name == "year" || name == "release_year")
    return fmt::format("{}={}", name, static_cast<int64_t>(std::floor(v / 5)));
  const double b = std::floor(2 * std::log2(1 + std::abs(v)));
  return fmt::format("{}={}{}", name, v < 0 ? "-" : "", static_cast<int64_t>(b));
}

// What the item tower knows of each item: its attribute values as embedding keys (each
// field weighted 1/len, so a field counts once however many values it has) and its picture.
struct Content {
  unsigned fields = 0;
  int image_size = 0;
  std::vector<std::vector<uint64_t>> keys;
  std::vector<std::vector<float>> weights;
  std::vector<uint8_t> pixels;  // 3 * image_size^2 per item, channel-major
  std::vector<char> has_image;
  uint64_t image_errors = 0;
  uint64_t version = 0;  // moves with every change of keys (caches of bags compare it)

  bool enabled() const { return fields != 0; }
  size_t pixels_per_item() const { return 3 * static_cast<size_t>(image_size) * image_size; }
  void resize(size_t n) {
    ++version;
    keys.resize(n);
    weights.resize(n);
    has_image.resize(n, 0);
    if (fields & kImage) pixels.resize(n * pixels_per_item(), 0);
  }

  void set(uint32_t item, const data::ItemAttributes& a) {
    if (item >= keys.size()) resize(item + 1);
    ++version;
    auto& k = keys[item];
    auto& w = weights[item];
    k.clear();
    w.clear();
    auto add_field = [&](uint32_t slot, const std::vector<std::string>& values) {
      for (const auto& v : values) {
        k.push_back(hashed_key(slot, v));
        w.push_back(1.0f / static_cast<float>(values.size()));
      }
    };
    if (fields & kCategories) add_field(kCategorySlot, a.categories);
    if (fields & kTitle) add_field(kTitleSlot, text::tokenize(a.title));
    if (fields & kTags) add_field(kTagSlot, a.tags);
    if (fields & kNumeric) {
      std::vector<std::string> buckets;
      for (const auto& [name, v] : a.numeric)
        if (std::isfinite(v)) buckets.push_back(numeric_bucket(name, v));
      add_field(kNumericSlot, buckets);
    }
    has_image[item] = 0;
    if ((fields & kImage) && !a.image.empty()) {
      std::vector<uint8_t> px;
      std::string error;
      if (data::load_image_rgb(a.image, image_size, px, error)) {
        std::copy(px.begin(), px.end(), pixels.begin() + item * pixels_per_item());
        has_image[item] = 1;
      } else if (image_errors++ < 5) {
        // A bad picture costs the item its image branch, not the training run.
        log::warn("seq: item {}: image {}: {} (item used without its image)", item,
                  text::quote(a.image, 200), error);
      }
    }
  }

  void save(BinaryWriter& out) const {
    out.u32(fields);
    out.u32(static_cast<uint32_t>(image_size));
    out.u64(keys.size());
    for (size_t i = 0; i < keys.size(); ++i) {
      out.u64(keys[i].size());
      for (uint64_t key : keys[i]) out.u64(key);
      out.f32s(weights[i]);
    }
    out.bytes(has_image.data(), has_image.size());
    out.bytes(pixels.data(), pixels.size());
  }

  void load(BinaryReader& in) {
    fields = in.u32();
    image_size = static_cast<int>(in.u32());
    const auto n = in.count(uint64_t{1} << 32);
    keys.assign(n, {});
    weights.assign(n, {});
    for (size_t i = 0; i < n; ++i) {
      keys[i].resize(in.count(uint64_t{1} << 20));
      for (auto& key : keys[i]) key = in.u64();
      weights[i] = in.f32s();
      SR_CHECK(weights[i].size() == keys[i].size(), ErrorKind::kCorrupt,
               "seq: item {} has {} feature keys but {} weights", i, keys[i].size(),
               weights[i].size());
    }
    has_image.assign(n, 0);
    in.bytes(has_image.data(), n);
    pixels.assign((fields & kImage) ? n * pixels_per_item() : 0, 0);
    in.bytes(pixels.data(), pixels.size());
  }
};

// The attribute rows of a list of items as one embedding bag: the distinct keys, and per
// item its positions among them (index, offsets) with the field weights.
struct Bag {
  std::vector<uint64_t> keys;
  std::vector<int64_t> index, offsets;
  std::vector<float> weights;
};

inline Bag make_bag(const Content& content, const std::vector<uint32_t>& rows) {
  Bag b;
  std::unordered_map<uint64_t, int64_t> local_of;
  b.offsets.resize(rows.size());
  for (size_t r = 0; r < rows.size(); ++r) {
    b.offsets[r] = static_cast<int64_t>(b.index.size());
    const auto item = rows[r];
    if (item >= content.keys.size()) continue;
    for (size_t f = 0; f < content.keys[item].size(); ++f) {
      auto [it, added] =
          local_of.try_emplace(content.keys[item][f], static_cast<int64_t>(b.keys.size()));
      if (added) b.keys.push_back(content.keys[item][f]);
      b.index.push_back(it->second);
      b.weights.push_back(content.weights[item][f]);
    }
  }
  return b;
}

}  // namespace streamrec::models::seq_internal
