// SeqModel's online learning and serving copies: events join sequences at once, a step
// every online_batch events (with replay), the rows a step changed refreshed in place, and
// deltas (grown sequences, changed rows, dense weights) for the server's standby copy.
#include "streamrec/models/seq_state.h"

namespace streamrec::models {

void SeqModel::mark_delta() {
  if (!state_ || !state_->tower.items) return;
  auto& st = *state_;
  SR_INPUT_CHECK(st.online.pending.empty(),
                 "seq: mark_delta() with unlearned events (flush first)");
  st.tower.items->mark();
  st.delta.start(st.seqs.size());
}

bool SeqModel::save_delta(BinaryWriter& out) const {
  if (!state_ || !state_->tower.items || !state_->delta.open) return false;
  const auto& st = *state_;
  SR_INPUT_CHECK(st.online.pending.empty(),
                 "seq: save_delta() with unlearned events (flush first)");
  out.u64(static_cast<uint64_t>(st.fit_rows));
  out.u32(n_items_);
  out.u64(online_steps_);
  out.u64(st.seqs.size());
  out.u64(st.delta.users.size());
  for (uint32_t u : st.delta.users) {
    out.u32(u);
    out.u32s(st.seqs[u]);
  }
  st.dense.write(out);
  out.str(st.tower.items->save_delta_bytes());
  out.bytes(st.tower.has_id.data(), st.tower.has_id.size());
  out.u8(st.delta.content);
  if (st.delta.content) st.tower.content.save(out);
  std::ostringstream image;
  if (st.tower.image_tower) torch::save(st.tower.image_tower, image);
  out.str(image.str());
  return true;
}

void SeqModel::apply_deltas(std::span<const std::string> deltas) {
  SR_INPUT_CHECK(state_ && state_->tower.items, "seq: apply_deltas() before fit() or load()");
  auto& st = *state_;
  SR_INPUT_CHECK(st.online.pending.empty(),
                 "seq: apply_deltas() with unlearned events (flush first)");
  // Sequences, item rows and the catalog from each delta in order; the dense weights (and
  // the item attributes, when sent) of the newest delta that has them replace the older
  // ones'; the item vectors are recomputed once.
  std::string encoder, optimizer, image;
  std::vector<uint64_t> keys;  // of the item table's rows the deltas wrote or removed
  const std::vector<char> had_id = st.tower.has_id;
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
    st.tower.items->apply_delta_bytes(in.str(), what + "'s item table", &keys);
    n_items_ = n_items;
    st.tower.grow(n_items_);
    in.bytes(st.tower.has_id.data(), st.tower.has_id.size());
    if (in.u8()) st.tower.load_content(in, what, n_items_);
    image = in.str();
  }
  if (deltas.empty()) return;
  std::istringstream enc(std::move(encoder)), opt(std::move(optimizer)), img(std::move(image));
  torch::load(st.dense.encoder, enc);
  torch::load(*st.dense.opt, opt);
  if (st.tower.image_tower) torch::load(st.tower.image_tower, img);
  st.online.rebuild_pool(st.seqs);
  st.cache.invalidate_users(st.seqs.size());
  // The items whose rows may have moved: those the deltas wrote or removed, and those that
  // gained (or lost) an id row.
  std::vector<uint32_t> changed;
  for (const uint64_t k : keys)
    if (embedding::key_slot(k) == kItemSlot && embedding::key_index(k) < st.tower.item_keys.size())
      changed.push_back(static_cast<uint32_t>(embedding::key_index(k)));
  for (size_t i = 0; i < had_id.size(); ++i)
    if (had_id[i] != st.tower.has_id[i]) changed.push_back(static_cast<uint32_t>(i));
  std::sort(changed.begin(), changed.end());
  changed.erase(std::unique(changed.begin(), changed.end()), changed.end());
  refresh_vectors_after_step(&changed);
}

