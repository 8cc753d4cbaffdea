#include "streamrec/dist/bpr.h"

#include <algorithm>
#include <cmath>
#include <random>

#include "streamrec/core/error.h"
#include "streamrec/core/simd.h"
#include "streamrec/dist/sharded_table.h"
#include "streamrec/embedding/keys.h"

namespace streamrec::dist {

using embedding::make_key;

Params DistributedBpr::declare_params() {
  return Params("dist-bpr",
                {ParamSpec::integer("factors", 64, 1, 4096, "latent dimension"),
                 ParamSpec::integer("epochs", 30, 1, 100000, "passes over the interactions"),
                 ParamSpec::real("lr", 0.05, 1e-6, 10.0, "Adagrad learning rate"),
                 ParamSpec::real("reg", 0.01, 0.0, 1000.0, "L2 regularization"),
                 ParamSpec::integer("batch", 1024, 1, 1 << 24,
                                    "triples per step over all ranks (each rank samples its "
                                    "share)"),
                 ParamSpec::integer("seed", 1, 0, INT64_MAX, "random seed")});
}

DistributedBpr::DistributedBpr(const Comm& comm, Params params)
    : comm_(comm), params_(std::move(params)) {}

DistributedBpr::~DistributedBpr() = default;

void DistributedBpr::fit(const models::TrainData& data) {
  k_ = static_cast<uint32_t>(params_.integer("factors"));
  n_users_ = data.num_users();
  n_items_ = data.num_items();
  const auto epochs = params_.integer("epochs");
  const auto batch = static_cast<uint64_t>(params_.integer("batch"));
  const float reg = static_cast<float>(params_.real("reg"));
  embedding::TableConfig cfg;
  cfg.dim = k_;
  cfg.optimizer.kind = embedding::OptimizerKind::kAdagrad;
  cfg.optimizer.lr = static_cast<float>(params_.real("lr"));
  cfg.init = embedding::TableConfig::Init::kNormal;
  cfg.init_scale = 0.1f;
  cfg.seed = static_cast<uint64_t>(params_.integer("seed"));
  table_ = std::make_unique<ShardedTable>(comm_, cfg);
  auto& table = *table_;
  if (!init_dir_.empty()) table.load(init_dir_);

  // This rank's share of the interactions (every rank has the same data).
  std::vector<std::pair<uint32_t, uint32_t>> mine;
  uint64_t pairs = 0;
  for (uint32_t u = 0; u < n_users_; ++u)
    for (uint32_t i : data.items_of(u))
      if (pairs++ % static_cast<uint64_t>(comm_.size()) == static_cast<uint64_t>(comm_.rank()))
        mine.emplace_back(u, i);
  // Each rank's share of a global batch; the first ranks take the remainder.
  const uint64_t share = batch / comm_.size() + (uint64_t(comm_.rank()) < batch % comm_.size());
  const uint64_t steps = std::max<uint64_t>(1, (pairs + batch - 1) / batch) * epochs;
  std::mt19937_64 rng(embedding::mix64(static_cast<uint64_t>(params_.integer("seed")) * 1000003u +
                                       static_cast<uint64_t>(comm_.rank())));
  std::vector<uint64_t> keys;
  std::vector<float> rows, grads;
  for (uint64_t step = 0; step < steps; ++step) {
    // Keys: users, positives, negatives; a rank with no interactions still takes part.
    const size_t m = mine.empty() || n_items_ < 2 ? 0 : share;
    keys.resize(3 * m);
    for (size_t t = 0; t < m; ++t) {
      const auto [u, i] = mine[rng() % mine.size()];
      const auto items = data.items_of(u);
      uint32_t j = static_cast<uint32_t>(rng() % n_items_);
      for (int tries = 0; tries < 20 && std::binary_search(items.begin(), items.end(), j); ++tries)
        j = static_cast<uint32_t>(rng() % n_items_);
      keys[t] = make_key(1, u);
      keys[m + t] = make_key(2, i);
      keys[2 * m + t] = make_key(2, j);
    }
    rows.resize(keys.size() * k_);
    table.gather_train(keys, 0, rows);
    grads.assign(keys.size() * k_, 0.0f);
    for (size_t t = 0; t < m; ++t) {
      const float* p = &rows[t * k_];
      const float* qi = &rows[(m + t) * k_];
      const float* qj = &rows[(2 * m + t) * k_];
      const float x = dot(p, qi, k_) - dot(p, qj, k_);
      const float s = 1.0f / (1.0f + std::exp(x));  // d(-log sigmoid(x))/dx = -s
      float* gp = &grads[t * k_];
      float* gi = &grads[(m + t) * k_];
      float* gj = &grads[(2 * m + t) * k_];
      for (uint32_t f = 0; f < k_; ++f) {
        gp[f] = -s * (qi[f] - qj[f]) + reg * p[f];
        gi[f] = -s * p[f] + reg * qi[f];
        gj[f] = s * p[f] + reg * qj[f];
      }
    }
    table.apply_gradients(keys, grads, 0);
    if (comm_.rank() == 0) report_progress(step + 1, steps);
  }
  // Every rank assembles both matrices (serving reads them; evaluation scores from them).
  keys.resize(size_t{n_users_} + n_items_);
  for (uint32_t u = 0; u < n_users_; ++u) keys[u] = make_key(1, u);
  for (uint32_t i = 0; i < n_items_; ++i) keys[n_users_ + i] = make_key(2, i);
  rows.resize(keys.size() * k_);
  table.gather(keys, rows);
  P_.assign(rows.begin(), rows.begin() + size_t{n_users_} * k_);
  Q_.assign(rows.begin() + size_t{n_users_} * k_, rows.end());
}

void DistributedBpr::save_factors(const std::string& dir) const {
  SR_CHECK(table_ != nullptr, ErrorKind::kInternal, "dist-bpr: save_factors before fit");
  table_->save(dir);
}

void DistributedBpr::score_all(uint32_t user, std::span<float> scores) const {
  SR_CHECK(scores.size() == n_items_, ErrorKind::kInternal, "score_all: {} scores for {} items",
           scores.size(), n_items_);
  if (user >= n_users_) {
    std::fill(scores.begin(), scores.end(), 0.0f);
    return;
  }
  const float* p = &P_[size_t{user} * k_];
  for (uint32_t i = 0; i < n_items_; ++i) scores[i] = dot(p, &Q_[size_t{i} * k_], k_);
}

}  // namespace streamrec::dist
