// Internal to models/seq*.cpp: SeqModel's state (network, optimizers, item table and
// attribute content, sequences, scoring cache, online queue and replay pool, delta
// tracking) and the item tower's content helpers. Not for other modules: it includes
// libtorch.
#pragma once

#include "streamrec/models/seq.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <numeric>
#include <random>
#include <sstream>
#include <unordered_map>

#include "streamrec/core/error.h"
#include "streamrec/core/log.h"
#include "streamrec/core/parallel.h"
#include "streamrec/core/serialize.h"
#include "streamrec/core/simd.h"
#include "streamrec/core/text.h"
#include "streamrec/data/image.h"
#include "streamrec/embedding/keys.h"
#include "streamrec/embedding/table.h"
#include "streamrec/models/seq_net.h"
#include "streamrec/models/sparse_rows.h"
#include "streamrec/models/torch_threads.h"

namespace streamrec::models {
namespace seq_internal {

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

inline double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
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

}  // namespace seq_internal

using namespace seq_internal;

struct SeqModel::State {
  int64_t dim = 0, maxlen = 0;
  int64_t fit_rows = 0;  // item rows at fit (the initialiser's scale)
  SeqEncoder encoder{nullptr};
  std::unique_ptr<torch::optim::Adam> dense_opt;
  std::unique_ptr<embedding::EmbeddingTable> items;  // item ids and attribute values
  std::vector<uint64_t> item_keys;                   // key of item i at position i
  std::vector<uint32_t> all_items;                   // 0 .. items - 1
  // Items with events (fitted or observed): only they have a trained id row and take part
  // in the softmax; the others (catalog items not yet seen) are scored by content alone.
  std::vector<char> has_id;
  Content content;
  // The bag of every item (full-softmax steps and scoring use it), rebuilt when the content
  // or the item count changes.
  Bag all_bag;
  uint64_t all_bag_version = UINT64_MAX;
  size_t all_bag_rows = 0;
  ImageTower image_tower{nullptr};
  double id_dropout = 0;
  std::vector<std::vector<uint32_t>> seqs;  // user -> fitted (and observed) items in time order
  std::mt19937_64 rng;
  // Scoring state: item rows [items, dim]; cached user vectors [users, dim] valid for users
  // whose sequence has not changed since they were computed (stale[u] == 0).
  torch::Tensor user_vectors;
  torch::Tensor item_rows_eval;  // [items + 1, dim], row 0 zero (padding)
  double last_loss = 0;          // of the last training step
  torch::Tensor item_matrix;     // view of item_rows_eval without row 0
  std::vector<char> stale;
  // Online learning: users with observed events not yet learned, and the users a replay
  // sample is drawn from.
  std::vector<uint32_t> pending;
  std::vector<int64_t> local;  // item + 1 -> local row of a sampled step (scratch)
  // The items whose rows the last train_step changed: all of them (a full-softmax step), or
  // only the sampled ones in `step_rows`.
  bool step_all = true;
  std::vector<uint32_t> step_rows;
  std::vector<uint32_t> replay_pool;
  std::vector<char> in_pool;
  // Delta updates (mark_delta): open while the state since the mark is a delta; the users
  // whose sequences grew and whether item attributes changed since then (weights and item
  // rows are sent whole / by the table's own delta).
  bool delta_open = false;
  bool delta_content = false;
  std::vector<uint32_t> delta_users;
  std::vector<char> in_delta;

  // The leaf tensors of one step's item embeddings, whose gradients go back to the table.
  struct Leaves {
    std::vector<uint64_t> id_keys, feature_keys;
    torch::Tensor ids, features;
    void apply(embedding::EmbeddingTable& table) const {
      apply_row_gradients(table, id_keys, ids);
      if (features.defined()) apply_row_gradients(table, feature_keys, features);
    }
  };

