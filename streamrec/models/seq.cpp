#include "streamrec/models/seq.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <numeric>
#include <random>
#include <sstream>

#include "streamrec/core/error.h"
#include "streamrec/core/log.h"
#include "streamrec/core/parallel.h"
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
  SeqEncoder encoder{nullptr};
  std::unique_ptr<embedding::EmbeddingTable> items;
  std::vector<uint64_t> item_keys;          // key of item i at position i
  std::vector<std::vector<uint32_t>> seqs;  // user -> fitted items in time order
  torch::Tensor user_vectors;               // [users, dim], after fit
  torch::Tensor item_matrix;                // [items, dim], after fit
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
  const int64_t n_rows = n_items_ + 1;  // row 0 is padding
  state_ = std::make_unique<State>();
  auto& st = *state_;

  st.encoder = SeqEncoder(SeqEncoderOptions(dim, maxlen)
                              .kind(params_.str("encoder"))
                              .blocks(params_.integer("blocks"))
                              .heads(params_.integer("heads"))
                              .dropout(params_.real("dropout")));
  // Xavier-normal initialisation of every weight matrix (as the reference SASRec does);
  // item rows get the same scale from the table's per-key initialiser.
  {
    torch::NoGradGuard no_grad;
    for (auto& p : st.encoder->named_parameters())
      if (p.value().dim() >= 2) torch::nn::init::xavier_normal_(p.value());
  }
  embedding::TableConfig tc;
  tc.dim = static_cast<uint32_t>(dim);
  tc.optimizer.kind = embedding::OptimizerKind::kAdam;
  tc.optimizer.lr = static_cast<float>(params_.real("lr"));
  tc.optimizer.beta2 = 0.98f;
  tc.init = embedding::TableConfig::Init::kNormal;
  tc.init_scale = static_cast<float>(std::sqrt(2.0 / (n_rows + dim)));
  tc.seed = static_cast<uint64_t>(params_.integer("seed"));
  st.items = std::make_unique<embedding::EmbeddingTable>(tc);
  st.item_keys.resize(n_items_);
  for (uint32_t i = 0; i < n_items_; ++i) st.item_keys[i] = embedding::make_key(kItemSlot, i);

  // Sequences in time order (TrainData events are time-ordered).
  st.seqs.assign(data.num_users(), {});
  for (const auto& e : data.events()) st.seqs[e.user].push_back(e.item);
  std::vector<uint32_t> train_users, valid_users;
  for (uint32_t u = 0; u < data.num_users(); ++u) {
    if (st.seqs[u].size() >= 3) train_users.push_back(u);  // >= 1 training pair + validation
    if (st.seqs[u].size() >= 2) valid_users.push_back(u);
  }

  torch::optim::Adam dense_opt(st.encoder->parameters(),
                               torch::optim::AdamOptions(params_.real("lr")).betas({0.9, 0.98}));
  std::mt19937_64 rng(static_cast<uint64_t>(params_.integer("seed")));

  // Item embedding matrix [n_rows, dim] gathered from the table; row 0 (padding) is zero.
  auto item_matrix = [&](bool train) { return gather_rows(*st.items, st.item_keys, train, 1); };
  // Builds left-padded inputs [B, L] (item + 1; 0 = padding) for users[b, e) from each
  // sequence without its last `drop_last` items; with `targets`, also the next-item targets
  // [B, L] (0 = no target), the inputs then ending one item earlier.
  auto make_batch = [&](const std::vector<uint32_t>& users, size_t b, size_t e, bool targets,
                        int drop_last) {
    const int64_t B = static_cast<int64_t>(e - b);
    auto in = torch::zeros({B, maxlen}, torch::kLong);
    auto tg = torch::zeros({B, maxlen}, torch::kLong);
    auto* pin = in.data_ptr<int64_t>();
    auto* ptg = tg.data_ptr<int64_t>();
    for (int64_t r = 0; r < B; ++r) {
      const auto& s = st.seqs[users[b + r]];
      const int64_t n = static_cast<int64_t>(s.size()) - drop_last;  // usable prefix
      // Inputs s[n-1-k..n-2] predict s[n-k..n-1] (targets), or inputs are the last items.
      const int64_t len = std::min<int64_t>(maxlen, targets ? n - 1 : n);
      const int64_t first = (targets ? n - 1 : n) - len;
      for (int64_t k = 0; k < len; ++k) {
        pin[r * maxlen + maxlen - len + k] = s[first + k] + 1;
        if (targets) ptg[r * maxlen + maxlen - len + k] = s[first + k + 1] + 1;
      }
    }
    return std::make_pair(in, tg);
  };

  // Validation: NDCG@10 of each user's held-out last item given the items before it,
  // ranked against all items except those already in the input.
  auto validate = [&]() {
    torch::NoGradGuard no_grad;
    st.encoder->eval();
    auto E = item_matrix(false);
    double ndcg = 0;
    for (size_t b = 0; b < valid_users.size(); b += 256) {
      const size_t e = std::min(valid_users.size(), b + 256);
      auto [in, tg] = make_batch(valid_users, b, e, false, 1);
      auto h = st.encoder(E.index({in}), in.eq(0)).select(1, maxlen - 1);  // [B, d]
      auto scores = h.mm(E.t());
      scores.select(1, 0).fill_(-INFINITY);
      auto* ps = scores.data_ptr<float>();
      for (size_t r = 0; r < e - b; ++r) {
        const auto& s = st.seqs[valid_users[b + r]];
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
                           fmt::format("streamrec-seq-{}-{}.best", getpid(), rng()))
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
    std::shuffle(train_users.begin(), train_users.end(), rng);
    st.encoder->train();
    for (size_t b = 0; b < train_users.size(); b += batch) {
      const size_t e = std::min(train_users.size(), b + static_cast<size_t>(batch));
      auto [in, tg] = make_batch(train_users, b, e, true, 1);
      auto E = item_matrix(true).requires_grad_(true);
      auto h = st.encoder(E.index({in}), in.eq(0));  // [B, L, d]
      auto valid = tg.gt(0).view({-1});
      auto hv = h.reshape({-1, dim}).index({valid});
      auto logits = hv.mm(E.t());
      logits.select(1, 0).fill_(-1e9);  // never predict padding
      auto loss = torch::nn::functional::cross_entropy(logits, tg.view({-1}).index({valid}));
      dense_opt.zero_grad();
      loss.backward();
      dense_opt.step();
      apply_row_gradients(*st.items, st.item_keys, E, 1);
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
  torch::NoGradGuard no_grad;
  st.encoder->eval();
  auto E = item_matrix(false);
  st.item_matrix = E.slice(0, 1).contiguous();
  std::vector<uint32_t> all(data.num_users());
  std::iota(all.begin(), all.end(), 0);
  st.user_vectors = torch::zeros({static_cast<int64_t>(all.size()), dim});
  for (size_t b = 0; b < all.size(); b += 256) {
    const size_t e = std::min(all.size(), b + 256);
    auto [in, tg] = make_batch(all, b, e, false, 0);
    auto h = st.encoder(E.index({in}), in.eq(0)).select(1, maxlen - 1);
    // Users without history keep a zero vector (scores 0: ties go to lower ids).
    auto has = in.select(1, maxlen - 1).gt(0).unsqueeze(1).to(torch::kFloat);
    st.user_vectors.slice(0, b, e).copy_(h * has);
  }
  report_.seconds = seconds_since(start);
  log::info("seq ({}): {} epochs, best {} (validation ndcg@10 {:.4f}), {:.0f} sequences/s",
            params_.str("encoder"), report_.epochs, report_.best_epoch, report_.best_ndcg,
            report_.sequences_per_second);
}

void SeqModel::score_all(uint32_t user, std::span<float> scores) const {
  std::fill(scores.begin(), scores.end(), 0.0f);
  if (!state_ || user >= state_->user_vectors.size(0)) return;
  const auto& st = *state_;
  const int64_t dim = st.item_matrix.size(1);
  const float* u = st.user_vectors.data_ptr<float>() + int64_t{user} * dim;
  const float* m = st.item_matrix.data_ptr<float>();
  const size_t n = std::min<size_t>(scores.size(), n_items_);
  for (size_t i = 0; i < n; ++i) {
    const float* row = m + i * dim;
    float s = 0;
    for (int64_t k = 0; k < dim; ++k) s += u[k] * row[k];
    scores[i] = s;
  }
}

}  // namespace streamrec::models
