// Internal to models/seq*.cpp: SeqModel's state, one part per concern: the item tower
// (seq_items.h), the dense network and its optimizer, the scoring cache, the online queue
// and replay pool, and the delta tracker; State holds the parts, the users' sequences and
// the training step that joins them. Not thread-safe (the model's owner serialises access);
// not for other modules: it includes libtorch.
#pragma once

#include "streamrec/models/seq.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <numeric>
#include <random>
#include <sstream>

#include "streamrec/core/error.h"
#include "streamrec/core/log.h"
#include "streamrec/core/parallel.h"
#include "streamrec/core/serialize.h"
#include "streamrec/core/simd.h"
#include "streamrec/models/dp_sgd.h"
#include "streamrec/models/seq_content.h"
#include "streamrec/models/seq_items.h"
#include "streamrec/models/seq_net.h"
#include "streamrec/models/torch_threads.h"

namespace streamrec::models {
namespace seq_internal {

inline double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// The sequence encoder's weights, their Adam state, and the last step's loss.
struct Dense {
  SeqEncoder encoder{nullptr};
  std::unique_ptr<torch::optim::Adam> opt;
  double last_loss = 0;

  // The weights and their Adam state, as two strings (torch::save archives).
  // The parameters the optimizer holds (encoder, and image tower when there is one).
  std::vector<torch::Tensor> parameters() const {
    std::vector<torch::Tensor> out;
    for (const auto& group : opt->param_groups())
      for (const auto& p : group.params()) out.push_back(p);
    return out;
  }

  void write(BinaryWriter& out) const {
    std::ostringstream enc, state;
    torch::save(encoder, enc);
    torch::save(*opt, state);
    out.str(enc.str());
    out.str(state.str());
  }
};

// Scoring state: item rows [items + 1, dim] (row 0 zero: padding) and the item matrix (a
// view without row 0); user vectors [users, dim], valid for users whose sequence has not
// changed since they were computed (stale[u] == 0).
struct ScoringCache {
  torch::Tensor item_rows_eval;
  torch::Tensor item_matrix;
  torch::Tensor user_vectors;
  std::vector<char> stale;

  void invalidate_users(size_t users) { stale.assign(users, 1); }
};

// Online learning: users with observed events not yet learned, and the pool of users a
// replay sample is drawn from (everyone with at least two items).
struct OnlineQueue {
  std::vector<uint32_t> pending;
  std::vector<uint32_t> replay_pool;
  std::vector<char> in_pool;

  void rebuild_pool(const std::vector<std::vector<uint32_t>>& seqs) {
    replay_pool.clear();
    in_pool.assign(seqs.size(), 0);
    for (uint32_t u = 0; u < seqs.size(); ++u)
      if (seqs[u].size() >= 2) {
        replay_pool.push_back(u);
        in_pool[u] = 1;
      }
  }
  // `user`'s sequence now has `length` items.
  void note(uint32_t user, size_t length) {
    if (in_pool.size() <= user) in_pool.resize(user + 1, 0);
    if (length >= 2 && !in_pool[user]) {
      in_pool[user] = 1;
      replay_pool.push_back(user);
    }
    pending.push_back(user);
  }
};

// Delta updates (mark_delta): open while the state since the mark is a delta; the users
// whose sequences grew and whether item attributes changed since then (dense weights and
// item rows are sent whole / by the table's own delta).
struct DeltaTracker {
  bool open = false;
  bool content = false;
  std::vector<uint32_t> users;
  std::vector<char> in_users;