  // Item embeddings [1 + rows.size(), dim] of items `rows` (row 0: padding, zero): the id
  // row (items with events only; in training dropped with probability id_dropout so the
  // content part learns to stand alone) + the weighted sum of the item's attribute rows +
  // the image tower's output. With `leaves`, a training step's differentiable leaves.
  torch::Tensor item_embeddings(const std::vector<uint32_t>& rows, Leaves* leaves) {
    const bool train = leaves != nullptr;
    const auto n = static_cast<int64_t>(rows.size());
    std::vector<uint64_t> id_keys(rows.size());
    auto mask = torch::empty({n, 1});
    auto* pm = mask.data_ptr<float>();
    for (int64_t r = 0; r < n; ++r) {
      id_keys[r] = item_keys[rows[r]];
      pm[r] = has_id[rows[r]] ? 1.0f : 0.0f;
    }
    auto ids = gather_rows(*items, id_keys, train);
    if (train) ids.requires_grad_(true);
    if (train && id_dropout > 0 && content.enabled())
      mask.mul_(torch::bernoulli(torch::full({n, 1}, 1.0 - id_dropout)));
    auto emb = ids * mask;
    if (content.enabled()) {
      // Attribute rows: one embedding bag per item (weighted sum of its distinct values).
      Bag local;
      const bool all = &rows == &all_items;
      if (all && (all_bag_version != content.version || all_bag_rows != rows.size())) {
        all_bag = make_bag(content, rows);
        all_bag_version = content.version;
        all_bag_rows = rows.size();
      }
      if (!all) local = make_bag(content, rows);
      const Bag& bag = all ? all_bag : local;
      if (!bag.keys.empty()) {
        auto F = gather_rows(*items, bag.keys, train);
        if (train) F.requires_grad_(true);
        namespace nnf = torch::nn::functional;
        emb = emb + nnf::embedding_bag(
                        torch::tensor(bag.index, torch::kLong), F,
                        nnf::EmbeddingBagFuncOptions()
                            .offsets(torch::tensor(bag.offsets, torch::kLong))
                            .mode(torch::kSum)
                            .per_sample_weights(torch::tensor(bag.weights, torch::kFloat)));
        if (leaves) {
          leaves->feature_keys = bag.keys;
          leaves->features = F;
        }
      }
      if (image_tower) {
        std::vector<int64_t> with;
        for (int64_t r = 0; r < n; ++r)
          if (rows[r] < content.has_image.size() && content.has_image[rows[r]]) with.push_back(r);
        if (!with.empty()) {
          const auto per = static_cast<int64_t>(content.pixels_per_item());
          auto px = torch::empty(
              {static_cast<int64_t>(with.size()), 3, content.image_size, content.image_size},
              torch::kUInt8);
          for (size_t x = 0; x < with.size(); ++x)
            std::memcpy(px.data_ptr<uint8_t>() + x * per,
                        content.pixels.data() + rows[with[x]] * per, per);
          auto out = image_tower(px.to(torch::kFloat).div_(255.0f));
          emb = emb.index_add(0, torch::tensor(with, torch::kLong), out);
        }
      }
    }
    if (leaves) {
      leaves->id_keys = std::move(id_keys);
      leaves->ids = ids;
    }
    return torch::cat({torch::zeros({1, dim}), emb});
  }

  // Item rows [items + 1, dim] for scoring (no dropout, no gradients); row 0 is zero.
  torch::Tensor item_rows() { return item_embeddings(all_items, nullptr); }

  // Builds left-padded inputs [B, W] (item + 1; 0 = padding) for `users` from each sequence
  // without its last `drop_last` items; with `targets`, also the next-item targets [B, W]
  // (0 = no target), the inputs then ending one item earlier. W = maxlen.
  std::pair<torch::Tensor, torch::Tensor> make_batch(std::span<const uint32_t> users, bool targets,
                                                     int drop_last) const {
    const int64_t B = static_cast<int64_t>(users.size());
    auto in = torch::zeros({B, maxlen}, torch::kLong);
    auto tg = torch::zeros({B, maxlen}, torch::kLong);
    auto* pin = in.data_ptr<int64_t>();
    auto* ptg = tg.data_ptr<int64_t>();
    for (int64_t r = 0; r < B; ++r) {
      const auto& s = seqs[users[r]];
      const int64_t n = static_cast<int64_t>(s.size()) - drop_last;  // usable prefix
      // Inputs s[n-1-k..n-2] predict s[n-k..n-1] (targets), or inputs are the last items.
      const int64_t len = std::max<int64_t>(0, std::min<int64_t>(maxlen, targets ? n - 1 : n));
      const int64_t first = (targets ? n - 1 : n) - len;
      for (int64_t k = 0; k < len; ++k) {
        pin[r * maxlen + maxlen - len + k] = s[first + k] + 1;
        if (targets) ptg[r * maxlen + maxlen - len + k] = s[first + k + 1] + 1;
      }
    }
    return {in, tg};
  }

