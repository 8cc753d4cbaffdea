#include "streamrec/models/seq.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <random>
#include <sstream>

#include "streamrec/core/error.h"
#include "streamrec/core/log.h"
#include "streamrec/core/parallel.h"
#include "streamrec/core/serialize.h"
#include "streamrec/embedding/keys.h"
#include "streamrec/embedding/table.h"
#include "streamrec/models/seq_net.h"
#include "streamrec/models/sparse_rows.h"

namespace streamrec::models {
namespace {

constexpr uint32_t kItemSlot = 1;  // feature slot of item ids in the embedding table

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

struct SeqModel::State {
  int64_t dim = 0, maxlen = 0;
  int64_t fit_rows = 0;  // item rows at fit (the initialiser's scale)
  SeqEncoder encoder{nullptr};
  std::unique_ptr<torch::optim::Adam> dense_opt;
  std::unique_ptr<embedding::EmbeddingTable> items;
  std::vector<uint64_t> item_keys;          // key of item i at position i
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
  std::vector<uint32_t> replay_pool;
  std::vector<char> in_pool;

  // Item rows [items + 1, dim] gathered from the table; row 0 (padding) is zero.
  torch::Tensor item_rows(bool train) { return gather_rows(*items, item_keys, train, 1); }

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
  // the table's row optimizer.
  // One optimisation step of next-item cross-entropy at every position of `users`'
  // sequences (without their last `drop_last` items): dense weights by Adam, item rows by
  // the table's row optimizer. With `negatives` > 0 the softmax runs over a sample instead
  // of the catalog: the batch's own items (inputs and targets: in-batch negatives) plus
  // `negatives` uniformly drawn items, and only those rows are gathered and updated.
  void train_step(std::span<const uint32_t> users, int drop_last, int64_t negatives = 0) {
    auto [in, tg] = make_batch(users, true, drop_last);
    auto valid = tg.gt(0).view({-1});
    if (valid.sum().item<int64_t>() == 0) return;
    const auto n_items = static_cast<int64_t>(item_keys.size());
    if (negatives <= 0 || negatives * 2 >= n_items) {
      auto E = item_rows(true).requires_grad_(true);
      step(E, in, tg, valid);
      apply_row_gradients(*items, item_keys, E, 1);
      return;
    }
    // Local ids: 0 = padding, 1.. = the sampled rows in first-seen order.
    local.assign(n_items + 1, 0);
    std::vector<uint64_t> keys;
    auto remap = [&](torch::Tensor t) {
      auto* p = t.data_ptr<int64_t>();
      for (int64_t x = 0; x < t.numel(); ++x) {
        if (p[x] == 0) continue;
        auto& l = local[p[x]];
        if (l == 0) {
          keys.push_back(item_keys[p[x] - 1]);
          l = static_cast<int64_t>(keys.size());
        }
        p[x] = l;
      }
    };
    remap(in);
    remap(tg);
    for (int64_t k = 0; k < negatives; ++k) {
      const auto item = static_cast<int64_t>(rng() % static_cast<uint64_t>(n_items)) + 1;
      if (local[item] == 0) {
        keys.push_back(item_keys[item - 1]);
        local[item] = static_cast<int64_t>(keys.size());
      }
    }
    auto E = gather_rows(*items, keys, true, 1).requires_grad_(true);
    step(E, in, tg, valid);
    apply_row_gradients(*items, keys, E, 1);
  }

  // Forward, loss over the rows of E (row 0 = padding), backward, dense step.
  void step(const torch::Tensor& E, const torch::Tensor& in, const torch::Tensor& tg,
            const torch::Tensor& valid) {
    auto h = encoder(E.index({in}), in.eq(0));  // [B, L, d]
    auto hv = h.reshape({-1, dim}).index({valid});
    auto logits = hv.mm(E.t());
    logits.select(1, 0).fill_(-1e9);  // never predict padding
    auto loss = torch::nn::functional::cross_entropy(logits, tg.view({-1}).index({valid}));
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
    for (auto i = static_cast<uint32_t>(item_keys.size()); i < n; ++i)
      item_keys.push_back(embedding::make_key(kItemSlot, i));
  }
};

SeqModel::SeqModel(Params params) : params_(std::move(params)) {}
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
       ParamSpec::integer("online_negatives", 0, 0, 1 << 24,
                          "online: sampled softmax over the batch's items plus this many "
                          "uniform negatives (0: full softmax over the catalog)"),
       ParamSpec::integer("seed", 42, 0, INT64_MAX, "random seed")});
}