  void start(size_t n_users) {
    open = true;
    content = false;
    users.clear();
    in_users.assign(n_users, 0);
  }
  void note_user(uint32_t user) {
    if (!open) return;
    if (in_users.size() <= user) in_users.resize(user + 1, 0);
    if (!in_users[user]) users.push_back(user);
    in_users[user] = 1;
  }
};

// One row of SeqModel::State::make_batch from the first n items of s: inputs
// s[n-1-k..n-2] predicting s[n-k..n-1] into `tg` (when given), or else the last items as
// inputs; left-padded rows of `maxlen` (item + 1; the padding already 0).
inline void fill_window(const std::vector<uint32_t>& s, int64_t n, int64_t maxlen, int64_t* in,
                        int64_t* tg) {
  const int64_t len = std::max<int64_t>(0, std::min<int64_t>(maxlen, tg ? n - 1 : n));
  const int64_t first = (tg ? n - 1 : n) - len;
  for (int64_t k = 0; k < len; ++k) {
    in[maxlen - len + k] = s[first + k] + 1;
    if (tg) tg[maxlen - len + k] = s[first + k + 1] + 1;
  }
}

}  // namespace seq_internal

using namespace seq_internal;

struct SeqModel::State {
  int64_t dim = 0, maxlen = 0;
  int64_t fit_rows = 0;  // item rows at fit (the initialiser's scale)
  double smoothing = 0;  // label smoothing of train_step's loss (param `smoothing`)
  ItemTower tower;
  Dense dense;
  ScoringCache cache;
  OnlineQueue online;
  DeltaTracker delta;
  std::vector<std::vector<uint32_t>> seqs;  // user -> fitted (and observed) items in time order
  std::mt19937_64 rng;
  // The items whose rows the last train_step changed: all of them (a full-softmax step), or
  // only the sampled ones in `step_rows`; `local` is a sampled step's scratch.
  bool step_all = true;
  std::vector<uint32_t> step_rows;
  std::vector<int64_t> local;  // item + 1 -> local row of a sampled step

  // Item embeddings [1 + rows.size(), dim] of items `rows`, row 0 the padding (zero).
  torch::Tensor item_embeddings(const std::vector<uint32_t>& rows, ItemTower::Leaves* leaves) {
    return torch::cat({torch::zeros({1, dim}), tower.embed(rows, leaves)});
  }
  // Item rows [items + 1, dim] for scoring (no dropout, no gradients); row 0 is zero.
  torch::Tensor item_rows() { return item_embeddings(tower.all_items, nullptr); }

  // Builds left-padded inputs [B, W] (item + 1; 0 = padding) for `users` from each sequence
  // without its last `drop_last` items (plus drops[r] more for row r when `drops` is given);
  // with `targets`, also the next-item targets [B, W] (0 = no target), the inputs then
  // ending one item earlier. W = maxlen.
  std::pair<torch::Tensor, torch::Tensor> make_batch(std::span<const uint32_t> users, bool targets,
                                                     int drop_last,
                                                     std::span<const uint32_t> drops = {}) const {
    const int64_t B = static_cast<int64_t>(users.size());
    auto in = torch::zeros({B, maxlen}, torch::kLong);
    auto tg = torch::zeros({B, maxlen}, torch::kLong);
    auto* pin = in.data_ptr<int64_t>();
    auto* ptg = tg.data_ptr<int64_t>();
    for (int64_t r = 0; r < B; ++r) {
      const auto& s = seqs[users[r]];
      const int64_t n = static_cast<int64_t>(s.size()) - drop_last -
                        (drops.empty() ? 0 : static_cast<int64_t>(drops[r]));  // usable prefix
      fill_window(s, n, maxlen, pin + r * maxlen, targets ? ptg + r * maxlen : nullptr);
    }
    return {in, tg};
  }

  // Zeroes all but the last last_targets[r] targets of row r (where above 0 and below W).
  void keep_last_targets(torch::Tensor& tg, std::span<const uint32_t> last_targets) const {
    auto* ptg = tg.data_ptr<int64_t>();
    for (size_t r = 0; r < last_targets.size(); ++r)
      if (last_targets[r] > 0 && last_targets[r] < maxlen)
        std::fill_n(ptg + r * maxlen, maxlen - last_targets[r], int64_t{0});
  }

  // One optimisation step of next-item cross-entropy at every position of `users`'
  // sequences (without their last `drop_last` items): dense weights by Adam, item rows by
  // the table's row optimizer. With `negatives` > 0 the softmax runs over a sample instead
  // of the catalog: the batch's own items (inputs and targets: in-batch negatives) plus
  // `negatives` uniformly drawn items, and only those rows are gathered and updated.
  // `last_targets` (empty, or one per user): when above 0, only the user's last that many
  // positions are targets (an online step on new events); 0: all of them. `drops` (empty,
  // or one per user): row r's window ends drops[r] items earlier still (make_batch).
  void train_step(std::span<const uint32_t> users, int drop_last, int64_t negatives = 0,
                  std::span<const uint32_t> last_targets = {},
                  std::span<const uint32_t> drops = {}) {
    step_all = true;  // until a sampled step names its rows
    auto [in, tg] = make_batch(users, true, drop_last, drops);
    keep_last_targets(tg, last_targets);
    auto valid = tg.gt(0).view({-1});
    if (valid.sum().item<int64_t>() == 0) return;
    const auto n_items = static_cast<int64_t>(tower.item_keys.size());
    ItemTower::Leaves leaves;
    if (negatives <= 0 || negatives * 2 >= n_items) {
      // Items without events are not in the softmax (nothing says they are negatives).
      auto E = item_embeddings(tower.all_items, &leaves);
      step(E, in, tg, valid, tower.closed_columns());
      tower.apply(leaves);
      return;
    }
    auto rows = sampled_rows(in, tg, negatives, rng);
    auto E = item_embeddings(rows, &leaves);
    step(E, in, tg, valid, torch::zeros({1}, torch::kLong));
    tower.apply(leaves);
    step_all = false;
    step_rows = std::move(rows);
  }