  // One optimisation step of next-item cross-entropy at every position of `users`'
  // sequences (without their last `drop_last` items): dense weights by Adam, item rows by
  // the table's row optimizer. With `negatives` > 0 the softmax runs over a sample instead
  // of the catalog: the batch's own items (inputs and targets: in-batch negatives) plus
  // `negatives` uniformly drawn items, and only those rows are gathered and updated.
  // `last_targets` (empty, or one per user): when above 0, only the user's last that many
  // positions are targets (an online step on new events); 0: all of them.
  void train_step(std::span<const uint32_t> users, int drop_last, int64_t negatives = 0,
                  std::span<const uint32_t> last_targets = {}) {
    step_all = true;  // until a sampled step names its rows
    auto [in, tg] = make_batch(users, true, drop_last);
    auto* ptg = tg.data_ptr<int64_t>();
    for (size_t r = 0; r < last_targets.size(); ++r)
      if (last_targets[r] > 0 && last_targets[r] < maxlen)
        std::fill_n(ptg + r * maxlen, maxlen - last_targets[r], int64_t{0});
    auto valid = tg.gt(0).view({-1});
    if (valid.sum().item<int64_t>() == 0) return;
    const auto n_items = static_cast<int64_t>(item_keys.size());
    Leaves leaves;
    if (negatives <= 0 || negatives * 2 >= n_items) {
      // Items without events are not in the softmax (nothing says they are negatives).
      std::vector<int64_t> blocked{0};
      for (int64_t i = 0; i < n_items; ++i)
        if (!has_id[i]) blocked.push_back(i + 1);
      auto E = item_embeddings(all_items, &leaves);
      step(E, in, tg, valid, torch::tensor(blocked, torch::kLong));
      leaves.apply(*items);
      return;
    }
    // Local ids: 0 = padding, 1.. = the sampled rows in first-seen order.
    local.assign(n_items + 1, 0);
    std::vector<uint32_t> rows;
    auto remap = [&](torch::Tensor t) {
      auto* p = t.data_ptr<int64_t>();
      for (int64_t x = 0; x < t.numel(); ++x) {
        if (p[x] == 0) continue;
        auto& l = local[p[x]];
        if (l == 0) {
          rows.push_back(static_cast<uint32_t>(p[x] - 1));
          l = static_cast<int64_t>(rows.size());
        }
        p[x] = l;
      }
    };
    remap(in);
    remap(tg);
    for (int64_t k = 0; k < negatives; ++k) {
      const auto item = static_cast<int64_t>(rng() % static_cast<uint64_t>(n_items)) + 1;
      if (local[item] == 0 && has_id[item - 1]) {
        rows.push_back(static_cast<uint32_t>(item - 1));
        local[item] = static_cast<int64_t>(rows.size());
      }
    }
    auto E = item_embeddings(rows, &leaves);
    step(E, in, tg, valid, torch::zeros({1}, torch::kLong));
    leaves.apply(*items);
    step_all = false;
    step_rows = std::move(rows);
  }

  // Forward, loss over the rows of E (row 0 = padding, and the `blocked` columns out of the
  // softmax), backward, dense step.
  void step(const torch::Tensor& E, const torch::Tensor& in, const torch::Tensor& tg,
            const torch::Tensor& valid, const torch::Tensor& blocked) {
    auto h = encoder(E.index({in}), in.eq(0));  // [B, L, d]
    auto hv = h.reshape({-1, dim}).index({valid});
    // Never predicts padding (or blocked rows).
    auto loss = full_softmax_cross_entropy(hv, E, tg.view({-1}).index({valid}), blocked);
    dense_opt->zero_grad();
    loss.backward();
    dense_opt->step();
    last_loss = loss.item<double>();
  }

  // Hidden state after the last item of each of `users`' sequences [B, dim] (zero for
  // users without items), with item rows E from item_rows().
  torch::Tensor encode_last(std::span<const uint32_t> users, const torch::Tensor& E,
                            int drop_last) {
    auto [in, tg] = make_batch(users, false, drop_last);
    auto h = encoder(E.index({in}), in.eq(0)).select(1, maxlen - 1);
    auto has = in.select(1, maxlen - 1).gt(0).unsqueeze(1).to(torch::kFloat);
    return h * has;
  }

  // Users a replay sample is drawn from: everyone with at least two items.
  // Item attributes as Content::save wrote them; their fields must be this model's.
  void load_content(BinaryReader& in, const std::string& what, uint32_t n_items) {
    const unsigned fields = content.fields;
    content.load(in);
    SR_CHECK(content.fields == fields, ErrorKind::kCorrupt,
             "{}: item features {} differ from this model's ({})", what, content.fields, fields);
    content.resize(n_items);
  }

  // The encoder's weights and their Adam state, as two strings (torch::save archives).
  void write_dense(BinaryWriter& out) const {
    std::ostringstream enc, opt;
    torch::save(encoder, enc);
    torch::save(*dense_opt, opt);
    out.str(enc.str());
    out.str(opt.str());
  }

  void rebuild_replay_pool() {
    replay_pool.clear();
    in_pool.assign(seqs.size(), 0);
    for (uint32_t u = 0; u < seqs.size(); ++u)
      if (seqs[u].size() >= 2) {
        replay_pool.push_back(u);
        in_pool[u] = 1;
      }
  }

  void grow_items(uint32_t n) {
    for (auto i = static_cast<uint32_t>(item_keys.size()); i < n; ++i) {
      item_keys.push_back(embedding::make_key(kItemSlot, i));
      all_items.push_back(i);
    }
    has_id.resize(item_keys.size(), 0);
    if (content.enabled()) content.resize(item_keys.size());
  }
};

}  // namespace streamrec::models