void SeqModel::fit(const TrainData& data) {
  const auto start = std::chrono::steady_clock::now();
  torch::set_num_threads(num_threads());
  torch::manual_seed(static_cast<uint64_t>(params_.integer("seed")));
  const int64_t dim = params_.integer("dim"), maxlen = params_.integer("maxlen");
  const int64_t batch = params_.integer("batch");
  SR_INPUT_CHECK(params_.str("encoder") != "sasrec" || dim % params_.integer("heads") == 0,
                 "seq: dim {} is not divisible by heads {}", dim, params_.integer("heads"));
  n_items_ = data.num_items();
  online_steps_ = 0;
  const int64_t n_rows = n_items_ + 1;  // row 0 is padding
  state_ = std::make_unique<State>();
  auto& st = *state_;
  st.dim = dim;
  st.maxlen = maxlen;
  st.rng.seed(static_cast<uint64_t>(params_.integer("seed")));

  build_state(n_rows);
  // Xavier-normal initialisation of every weight matrix (as the reference SASRec does);
  // item rows get the same scale from the table's per-key initialiser.
  {
    torch::NoGradGuard no_grad;
    for (auto& p : st.encoder->named_parameters())
      if (p.value().dim() >= 2) torch::nn::init::xavier_normal_(p.value());
  }
  st.grow_items(n_items_);

  // Sequences in time order (TrainData events are time-ordered).
  st.seqs.assign(data.num_users(), {});
  for (const auto& e : data.events()) st.seqs[e.user].push_back(e.item);
  std::vector<uint32_t> train_users, valid_users;
  for (uint32_t u = 0; u < data.num_users(); ++u) {
    if (st.seqs[u].size() >= 3) train_users.push_back(u);  // >= 1 training pair + validation
    if (st.seqs[u].size() >= 2) valid_users.push_back(u);
  }

  // Validation: NDCG@10 of each user's held-out last item given the items before it,
  // ranked against all items except those already in the input.
  auto validate = [&]() {
    torch::NoGradGuard no_grad;
    st.encoder->eval();
    auto E = st.item_rows(false);
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
  };

  const std::string tmp = (std::filesystem::temp_directory_path() /
                           fmt::format("streamrec-seq-{}-{}.best", getpid(), st.rng()))
                              .string();
  std::stringstream best_dense;
  report_ = {};
  report_.best_ndcg = -1;
  int since_best = 0;
  uint64_t sequences = 0;
  double train_seconds = 0;
  const int64_t epochs = params_.integer("epochs");
  for (int64_t epoch = 1; epoch <= epochs && !train_users.empty(); ++epoch) {
    const auto t0 = std::chrono::steady_clock::now();
    std::shuffle(train_users.begin(), train_users.end(), st.rng);
    st.encoder->train();
    for (size_t b = 0; b < train_users.size(); b += batch) {
      const size_t e = std::min(train_users.size(), b + static_cast<size_t>(batch));
      st.train_step(std::span<const uint32_t>(train_users.data() + b, e - b), 1);
      sequences += e - b;
    }
    train_seconds += seconds_since(t0);
    report_progress(epoch, epochs);
    if (epoch % params_.integer("eval_every") != 0 && epoch != epochs) continue;
    const double ndcg = validate();
    log::debug("seq epoch {}: validation ndcg@10 {:.4f}", epoch, ndcg);
    report_.epochs = static_cast<int>(epoch);
    if (ndcg > report_.best_ndcg) {
      report_.best_ndcg = ndcg;
      report_.best_epoch = static_cast<int>(epoch);
      since_best = 0;
      best_dense.str("");
      torch::save(st.encoder, best_dense);
      st.items->save_full(tmp);
    } else if (++since_best >= params_.integer("patience")) {
      break;
    }
  }
  if (report_.best_epoch > 0) {
    best_dense.seekg(0);
    torch::load(st.encoder, best_dense);
    st.items->load_full(tmp);
    std::filesystem::remove(tmp);
  }
  report_.sequences_per_second = train_seconds > 0 ? sequences / train_seconds : 0;

  // Final representations: every user's full fitted sequence, every item's row.
  st.rebuild_replay_pool();
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
      st.encoder->parameters(), torch::optim::AdamOptions(params_.real("lr")).betas({0.9, 0.98}));
  st.fit_rows = n_rows;
}

namespace {

// The item table's checkpoint bytes (the table writes checkpoints to files).
std::string table_bytes(const embedding::EmbeddingTable& table) {
  const auto path = std::filesystem::temp_directory_path() /
                    fmt::format("streamrec-seq-save-{}-{}", getpid(), std::random_device{}());
  table.save_full(path.string());
  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), {});
  std::filesystem::remove(path);
  return bytes;
}