  // A sampled step's rows: `in` and `tg` remapped in place to local ids (0 = padding, 1.. =
  // the batch's items in first-seen order), then `negatives` uniform draws from `gen` of
  // items with events not yet among them.
  template <typename Gen>
  std::vector<uint32_t> sampled_rows(torch::Tensor& in, torch::Tensor& tg, int64_t negatives,
                                     Gen& gen) {
    const auto n_items = static_cast<int64_t>(tower.item_keys.size());
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
      const auto item = static_cast<int64_t>(gen() % static_cast<uint64_t>(n_items)) + 1;
      if (local[item] == 0 && tower.has_id[item - 1]) {
        rows.push_back(static_cast<uint32_t>(item - 1));
        local[item] = static_cast<int64_t>(rows.size());
      }
    }
    return rows;
  }

  // Forward and loss over the rows of E (row 0 = padding, and the `blocked` columns out of
  // the softmax).
  torch::Tensor forward_loss(const torch::Tensor& E, const torch::Tensor& in,
                             const torch::Tensor& tg, const torch::Tensor& valid,
                             const torch::Tensor& blocked) {
    auto h = dense.encoder(E.index({in}), in.eq(0));  // [B, L, d]
    auto hv = h.reshape({-1, dim}).index({valid});
    // Never predicts padding (or blocked rows).
    return full_softmax_cross_entropy(hv, E, tg.view({-1}).index({valid}), blocked, smoothing);
  }

  // forward_loss, backward, dense step.
  void step(const torch::Tensor& E, const torch::Tensor& in, const torch::Tensor& tg,
            const torch::Tensor& valid, const torch::Tensor& blocked) {
    auto loss = forward_loss(E, in, tg, valid, blocked);
    dense.opt->zero_grad();
    loss.backward();
    dense.opt->step();
    dense.last_loss = loss.item<double>();
  }

  // train_step in a data-parallel fit (tower.world set): every process passes the same
  // global batch and trains its shares of it. A share's loss is its positions' mean
  // cross-entropy times its share of the batch's positions, so the gradients summed over
  // the shares are the whole batch's mean's. Sampled negatives come from a stream of
  // (`stream`, share), so processes keep `rng` (the epochs' order) in step. `drops` and
  // `last_targets` (empty, or one per user) as in train_step; `bounds` (empty: contiguous
  // equal shares) cuts share s at users [bounds[s], bounds[s + 1]).
  void train_step_shares(std::span<const uint32_t> users, int drop_last, int64_t negatives,
                         std::span<const uint32_t> drops, uint64_t stream,
                         std::span<const uint32_t> last_targets = {},
                         std::span<const size_t> bounds = {}) {
    auto& world = *tower.world;
    step_all = true;
    struct Share {
      torch::Tensor in, tg, valid;
      double count = 0;
    };
    std::vector<Share> mine;
    double total = 0;
    const auto part = [](std::span<const uint32_t> v, size_t b, size_t e) {
      return v.empty() ? v : v.subspan(b, e - b);
    };
    for (const int s : world.mine()) {
      const auto [b, e] = bounds.empty() ? share_range(users.size(), world.shares(), s)
                                         : std::pair{bounds[s], bounds[s + 1]};
      auto [in, tg] = make_batch(part(users, b, e), true, drop_last, part(drops, b, e));
      keep_last_targets(tg, part(last_targets, b, e));
      auto valid = tg.gt(0).view({-1});
      mine.push_back({in, tg, valid, static_cast<double>(valid.sum().item<int64_t>())});
      total += mine.back().count;
    }
    world.sum(std::span<double>(&total, 1));
    if (total == 0) return;  // the same on every process
    const auto n_items = static_cast<int64_t>(tower.item_keys.size());
    const bool full = negatives <= 0 || negatives * 2 >= n_items;
    dense.opt->zero_grad();
    double loss_sum = 0;
    for (size_t x = 0; x < mine.size(); ++x) {
      auto& sh = mine[x];
      ItemTower::Leaves leaves;
      torch::Tensor E, blocked;
      if (full) {
        E = item_embeddings(tower.all_items, &leaves);
        blocked = tower.closed_columns();
      } else {
        std::mt19937_64 gen(stream * 0x9E3779B97F4A7C15ull +
                            static_cast<uint64_t>(world.mine()[x]));
        E = item_embeddings(sampled_rows(sh.in, sh.tg, negatives, gen), &leaves);
        blocked = torch::zeros({1}, torch::kLong);
      }
      if (sh.count == 0) continue;  // its gathers were still made (collectives)
      auto loss = forward_loss(E, sh.in, sh.tg, sh.valid, blocked) * (sh.count / total);
      loss.backward();
      loss_sum += loss.item<double>();
      tower.apply(leaves);
    }
    world.apply_gradients(*tower.items);
    sum_gradients(world, dense.parameters(), &loss_sum);
    dense.opt->step();
    dense.last_loss = loss_sum;
    world.end_step();
  }

