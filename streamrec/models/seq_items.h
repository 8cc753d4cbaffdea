// Internal to models/seq*.cpp: SeqModel's item tower. An item's embedding is its id row
// (items with events only; dropped in training with probability id_dropout so the content
// part learns to stand alone) + the weighted sum of its attribute rows + the image tower's
// output. Id and attribute rows live in one embedding table (our EmbeddingTable, keyed by
// slot); the image tower is a libtorch CNN. Not thread-safe: the model's owner serialises
// access. Includes libtorch.
#pragma once

#include <cstring>
#include <memory>
#include <vector>

#include "streamrec/embedding/keys.h"
#include "streamrec/embedding/table.h"
#include "streamrec/models/data_parallel_torch.h"
#include "streamrec/models/seq_content.h"
#include "streamrec/models/seq_net.h"
#include "streamrec/models/sparse_rows.h"

namespace streamrec::models::seq_internal {

struct ItemTower {
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
  // During a data-parallel fit: `items` is this process's shard, and every gather and
  // gradient goes through `world` (the same calls on every rank, even with no keys).
  DataParallel* world = nullptr;

  // The softmax's closed columns over rows [padding, item 0, ...]: 0 (padding) and item + 1
  // of every item without events; and `open` [items, 1] (1: has events), when asked.
  torch::Tensor closed_columns(torch::Tensor* open = nullptr) const {
    const auto n = static_cast<int64_t>(has_id.size());
    std::vector<int64_t> closed{0};
    for (int64_t i = 0; i < n; ++i)
      if (!has_id[i]) closed.push_back(i + 1);
    if (open) {
      *open = torch::empty({n, 1});
      float* p = open->data_ptr<float>();
      for (int64_t i = 0; i < n; ++i) p[i] = has_id[i] ? 1.0f : 0.0f;
    }
    return torch::tensor(closed, torch::kLong);
  }

  // The leaf tensors of one step's item embeddings, whose gradients go back to the table.
  struct Leaves {
    std::vector<uint64_t> id_keys, feature_keys;
    torch::Tensor ids, features;
  };

  // Rows of `keys` [keys.size(), dim] from the table (or, in a data-parallel fit, their
  // owners); `train` admits them (gather_train).
  torch::Tensor gather(const std::vector<uint64_t>& keys, bool train) {
    return world ? gather_rows(*world, *items, keys, train) : gather_rows(*items, keys, train);
  }
  // A step's row gradients to the table; in a data-parallel fit they are queued for the
  // world's apply_gradients.
  void apply(const Leaves& leaves) {
    if (!world) {
      apply_row_gradients(*items, leaves.id_keys, leaves.ids);
      if (leaves.features.defined())
        apply_row_gradients(*items, leaves.feature_keys, leaves.features);
      return;
    }
    push_row_gradients(*world, leaves.id_keys, leaves.ids);
    push_row_gradients(*world, leaves.feature_keys, leaves.features);
  }

  // Embeddings [rows.size(), dim] of items `rows`. With `leaves`, a training step's
  // differentiable leaves (and id dropout).
  torch::Tensor embed(const std::vector<uint32_t>& rows, Leaves* leaves) {
    const bool train = leaves != nullptr;
    const auto n = static_cast<int64_t>(rows.size());
    std::vector<uint64_t> id_keys(rows.size());
    auto mask = torch::empty({n, 1});
    auto* pm = mask.data_ptr<float>();
    for (int64_t r = 0; r < n; ++r) {
      id_keys[r] = item_keys[rows[r]];
      pm[r] = has_id[rows[r]] ? 1.0f : 0.0f;
    }
    auto ids = train ? gather_id_rows(id_keys, pm) : gather(id_keys, false);
    if (train) ids.requires_grad_(true);
    if (train && id_dropout > 0 && content.enabled())
      mask.mul_(torch::bernoulli(torch::full({n, 1}, 1.0 - id_dropout)));
    auto emb = ids * mask;
    if (content.enabled()) {
      emb = add_attributes(emb, rows, leaves);
      if (image_tower) emb = add_images(emb, rows);
    }
    if (leaves) {
      leaves->id_keys = std::move(id_keys);
      leaves->ids = ids;
    }
    return emb;
  }