void load_table_bytes(embedding::EmbeddingTable& table, const std::string& bytes) {
  const auto path = std::filesystem::temp_directory_path() /
                    fmt::format("streamrec-seq-load-{}-{}", getpid(), std::random_device{}());
  {
    std::ofstream out(path, std::ios::binary);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }
  try {
    table.load_full(path.string());
  } catch (...) {
    std::filesystem::remove(path);
    throw;
  }
  std::filesystem::remove(path);
}

}  // namespace

void SeqModel::save(BinaryWriter& out) const {
  SR_INPUT_CHECK(state_, "seq: save() before fit()");
  SR_INPUT_CHECK(state_->pending.empty(), "seq: save() with unlearned events (flush first)");
  const auto& st = *state_;
  out.u64(static_cast<uint64_t>(st.fit_rows));
  out.u32(n_items_);
  out.u64(online_steps_);
  out.u64(st.seqs.size());
  for (const auto& s : st.seqs) out.u32s(s);
  std::ostringstream enc, opt;
  torch::save(st.encoder, enc);
  torch::save(*st.dense_opt, opt);
  out.str(enc.str());
  out.str(opt.str());
  out.str(table_bytes(*st.items));
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
  load_table_bytes(*st.items, in.str());
  st.grow_items(n_items_);
  st.rebuild_replay_pool();
  // User vectors are computed when first scored (a loaded copy may serve few of them).
  st.stale.assign(st.seqs.size(), 1);
  refresh_vectors_after_step();
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
  SR_INPUT_CHECK(state_, "seq: observe() before fit()");
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
  // The user's own new event enters their sequence at once (real-time feature); the
  // weights learn it with the next micro-batch.
  st.seqs[e.user].push_back(e.item);
  st.stale[e.user] = 1;
  if (st.seqs[e.user].size() >= 2 && !st.in_pool[e.user]) {
    st.in_pool[e.user] = 1;
    st.replay_pool.push_back(e.user);
  }
  st.pending.push_back(e.user);
  if (st.pending.size() >= static_cast<size_t>(params_.integer("online_batch"))) flush();
}

void SeqModel::flush() {
  if (!state_ || state_->pending.empty()) return;
  auto& st = *state_;
  torch::set_num_threads(num_threads());
  std::vector<uint32_t> users = st.pending;
  st.pending.clear();
  std::sort(users.begin(), users.end());
  users.erase(std::unique(users.begin(), users.end()), users.end());
  // Replay: a sample of users seen before, against forgetting what the batch does not show.
  const auto replay = static_cast<size_t>(params_.integer("online_replay"));
  if (!st.replay_pool.empty())
    for (size_t r = 0; r < replay; ++r)
      users.push_back(st.replay_pool[st.rng() % st.replay_pool.size()]);
  st.encoder->train();
  st.train_step(users, 0, params_.integer("online_negatives"));
  ++online_steps_;
  // Moves by 10% per step (about the last ten micro-batches).
  online_loss_ = std::isnan(online_loss_) ? st.last_loss : 0.9 * online_loss_ + 0.1 * st.last_loss;
  refresh_vectors_after_step();
}

void SeqModel::refresh_vectors_after_step() {
  // Every user's vector depends on the dense weights and item rows that just changed: they
  // are recomputed lazily by score_all (all marked stale), the item rows now.
  auto& st = *state_;
  torch::NoGradGuard no_grad;
  st.encoder->eval();
  st.item_rows_eval = st.item_rows(false);
  st.item_matrix = st.item_rows_eval.slice(0, 1);
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
  if (!state_ || user >= state_->seqs.size() || !state_->item_matrix.defined()) return false;
  const auto& st = *state_;
  const int64_t dim = st.item_matrix.size(1);
  if (st.stale[user]) {
    // Encode the current sequence now (read-only: eval mode, no gradients).
    torch::NoGradGuard no_grad;
    const uint32_t one[] = {user};
    auto h = const_cast<State&>(st).encode_last(one, st.item_rows_eval, 0).contiguous();
    query.assign(h.data_ptr<float>(), h.data_ptr<float>() + dim);
  } else {
    const float* u = st.user_vectors.data_ptr<float>() + int64_t{user} * dim;
    query.assign(u, u + dim);
  }
  return true;
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
  for (size_t i = 0; i < n; ++i) {
    const float* row = m + i * dim;
    float s = 0;
    for (int64_t k = 0; k < dim; ++k) s += u[k] * row[k];
    scores[i] = s;
  }
}

}  // namespace streamrec::models