  // One DP-SGD step (SeqModel::privacy()): each of `users` (each at most once) contributes
  // the gradient of their own sequence's loss (full softmax: a sampled one would let other
  // users pick a user's negatives), clipped to `clip` over the item rows and dense weights
  // together; the sum gets noise of std noise x clip on every trainable coordinate and is
  // divided by `expected` (the expected users per step), then the optimizers step. A step
  // with no user still adds its noise (the accountant counts every step). `last_targets`
  // as in train_step.
  void dp_step(std::span<const uint32_t> users, double clip, double noise, double expected,
               std::span<const uint32_t> last_targets = {}) {
    step_all = true;
    // Items without events are not parameters: out of the softmax, and no noise.
    torch::Tensor row_mask;
    const auto blocked_t = tower.closed_columns(&row_mask);
    ItemTower::Leaves leaves;
    auto E = item_embeddings(tower.all_items, &leaves);
    std::vector<torch::Tensor> params{leaves.ids}, masks{row_mask};
    if (leaves.features.defined()) params.push_back(leaves.features);
    const size_t n_leaves = params.size();
    for (auto& p : dense.parameters()) params.push_back(p);
    DpGradientSum sum(params, clip);
    double loss_sum = 0;
    for (size_t r = 0; r < users.size(); ++r) {
      auto [in, tg] = make_batch(users.subspan(r, 1), true, 0);
      if (r < last_targets.size() && last_targets[r] > 0 && last_targets[r] < maxlen)
        tg.slice(1, 0, maxlen - last_targets[r]).zero_();
      auto valid = tg.gt(0).view({-1});
      if (valid.sum().item<int64_t>() == 0) continue;
      auto h = dense.encoder(E.index({in}), in.eq(0));
      auto loss = full_softmax_cross_entropy(h.reshape({-1, dim}).index({valid}), E,
                                             tg.view({-1}).index({valid}), blocked_t);
      sum.add(torch::autograd::grad({loss}, params, {}, /*retain_graph=*/true,
                                    /*create_graph=*/false, /*allow_unused=*/true));
      loss_sum += loss.item<double>();
    }
    auto noisy = sum.noisy_mean(noise, expected, masks);
    for (size_t i = n_leaves; i < params.size(); ++i) params[i].mutable_grad() = noisy[i];
    dense.opt->step();
    leaves.ids.mutable_grad() = noisy[0];
    if (leaves.features.defined()) leaves.features.mutable_grad() = noisy[1];
    tower.apply(leaves);
    dense.last_loss = sum.users() ? loss_sum / static_cast<double>(sum.users()) : 0.0;
  }

  // Hidden state after the last item of each of `users`' sequences [B, dim] (zero for
  // users without items), with item rows E from item_rows().
  torch::Tensor encode_last(std::span<const uint32_t> users, const torch::Tensor& E,
                            int drop_last) {
    auto [in, tg] = make_batch(users, false, drop_last);
    auto h = dense.encoder(E.index({in}), in.eq(0)).select(1, maxlen - 1);
    auto has = in.select(1, maxlen - 1).gt(0).unsqueeze(1).to(torch::kFloat);
    return h * has;
  }
};

}  // namespace streamrec::models