size_t SeqModel::expire(std::span<const uint32_t> idle_users,
                        std::span<const uint32_t> idle_items) {
  if (!state_ || !state_->tower.items) return 0;
  auto& st = *state_;
  std::vector<uint32_t> changed;  // items whose id row goes
  std::vector<uint64_t> keys;
  for (const uint32_t i : idle_items)
    if (i < st.tower.has_id.size() && st.tower.has_id[i]) {
      st.tower.has_id[i] = 0;
      changed.push_back(i);
      keys.push_back(st.tower.item_keys[i]);
    }
  st.tower.items->erase(keys);
  size_t n = changed.size();
  for (const uint32_t u : idle_users) {
    if (u >= st.seqs.size() || st.seqs[u].empty()) continue;
    std::vector<uint32_t>().swap(st.seqs[u]);
    st.cache.stale[u] = 1;
    st.delta.note_user(u);
    ++n;
  }
  if (n == 0) return 0;
  st.online.rebuild_pool(st.seqs);
  // Item rows are recomputed only when some went (idle users' vectors are marked stale).
  if (!changed.empty()) refresh_vectors_after_step(&changed);
  return n;
}

void SeqModel::observe(const data::Interaction& e) {
  SR_INPUT_CHECK(state_ && state_->tower.items, "seq: observe() before fit()");
  auto& st = *state_;
  if (e.user >= st.seqs.size()) {
    st.seqs.resize(e.user + 1);
    st.cache.stale.resize(e.user + 1, 1);
  }
  if (e.item >= n_items_) {
    n_items_ = e.item + 1;
    st.tower.grow(n_items_);
    refresh_vectors_after_step();  // the new items' rows (default until learned)
  }
  st.tower.has_id[e.item] = 1;
  // The user's own new event enters their sequence at once (real-time feature); the
  // weights learn it with the next micro-batch.
  auto& seq = st.seqs[e.user];
  seq.push_back(e.item);
  // Only the last maxlen + 2 items are ever read (a window's inputs and targets, one held
  // out): older ones go, in blocks, so that a user's sequence, and with it the model's
  // memory, snapshots and deltas, stays bounded however long the stream runs.
  if (const size_t keep = static_cast<size_t>(st.maxlen) + 2; seq.size() > 2 * keep)
    seq.erase(seq.begin(), seq.end() - static_cast<std::ptrdiff_t>(keep));
  st.cache.stale[e.user] = 1;
  st.delta.note_user(e.user);
  st.online.note(e.user, seq.size());
  if (st.online.pending.size() >= static_cast<size_t>(params_.integer("online_batch"))) flush();
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
  if (!state_ || state_->online.pending.empty()) return;
  auto& st = *state_;
  if (params_.integer("fed_rounds") > 0) {    // federated: no central step reads the events
    if (world_) world_->begin_online_step();  // (lock step: the calls so far go out)
    st.online.pending.clear();
    return;
  }
  use_torch_threads();
  std::vector<uint32_t> users = st.online.pending;
  st.online.pending.clear();
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
  // Under DP each user is in a step at most once (their gradient is what is clipped).
  const auto replay = static_cast<size_t>(params_.integer("online_replay"));
  if (!st.online.replay_pool.empty())
    for (size_t r = 0; r < replay; ++r) {
      const uint32_t u = st.online.replay_pool[st.rng() % st.online.replay_pool.size()];
      if (!privacy_.enabled || std::find(users.begin(), users.end(), u) == users.end())
        users.push_back(u);
    }
  if (only_new) last_targets.resize(users.size(), 0);
  st.dense.encoder->train();
  SR_INPUT_CHECK(!world_ || !privacy_.enabled,
                 "seq: online steps with dp_* do not run on MPI ranks (one process only)");
  if (privacy_.enabled) {
    // Without a step the sequences still grew (their users' vectors are stale already).
    if (!flush_private(users, last_targets)) return;
  } else if (world_) {
    flush_shares(users, last_targets);
  } else {
    st.train_step(users, 0, online_negatives(), last_targets);
  }
  ++online_steps_;
  // Moves by 10% per step (about the last ten micro-batches).
  online_loss_ =
      std::isnan(online_loss_) ? st.dense.last_loss : 0.9 * online_loss_ + 0.1 * st.dense.last_loss;
  if (world_ && !world_->root()) return;  // only the root scores
  refresh_vectors_after_step(st.step_all ? nullptr : &st.step_rows);
}