  // A training step's id rows: only items with events are admitted to the table (the
  // others' rows are masked to zero anyway, and a row is memory: the state TTL erases an
  // idle item's row, which must not come back with the next full-softmax step).
  torch::Tensor gather_id_rows(const std::vector<uint64_t>& id_keys, const float* has) {
    const auto n = static_cast<int64_t>(id_keys.size());
    std::vector<uint64_t> live;
    std::vector<int64_t> at;
    for (int64_t r = 0; r < n; ++r)
      if (has[r] > 0) {
        live.push_back(id_keys[r]);
        at.push_back(r);
      }
    if (static_cast<int64_t>(live.size()) == n) return gather(id_keys, true);
    auto ids = torch::zeros({n, static_cast<int64_t>(items->dim())});
    auto rows = gather(live, true);  // even with no keys: a collective in a data-parallel fit
    if (!at.empty()) ids.index_copy_(0, torch::tensor(at, torch::kLong), rows);
    return ids;
  }

  // Adds ids for items below `n` (their rows start when first trained).
  void grow(uint32_t n) {
    for (auto i = static_cast<uint32_t>(item_keys.size()); i < n; ++i) {
      item_keys.push_back(embedding::make_key(kItemSlot, i));
      all_items.push_back(i);
    }
    has_id.resize(item_keys.size(), 0);
    if (content.enabled()) content.resize(item_keys.size());
  }

  // Item attributes as Content::save wrote them; their fields must be this model's.
  void load_content(BinaryReader& in, const std::string& what, uint32_t n_items) {
    const unsigned fields = content.fields;
    content.load(in);
    SR_CHECK(content.fields == fields, ErrorKind::kCorrupt,
             "{}: item features {} differ from this model's ({})", what, content.fields, fields);
    content.resize(n_items);
  }

 private:
  // emb + each item's attribute rows as one embedding bag (weighted sum of its values).
  torch::Tensor add_attributes(const torch::Tensor& emb, const std::vector<uint32_t>& rows,
                               Leaves* leaves) {
    Bag local;
    const bool all = &rows == &all_items;
    if (all && (all_bag_version != content.version || all_bag_rows != rows.size())) {
      all_bag = make_bag(content, rows);
      all_bag_version = content.version;
      all_bag_rows = rows.size();
    }
    if (!all) local = make_bag(content, rows);
    const Bag& bag = all ? all_bag : local;
    if (bag.keys.empty() && !world) return emb;
    auto F = gather(bag.keys, leaves != nullptr);  // a collective in a data-parallel fit
    if (bag.keys.empty()) return emb;
    if (leaves) F.requires_grad_(true);
    namespace nnf = torch::nn::functional;
    auto out = emb + nnf::embedding_bag(
                         torch::tensor(bag.index, torch::kLong), F,
                         nnf::EmbeddingBagFuncOptions()
                             .offsets(torch::tensor(bag.offsets, torch::kLong))
                             .mode(torch::kSum)
                             .per_sample_weights(torch::tensor(bag.weights, torch::kFloat)));
    if (leaves) {
      leaves->feature_keys = bag.keys;
      leaves->features = F;
    }
    return out;
  }

  // emb + the image tower's output for the items that have a picture.
  torch::Tensor add_images(const torch::Tensor& emb, const std::vector<uint32_t>& rows) {
    std::vector<int64_t> with;
    for (size_t r = 0; r < rows.size(); ++r)
      if (rows[r] < content.has_image.size() && content.has_image[rows[r]])
        with.push_back(static_cast<int64_t>(r));
    if (with.empty()) return emb;
    const auto per = static_cast<int64_t>(content.pixels_per_item());
    auto px =
        torch::empty({static_cast<int64_t>(with.size()), 3, content.image_size, content.image_size},
                     torch::kUInt8);
    for (size_t x = 0; x < with.size(); ++x)
      std::memcpy(px.data_ptr<uint8_t>() + x * per, content.pixels.data() + rows[with[x]] * per,
                  per);
    auto out = image_tower(px.to(torch::kFloat).div_(255.0f));
    return emb.index_add(0, torch::tensor(with, torch::kLong), out);
  }
};

}  // namespace streamrec::models::seq_internal
