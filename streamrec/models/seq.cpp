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
namespace {

// Feature slots in the embedding table: item ids, and the item tower's attribute values.
constexpr uint32_t kItemSlot = 1, kCategorySlot = 2, kTitleSlot = 3, kTagSlot = 4, kNumericSlot = 5;

// Attribute fields the item tower reads (param `features`).
enum Field : unsigned { kCategories = 1, kTitle = 2, kTags = 4, kNumeric = 8, kImage = 16 };

unsigned parse_fields(const std::string& spec) {
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

uint64_t hashed_key(uint32_t slot, std::string_view value) {
  uint64_t h = 1469598103934665603ULL;  // FNV-1a, then mixed
  for (unsigned char c : value) h = (h ^ c) * 1099511628211ULL;
  return embedding::make_key(slot, embedding::mix64(h));
}

// A numeric attribute as a categorical value: years in 5-year buckets, anything else on a
// half-octave log scale (price 9.99 and 11 share a bucket, 10 and 100 do not).
std::string numeric_bucket(const std::string& name, double v) {
  if (name == "year" || name == "release_year")
    return fmt::format("{}={}", name, static_cast<int64_t>(std::floor(v / 5)));
  const double b = std::floor(2 * std::log2(1 + std::abs(v)));
  return fmt::format("{}={}{}", name, v < 0 ? "-" : "", static_cast<int64_t>(b));
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
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

Bag make_bag(const Content& content, const std::vector<uint32_t>& rows) {
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

}  // namespace

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

SeqModel::SeqModel(Params params) : params_(std::move(params)) {
  parse_fields(params_.str("features"));  // a bad field list fails at construction
}
SeqModel::~SeqModel() = default;

Params SeqModel::declare_params() {
  return Params(
      "seq",
      {ParamSpec::choice("encoder", "sasrec", {"sasrec", "gru", "lstm"}, "sequence encoder"),
       ParamSpec::integer("dim", 64, 4, 1024, "embedding and hidden size"),
       ParamSpec::integer("maxlen", 200, 2, 4096, "most recent items encoded"),
       ParamSpec::integer("blocks", 2, 1, 16, "self-attention blocks"),
       ParamSpec::integer("heads", 1, 1, 16, "attention heads (dim must divide)"),
       ParamSpec::real("dropout", 0.2, 0.0, 0.9, "dropout rate"),
       ParamSpec::real("lr", 0.002, 1e-6, 1.0, "Adam learning rate (dense and item rows)"),
       ParamSpec::integer("batch", 128, 1, 65536, "sequences per step"),
       ParamSpec::integer("epochs", 200, 1, 100000, "most epochs"),
       ParamSpec::integer("eval_every", 5, 1, 1000, "epochs between validation checks"),
       ParamSpec::integer("patience", 6, 1, 1000, "checks without improvement before stopping"),
       ParamSpec::integer("online_batch", 64, 1, 65536,
                          "online: observed events per micro-batch step"),
       ParamSpec::integer("online_replay", 64, 0, 65536,
                          "online: older users' sequences mixed into each step (forgetting)"),
       ParamSpec::integer("negatives", 0, 0, 1 << 24,
                          "fit: sampled softmax over the batch's items plus this many uniform "
                          "negatives (0: full softmax over the catalog)"),
       ParamSpec::choice("online_targets", "new", {"new", "all"},
                         "online: a step trains every position of the queued users' sequences "
                         "(all) or only their new events' (new)"),
       ParamSpec::integer("online_negatives", -1, -1, 1 << 24,
                          "online: sampled softmax over the batch's items plus this many "
                          "uniform negatives (0: full softmax over the catalog; -1: full "
                          "softmax up to 20,000 items, 1,000 negatives above)"),
       ParamSpec::string("features", "none",
                         "item tower: attribute fields added to each item's id row, joined "
                         "by '+' (categories, title, tags, numeric, image), all, or none; "
                         "items without events are then scored by them (cold start)"),
       ParamSpec::integer("image_size", 32, 8, 256, "item images are resized to this square"),
       ParamSpec::real("id_dropout", 0.1, 0.0, 1.0,
                       "item tower: share of id rows dropped per training step, so the "
                       "attribute part learns to stand alone"),
       ParamSpec::integer("warm_refit_epochs", 0, 0, 100000,
                          "0: every fit starts afresh; N: a refit of a fitted model continues "
                          "from its weights (new items get rows) for at most N epochs"),
       ParamSpec::integer("seed", 42, 0, INT64_MAX, "random seed")});
}

void SeqModel::prepare_fit(const TrainData& data, bool warm) {
  if (warm) flush();
  if (state_) state_->delta_open = false;  // a fit is no delta
  n_items_ = warm ? std::max(n_items_, data.num_items()) : data.num_items();
  online_steps_ = 0;
  // Item attributes outlive a refit (set_item_attributes); a catalog in `data` replaces them.
  if (!warm) {
    Content content = state_ ? std::move(state_->content) : Content{};
    state_ = std::make_unique<State>();
    state_->content = std::move(content);
  }
  auto& st = *state_;
  st.content.fields = parse_fields(params_.str("features"));
  st.content.image_size = static_cast<int>(params_.integer("image_size"));
  if (const auto* catalog = data.catalog(); catalog && st.content.enabled()) {
    Content fresh;  // the catalog's attributes replace every earlier one
    fresh.fields = st.content.fields;
    fresh.image_size = st.content.image_size;
    st.content = std::move(fresh);
    st.content.resize(n_items_);
    for (uint32_t i = 0; i < n_items_ && i < catalog->item_attrs.size(); ++i)
      st.content.set(i, catalog->item_attrs[i]);
  }
  st.dim = params_.integer("dim");
  st.maxlen = params_.integer("maxlen");
  st.rng.seed(static_cast<uint64_t>(params_.integer("seed")));
  if (!warm) {
    build_state(n_items_ + 1);  // row 0 is padding
    // Xavier-normal initialisation of every weight matrix (as the reference SASRec does);
    // item rows get the same scale from the table's per-key initialiser.
    torch::NoGradGuard no_grad;
    for (auto& p : st.encoder->named_parameters())
      if (p.value().dim() >= 2) torch::nn::init::xavier_normal_(p.value());
  }
  st.grow_items(n_items_);
  // Sequences in time order (TrainData events are time-ordered).
  st.seqs.assign(data.num_users(), {});
  for (const auto& e : data.events()) {
    st.seqs[e.user].push_back(e.item);
    st.has_id[e.item] = 1;
  }
}

double SeqModel::validation_ndcg(const std::vector<uint32_t>& valid_users) {
  // NDCG@10 of each user's held-out last item given the items before it, ranked against
  // all items except those already in the input.
  auto& st = *state_;
  const int64_t n_rows = n_items_ + 1;
  torch::NoGradGuard no_grad;
  st.encoder->eval();
  auto E = st.item_rows();
  double ndcg = 0;
  for (size_t b = 0; b < valid_users.size(); b += 256) {
    const size_t e = std::min(valid_users.size(), b + 256);
    const std::span<const uint32_t> users(valid_users.data() + b, e - b);
    auto scores = st.encode_last(users, E, 1).mm(E.t());
    scores.select(1, 0).fill_(-INFINITY);
    auto* ps = scores.data_ptr<float>();
    for (size_t r = 0; r < users.size(); ++r) {
      const auto& s = st.seqs[users[r]];
      float* row = ps + r * n_rows;
      for (size_t k = 0; k + 1 < s.size(); ++k) row[s[k] + 1] = -INFINITY;
      const float target = row[s.back() + 1];
      int64_t rank = 0;
      for (int64_t i = 1; i < n_rows && rank < 10; ++i)
        rank += row[i] > target || (row[i] == target && i < static_cast<int64_t>(s.back() + 1));
      if (rank < 10) ndcg += 1.0 / std::log2(rank + 2.0);
    }
  }
  st.encoder->train();
  return valid_users.empty() ? 0.0 : ndcg / valid_users.size();
}

void SeqModel::train_epochs(std::vector<uint32_t>& train_users,
                            const std::vector<uint32_t>& valid_users, bool warm) {
  auto& st = *state_;
  const int64_t batch = params_.integer("batch");
  std::stringstream best_dense, best_image;
  std::string best_items;
  int since_best = 0;
  uint64_t sequences = 0;
  double train_seconds = 0;
  const int64_t epochs = params_.integer(warm ? "warm_refit_epochs" : "epochs");
  for (int64_t epoch = 1; epoch <= epochs && !train_users.empty(); ++epoch) {
    const auto t0 = std::chrono::steady_clock::now();
    std::shuffle(train_users.begin(), train_users.end(), st.rng);
    st.encoder->train();
    for (size_t b = 0; b < train_users.size(); b += batch) {
      const size_t e = std::min(train_users.size(), b + static_cast<size_t>(batch));
      st.train_step(std::span<const uint32_t>(train_users.data() + b, e - b), 1,
                    params_.integer("negatives"));
      sequences += e - b;
    }
    train_seconds += seconds_since(t0);
    report_progress(epoch, epochs);
    if (epoch % params_.integer("eval_every") != 0 && epoch != epochs) continue;
    const double ndcg = validation_ndcg(valid_users);
    log::debug("seq epoch {}: validation ndcg@10 {:.4f}", epoch, ndcg);
    report_.epochs = static_cast<int>(epoch);
    if (ndcg > report_.best_ndcg) {
      report_.best_ndcg = ndcg;
      report_.best_epoch = static_cast<int>(epoch);
      since_best = 0;
      best_dense.str("");
      torch::save(st.encoder, best_dense);
      if (st.image_tower) {
        best_image.str("");
        torch::save(st.image_tower, best_image);
      }
      best_items = st.items->save_full_bytes();
    } else if (++since_best >= params_.integer("patience")) {
      break;
    }
  }
  if (report_.best_epoch > 0) {  // back to the best epoch
    best_dense.seekg(0);
    torch::load(st.encoder, best_dense);
    if (st.image_tower) {
      best_image.seekg(0);
      torch::load(st.image_tower, best_image);
    }
    st.items->load_full_bytes(best_items, "seq's best epoch");
  }
  report_.sequences_per_second = train_seconds > 0 ? sequences / train_seconds : 0;
}

void SeqModel::fit(const TrainData& data) {
  const auto start = std::chrono::steady_clock::now();
  use_torch_threads();
  torch::manual_seed(static_cast<uint64_t>(params_.integer("seed")));
  SR_INPUT_CHECK(
      params_.str("encoder") != "sasrec" || params_.integer("dim") % params_.integer("heads") == 0,
      "seq: dim {} is not divisible by heads {}", params_.integer("dim"), params_.integer("heads"));
  // A warm refit keeps the encoder, the item rows and the optimizers' state of the fitted
  // model and trains them further on `data`; the catalog can only have grown.
  const bool warm = params_.integer("warm_refit_epochs") > 0 && state_ && state_->items;
  prepare_fit(data, warm);
  std::vector<uint32_t> train_users, valid_users;
  for (uint32_t u = 0; u < data.num_users(); ++u) {
    if (state_->seqs[u].size() >= 3) train_users.push_back(u);  // a training pair + validation
    if (state_->seqs[u].size() >= 2) valid_users.push_back(u);
  }
  report_ = {};
  report_.best_ndcg = -1;
  train_epochs(train_users, valid_users, warm);
  // Final representations: every user's full fitted sequence, every item's row.
  state_->rebuild_replay_pool();
  refresh_vectors();
  report_.seconds = seconds_since(start);
  log::info("seq ({}): {} epochs, best {} (validation ndcg@10 {:.4f}), {:.0f} sequences/s",
            params_.str("encoder"), report_.epochs, report_.best_epoch, report_.best_ndcg,
            report_.sequences_per_second);
}

void SeqModel::build_state(int64_t n_rows) {
  // The encoder, the item table (Adam rows) and the dense optimizer, as params_ say.
  auto& st = *state_;
  st.encoder = SeqEncoder(SeqEncoderOptions(st.dim, st.maxlen)
                              .kind(params_.str("encoder"))
                              .blocks(params_.integer("blocks"))
                              .heads(params_.integer("heads"))
                              .dropout(params_.real("dropout")));
  st.content.fields = parse_fields(params_.str("features"));
  st.content.image_size = static_cast<int>(params_.integer("image_size"));
  st.id_dropout = params_.real("id_dropout");
  auto dense = st.encoder->parameters();
  if (st.content.fields & kImage) {
    st.image_tower = ImageTower(ImageTowerOptions(st.dim));
    for (auto& p : st.image_tower->parameters()) dense.push_back(p);
  }
  embedding::TableConfig tc;
  tc.dim = static_cast<uint32_t>(st.dim);
  tc.optimizer.kind = embedding::OptimizerKind::kAdam;
  tc.optimizer.lr = static_cast<float>(params_.real("lr"));
  tc.optimizer.beta2 = 0.98f;
  tc.init = embedding::TableConfig::Init::kNormal;
  tc.init_scale = static_cast<float>(std::sqrt(2.0 / (n_rows + st.dim)));
  tc.seed = static_cast<uint64_t>(params_.integer("seed"));
  st.items = std::make_unique<embedding::EmbeddingTable>(tc);
  st.dense_opt = std::make_unique<torch::optim::Adam>(
      dense, torch::optim::AdamOptions(params_.real("lr")).betas({0.9, 0.98}));
  st.fit_rows = n_rows;
}

void SeqModel::save(BinaryWriter& out) const {
  // (set_item_attributes alone makes a state without the model: still not fitted.)
  SR_INPUT_CHECK(state_ && state_->items, "seq: save() before fit()");
  SR_INPUT_CHECK(state_->pending.empty(), "seq: save() with unlearned events (flush first)");
  const auto& st = *state_;
  out.u64(static_cast<uint64_t>(st.fit_rows));
  out.u32(n_items_);
  out.u64(online_steps_);
  out.u64(st.seqs.size());
  for (const auto& s : st.seqs) out.u32s(s);
  st.write_dense(out);
  out.str(st.items->save_full_bytes());
  // The item tower: which items have id rows, their attribute keys and images, the CNN.
  out.bytes(st.has_id.data(), st.has_id.size());
  st.content.save(out);
  std::ostringstream image;
  if (st.image_tower) torch::save(st.image_tower, image);
  out.str(image.str());
}

void SeqModel::load(BinaryReader& in) {
  state_ = std::make_unique<State>();
  auto& st = *state_;
  st.dim = params_.integer("dim");
  st.maxlen = params_.integer("maxlen");
  st.rng.seed(static_cast<uint64_t>(params_.integer("seed")));
  const auto fit_rows = static_cast<int64_t>(in.u64());
  n_items_ = in.u32();
  online_steps_ = in.u64();
  st.seqs.resize(in.count(uint64_t{1} << 32));
  for (auto& s : st.seqs) s = in.u32s();
  build_state(fit_rows);
  std::istringstream enc(in.str()), opt(in.str());
  torch::load(st.encoder, enc);
  torch::load(*st.dense_opt, opt);
  st.items->load_full_bytes(in.str(), "seq snapshot's item table");
  st.grow_items(n_items_);
  in.bytes(st.has_id.data(), st.has_id.size());
  st.load_content(in, "seq snapshot", n_items_);
  std::istringstream image(in.str());
  if (st.image_tower) torch::load(st.image_tower, image);
  st.rebuild_replay_pool();
  // User vectors are computed when first scored (a loaded copy may serve few of them).
  st.stale.assign(st.seqs.size(), 1);
  refresh_vectors_after_step();
}

void SeqModel::mark_delta() {
  if (!state_ || !state_->items) return;
  auto& st = *state_;
  SR_INPUT_CHECK(st.pending.empty(), "seq: mark_delta() with unlearned events (flush first)");
  st.items->mark();
  st.delta_open = true;
  st.delta_content = false;
  st.delta_users.clear();
  st.in_delta.assign(st.seqs.size(), 0);
}

bool SeqModel::save_delta(BinaryWriter& out) const {
  if (!state_ || !state_->items || !state_->delta_open) return false;
  const auto& st = *state_;
  SR_INPUT_CHECK(st.pending.empty(), "seq: save_delta() with unlearned events (flush first)");
  out.u64(static_cast<uint64_t>(st.fit_rows));
  out.u32(n_items_);
  out.u64(online_steps_);
  out.u64(st.seqs.size());
  out.u64(st.delta_users.size());
  for (uint32_t u : st.delta_users) {
    out.u32(u);
    out.u32s(st.seqs[u]);
  }
  st.write_dense(out);
  out.str(st.items->save_delta_bytes());
  out.bytes(st.has_id.data(), st.has_id.size());
  out.u8(st.delta_content);
  if (st.delta_content) st.content.save(out);
  std::ostringstream image;
  if (st.image_tower) torch::save(st.image_tower, image);
  out.str(image.str());
  return true;
}

void SeqModel::apply_deltas(std::span<const std::string> deltas) {
  SR_INPUT_CHECK(state_ && state_->items, "seq: apply_deltas() before fit() or load()");
  auto& st = *state_;
  SR_INPUT_CHECK(st.pending.empty(), "seq: apply_deltas() with unlearned events (flush first)");
  // Sequences, item rows and the catalog from each delta in order; the dense weights (and
  // the item attributes, when sent) of the newest delta that has them replace the older
  // ones'; the item vectors are recomputed once.
  std::string encoder, optimizer, image;
  std::vector<uint64_t> keys;  // of the item table's rows the deltas wrote or removed
  const std::vector<char> had_id = st.has_id;
  for (size_t d = 0; d < deltas.size(); ++d) {
    const std::string what = fmt::format("seq delta {} of {}", d + 1, deltas.size());
    MemoryIStream stream(deltas[d]);
    BinaryReader in(stream, what);
    const auto fit_rows = static_cast<int64_t>(in.u64());
    SR_CHECK(fit_rows == st.fit_rows, ErrorKind::kCorrupt,
             "{}: it is of a model fitted with {} item rows, this one has {}", what, fit_rows,
             st.fit_rows);
    const uint32_t n_items = in.u32();
    SR_CHECK(n_items >= n_items_, ErrorKind::kCorrupt, "{}: {} items, fewer than this model's {}",
             what, n_items, n_items_);
    online_steps_ = in.u64();
    const uint64_t users = in.count(uint64_t{1} << 32);
    SR_CHECK(users >= st.seqs.size(), ErrorKind::kCorrupt,
             "{}: {} users, fewer than this model's {}", what, users, st.seqs.size());
    st.seqs.resize(users);
    const uint64_t changed = in.count(users);
    for (uint64_t i = 0; i < changed; ++i) {
      const uint32_t u = in.u32();
      SR_CHECK(u < users, ErrorKind::kCorrupt, "{}: user {} is not below {}", what, u, users);
      st.seqs[u] = in.u32s();
    }
    encoder = in.str();
    optimizer = in.str();
    st.items->apply_delta_bytes(in.str(), what + "'s item table", &keys);
    n_items_ = n_items;
    st.grow_items(n_items_);
    in.bytes(st.has_id.data(), st.has_id.size());
    if (in.u8()) st.load_content(in, what, n_items_);
    image = in.str();
  }
  if (deltas.empty()) return;
  std::istringstream enc(std::move(encoder)), opt(std::move(optimizer)), img(std::move(image));
  torch::load(st.encoder, enc);
  torch::load(*st.dense_opt, opt);
  if (st.image_tower) torch::load(st.image_tower, img);
  st.rebuild_replay_pool();
  st.stale.assign(st.seqs.size(), 1);
  // The items whose rows may have moved: those the deltas wrote or removed, and those that
  // gained (or lost) an id row.
  std::vector<uint32_t> changed;
  for (const uint64_t k : keys)
    if (embedding::key_slot(k) == kItemSlot && embedding::key_index(k) < st.item_keys.size())
      changed.push_back(static_cast<uint32_t>(embedding::key_index(k)));
  for (size_t i = 0; i < had_id.size(); ++i)
    if (had_id[i] != st.has_id[i]) changed.push_back(static_cast<uint32_t>(i));
  std::sort(changed.begin(), changed.end());
  changed.erase(std::unique(changed.begin(), changed.end()), changed.end());
  refresh_vectors_after_step(&changed);
}

void SeqModel::refresh_vectors() {
  auto& st = *state_;
  st.stale.assign(st.seqs.size(), 1);
  refresh_vectors_after_step();  // item rows
  torch::NoGradGuard no_grad;
  const auto& E = st.item_rows_eval;
  std::vector<uint32_t> all(st.seqs.size());
  std::iota(all.begin(), all.end(), 0);
  st.user_vectors = torch::zeros({static_cast<int64_t>(all.size()), st.dim});
  for (size_t b = 0; b < all.size(); b += 256) {
    const size_t e = std::min(all.size(), b + 256);
    // Users without history keep a zero vector (scores 0: ties go to lower ids).
    st.user_vectors.slice(0, b, e).copy_(
        st.encode_last(std::span<const uint32_t>(all.data() + b, e - b), E, 0));
  }
  st.stale.assign(all.size(), 0);
}

void SeqModel::observe(const data::Interaction& e) {
  SR_INPUT_CHECK(state_ && state_->items, "seq: observe() before fit()");
  auto& st = *state_;
  if (e.user >= st.seqs.size()) {
    st.seqs.resize(e.user + 1);
    st.stale.resize(e.user + 1, 1);
    st.in_pool.resize(e.user + 1, 0);
  }
  if (e.item >= n_items_) {
    n_items_ = e.item + 1;
    st.grow_items(n_items_);
    refresh_vectors_after_step();  // the new items' rows (default until learned)
  }
  st.has_id[e.item] = 1;
  // The user's own new event enters their sequence at once (real-time feature); the
  // weights learn it with the next micro-batch.
  st.seqs[e.user].push_back(e.item);
  st.stale[e.user] = 1;
  if (st.delta_open) {
    if (st.in_delta.size() <= e.user) st.in_delta.resize(e.user + 1, 0);
    if (!st.in_delta[e.user]) st.delta_users.push_back(e.user);
    st.in_delta[e.user] = 1;
  }
  if (st.seqs[e.user].size() >= 2 && !st.in_pool[e.user]) {
    st.in_pool[e.user] = 1;
    st.replay_pool.push_back(e.user);
  }
  st.pending.push_back(e.user);
  if (st.pending.size() >= static_cast<size_t>(params_.integer("online_batch"))) flush();
}

int64_t SeqModel::online_negatives() const {
  // A full-softmax step costs positions x items x dim x 6 flops: on 100k items the learner
  // fell behind 1,000 events/s (and 300 with requests on the same two cores); 1,000
  // sampled negatives kept up (freshness p99 0.55 s).
  constexpr uint32_t kFullSoftmaxItems = 20000;
  constexpr int64_t kAutoNegatives = 1000;
  const int64_t n = params_.integer("online_negatives");
  if (n >= 0) return n;
  return n_items_ > kFullSoftmaxItems ? kAutoNegatives : 0;
}

void SeqModel::flush() {
  if (!state_ || state_->pending.empty()) return;
  auto& st = *state_;
  use_torch_threads();
  std::vector<uint32_t> users = st.pending;
  st.pending.clear();
  std::sort(users.begin(), users.end());
  // online_targets=new: a queued user's step trains the positions of their new events only
  // (the older ones were learned before); replayed users train all of theirs.
  std::vector<uint32_t> last_targets;
  const bool only_new = params_.str("online_targets") == "new";
  for (size_t x = 0; x < users.size();) {
    size_t y = x;
    while (y < users.size() && users[y] == users[x]) ++y;
    if (only_new) last_targets.push_back(static_cast<uint32_t>(y - x));
    x = y;
  }
  users.erase(std::unique(users.begin(), users.end()), users.end());
  // Replay: a sample of users seen before, against forgetting what the batch does not show.
  const auto replay = static_cast<size_t>(params_.integer("online_replay"));
  if (!st.replay_pool.empty())
    for (size_t r = 0; r < replay; ++r)
      users.push_back(st.replay_pool[st.rng() % st.replay_pool.size()]);
  if (only_new) last_targets.resize(users.size(), 0);
  st.encoder->train();
  st.train_step(users, 0, online_negatives(), last_targets);
  ++online_steps_;
  // Moves by 10% per step (about the last ten micro-batches).
  online_loss_ = std::isnan(online_loss_) ? st.last_loss : 0.9 * online_loss_ + 0.1 * st.last_loss;
  refresh_vectors_after_step(st.step_all ? nullptr : &st.step_rows);
}

void SeqModel::set_item_attributes(std::span<const uint32_t> items,
                                   std::span<const data::ItemAttributes> attrs) {
  SR_ASSERT(items.size() == attrs.size());
  if (!state_) {
    state_ = std::make_unique<State>();  // attributes only, until fit() builds the rest
    state_->content.fields = parse_fields(params_.str("features"));
    state_->content.image_size = static_cast<int>(params_.integer("image_size"));
  }
  auto& st = *state_;
  if (!st.content.enabled() || items.empty()) return;
  for (size_t x = 0; x < items.size(); ++x) st.content.set(items[x], attrs[x]);
  st.delta_content = true;
  if (!st.items) return;  // not fitted yet
  const uint32_t top = *std::max_element(items.begin(), items.end());
  if (top >= n_items_) {
    n_items_ = top + 1;
    st.grow_items(n_items_);
  }
  refresh_vectors_after_step();  // the items' content vectors, now
}

void SeqModel::refresh_vectors_after_step(const std::vector<uint32_t>* changed) {
  // Every user's vector depends on the dense weights and item rows that just changed: they
  // are recomputed lazily by score_all (all marked stale), the item rows now.
  auto& st = *state_;
  torch::NoGradGuard no_grad;
  st.encoder->eval();
  // Without attributes an item's row is its id row alone, which no dense weight touches:
  // only the rows of `changed` are recomputed, in place (on 100,000 items the whole matrix
  // after every online step was a third of the learner's time). With attributes, a changed
  // attribute row or tower weight moves every item that uses it: all are recomputed.
  const bool partial = changed && !st.content.enabled() && st.item_rows_eval.defined() &&
                       st.item_rows_eval.size(0) == static_cast<int64_t>(st.item_keys.size()) + 1;
  if (partial) {
    if (!changed->empty()) {
      std::vector<int64_t> at(changed->begin(), changed->end());
      for (auto& a : at) ++a;  // row 0 is padding
      st.item_rows_eval.index_copy_(0, torch::tensor(at, torch::kLong),
                                    st.item_embeddings(*changed, nullptr).slice(0, 1));
    }
  } else {
    st.item_rows_eval = st.item_rows();
    st.item_matrix = st.item_rows_eval.slice(0, 1);
  }
  std::fill(st.stale.begin(), st.stale.end(), 1);
}

std::span<const float> SeqModel::item_vectors(size_t& dim) const {
  dim = 0;
  if (!state_ || !state_->item_matrix.defined()) return {};
  dim = static_cast<size_t>(state_->dim);
  return {state_->item_matrix.data_ptr<float>(), static_cast<size_t>(state_->item_matrix.numel())};
}

Recommender::Size SeqModel::size() const {
  if (!state_ || !state_->items) return {};
  const auto t = state_->items->stats();
  uint64_t dense = 0;
  for (const auto& p : state_->encoder->parameters()) dense += p.numel();
  return {t.rows, t.bytes + 3 * 4 * dense};  // weights + Adam's two moments
}

bool SeqModel::retrieval_query(uint32_t user, std::vector<float>& query) const {
  auto one = retrieval_queries(std::span(&user, 1));
  if (one[0].empty()) return false;
  query = std::move(one[0]);
  return true;
}

std::vector<std::vector<float>> SeqModel::retrieval_queries(std::span<const uint32_t> users) const {
  std::vector<std::vector<float>> out(users.size());
  if (!state_ || !state_->item_matrix.defined()) return out;
  const auto& st = *state_;
  const int64_t dim = st.item_matrix.size(1);
  std::vector<uint32_t> stale;  // users to encode now, in one batch
  std::vector<size_t> where;
  for (size_t k = 0; k < users.size(); ++k) {
    const uint32_t user = users[k];
    if (user >= st.seqs.size()) continue;
    if (st.stale[user]) {
      stale.push_back(user);
      where.push_back(k);
    } else {
      const float* u = st.user_vectors.data_ptr<float>() + int64_t{user} * dim;
      out[k].assign(u, u + dim);
    }
  }
  if (!stale.empty()) {
    // Read-only: eval mode; InferenceMode skips all of autograd's bookkeeping, 1.3x faster
    // than NoGradGuard here (bench_seq_query).
    c10::InferenceMode inference;
    auto h = const_cast<State&>(st).encode_last(stale, st.item_rows_eval, 0).contiguous();
    const float* p = h.data_ptr<float>();
    for (size_t x = 0; x < stale.size(); ++x)
      out[where[x]].assign(p + int64_t(x) * dim, p + int64_t(x + 1) * dim);
  }
  return out;
}

std::vector<float> SeqModel::retrieval_items(size_t& dim) const {
  const auto rows = item_vectors(dim);
  return {rows.begin(), rows.end()};
}

void SeqModel::score_all(uint32_t user, std::span<float> scores) const {
  std::fill(scores.begin(), scores.end(), 0.0f);
  std::vector<float> query;
  if (!retrieval_query(user, query)) return;
  const auto& st = *state_;
  const int64_t dim = st.item_matrix.size(1);
  const float* u = query.data();
  const float* m = st.item_matrix.data_ptr<float>();
  const size_t n = std::min<size_t>(scores.size(), st.item_matrix.size(0));
  // Without attributes an item with no id row has a row of zeros: it scores 0 (a catalog
  // listed before its events has many of them).
  const bool all = st.content.enabled();
  for (size_t i = 0; i < n; ++i)
    if (all || st.has_id[i]) scores[i] = dot(u, m + i * dim, static_cast<size_t>(dim));
}

}  // namespace streamrec::models