void SeqModel::flush_shares(const std::vector<uint32_t>& users,
                            const std::vector<uint32_t>& last_targets) {
  auto& st = *state_;
  auto& world = *world_;
  // The users ordered by their share (in queue order within one), and the shares' bounds.
  const int n = world.shares();
  std::vector<size_t> bounds(static_cast<size_t>(n) + 1, 0), order(users.size());
  std::vector<int> share(users.size());
  for (size_t x = 0; x < users.size(); ++x) ++bounds[(share[x] = user_share(users[x], n)) + 1];
  std::partial_sum(bounds.begin(), bounds.end(), bounds.begin());
  std::vector<size_t> next(bounds.begin(), bounds.end() - 1);
  for (size_t x = 0; x < users.size(); ++x) order[next[share[x]]++] = x;
  std::vector<uint32_t> grouped, targets;
  for (const size_t x : order) {
    grouped.push_back(users[x]);
    if (!last_targets.empty()) targets.push_back(last_targets[x]);
  }
  const uint64_t stream =
      (static_cast<uint64_t>(params_.integer("seed")) * 1000003 + online_steps_) ^ (1ull << 62);
  world.begin_online_step();  // (lock step: the others get the calls before this step)
  st.tower.world = &world;
  try {
    st.train_step_shares(grouped, 0, online_negatives(), {}, stream, targets, bounds);
    world.to_root(*st.tower.items);
  } catch (...) {
    st.tower.world = nullptr;
    throw;
  }
  st.tower.world = nullptr;
}

bool SeqModel::flush_private(std::vector<uint32_t>& users, std::vector<uint32_t>& last_targets) {
  const auto dp = DpConfig::from(params_);
  // An online step's users are chosen by their activity, not sampled: it counts as rate 1.
  RdpAccountant next = privacy_.accountant;
  next.add(1.0, privacy_.noise, 1);
  const double epsilon = next.epsilon(dp.delta);
  if (dp.max_epsilon <= 0 || epsilon > dp.max_epsilon) return false;
  // A fixed denominator (the configured step size), so that it says nothing of the users.
  const auto expected =
      static_cast<double>(params_.integer("online_batch") + params_.integer("online_replay"));
  state_->dp_step(users, dp.clip, privacy_.noise, expected, last_targets);
  privacy_.accountant = std::move(next);
  privacy_.epsilon = epsilon;
  ++privacy_.online_steps;
  return true;
}

void SeqModel::set_item_attributes(std::span<const uint32_t> items,
                                   std::span<const data::ItemAttributes> attrs) {
  SR_ASSERT(items.size() == attrs.size());
  if (!state_) {
    state_ = std::make_unique<State>();  // attributes only, until fit() builds the rest
    state_->tower.content.fields = parse_fields(params_.str("features"));
    state_->tower.content.image_size = static_cast<int>(params_.integer("image_size"));
  }
  auto& st = *state_;
  if (!st.tower.content.enabled() || items.empty()) return;
  for (size_t x = 0; x < items.size(); ++x) st.tower.content.set(items[x], attrs[x]);
  st.delta.content = true;
  if (!st.tower.items) return;  // not fitted yet
  const uint32_t top = *std::max_element(items.begin(), items.end());
  if (top >= n_items_) {
    n_items_ = top + 1;
    st.tower.grow(n_items_);
  }
  refresh_vectors_after_step();  // the items' content vectors, now
}

void SeqModel::refresh_vectors_after_step(const std::vector<uint32_t>* changed) {
  // Every user's vector depends on the dense weights and item rows that just changed: they
  // are recomputed lazily by score_all (all marked stale), the item rows now.
  auto& st = *state_;
  torch::NoGradGuard no_grad;
  st.dense.encoder->eval();
  // Without attributes an item's row is its id row alone, which no dense weight touches:
  // only the rows of `changed` are recomputed, in place (on 100,000 items the whole matrix
  // after every online step was a third of the learner's time). With attributes, a changed
  // attribute row or tower weight moves every item that uses it: all are recomputed.
  const bool partial =
      changed && !st.tower.content.enabled() && st.cache.item_rows_eval.defined() &&
      st.cache.item_rows_eval.size(0) == static_cast<int64_t>(st.tower.item_keys.size()) + 1;
  if (partial) {
    if (!changed->empty()) {
      std::vector<int64_t> at(changed->begin(), changed->end());
      for (auto& a : at) ++a;  // row 0 is padding
      st.cache.item_rows_eval.index_copy_(0, torch::tensor(at, torch::kLong),
                                          st.item_embeddings(*changed, nullptr).slice(0, 1));
    }
  } else {
    st.cache.item_rows_eval = st.item_rows();
    st.cache.item_matrix = st.cache.item_rows_eval.slice(0, 1);
  }
  std::fill(st.cache.stale.begin(), st.cache.stale.end(), 1);
}

}  // namespace streamrec::models
