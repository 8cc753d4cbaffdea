// The Recommender interface every model implements, and TrainData, the training view.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "streamrec/core/config.h"
#include "streamrec/data/records.h"

namespace streamrec {
class BinaryWriter;
class BinaryReader;
}  // namespace streamrec

namespace streamrec::models {

struct PrivacyReport;
class DataParallel;

// Training data: time-ordered events plus a per-user CSR of distinct items. Items of a
// user are sorted by index; `values` sums the event values of repeated pairs. Ids are the
// dense indices of `catalog` (which may be null for data without attributes).
class TrainData {
 public:
  TrainData(uint32_t num_users, uint32_t num_items, std::vector<data::Interaction> events,
            const data::Dataset* catalog = nullptr);

  uint32_t num_users() const { return num_users_; }
  uint32_t num_items() const { return num_items_; }
  const std::vector<data::Interaction>& events() const { return events_; }
  const data::Dataset* catalog() const { return catalog_; }
  std::span<const uint32_t> items_of(uint32_t user) const;
  std::span<const float> values_of(uint32_t user) const;
  // Number of distinct users per item.
  const std::vector<uint32_t>& item_degree() const { return item_degree_; }
  uint64_t nnz() const { return items_.size(); }

 private:
  uint32_t num_users_, num_items_;
  std::vector<data::Interaction> events_;
  const data::Dataset* catalog_;
  std::vector<uint64_t> ptr_;
  std::vector<uint32_t> items_;
  std::vector<float> values_;
  std::vector<uint32_t> item_degree_;
};

struct ScoredItem {
  uint32_t item;
  float score;
};

// Progress of a long fit (epochs, iterations): done out of total. The CLI draws it.
using ProgressFn = std::function<void(uint64_t done, uint64_t total)>;

// Contract:
// - fit() replaces whatever the model learned before; items and users are dense indices
//   below data.num_items()/num_users().
// - score_all() and predict() are const and safe to call from many threads at once, but not
//   concurrently with fit() or observe().
// - Users unknown to the model (index >= what fit saw) get scores from what the model can
//   do without them (e.g. popularity or zeros), never an error.
// - Optional operations (observe, predict, save/load) throw Error(kUnsupported) by default.
class Recommender {
 public:
  virtual ~Recommender() = default;
  virtual std::string name() const = 0;
  virtual const Params& params() const = 0;
  // Number of items the model scores (score_all's output size).
  virtual uint32_t num_items() const = 0;

  virtual void fit(const TrainData& data) = 0;
  // Writes one score per item (scores.size() == number of items) for `user`; higher is
  // better. Items seen by the user are not excluded here (see recommend()).
  virtual void score_all(uint32_t user, std::span<float> scores) const = 0;

  // Learns from one new event, in time order (online learning).
  virtual bool supports_online() const { return false; }
  virtual void observe(const data::Interaction& event);
  // Learns now from observed events a model may have queued for a micro-batch (no-op for
  // models that learn each event in observe()).
  virtual void flush() {}
  // Moving average of the training loss of recent online updates (its own loss: BPR's
  // -log sigmoid, squared error, softmax cross-entropy), NaN when the model has none.
  virtual double online_loss() const;
  // Size of the learned state: embedding rows (users + items, or table rows) and bytes
  // (parameters and optimizer state); zeros for models that do not report it.
  struct Size {
    uint64_t rows = 0, bytes = 0;
  };
  virtual Size size() const { return {}; }
  // Item attributes for models with a content tower: the item's features enter its vector,
  // and an item without events is scored from them (cold start). Kept across fit(); a
  // catalog in fit()'s data replaces them. Items may be beyond num_items() (new ones: the
  // model then grows). Default: ignored.
  virtual void set_item_attributes(std::span<const uint32_t> items,
                                   std::span<const data::ItemAttributes> attrs) {}
  // Predicted rating of (user, item) for explicit-feedback metrics (MAE/RMSE).
  virtual bool predicts_ratings() const { return false; }
  virtual float predict(uint32_t user, uint32_t item) const;

  // The model's item vectors (row i = item i, `dim` floats each, row-major) for similar
  // items and explanations, or an empty span for models without item vectors. Valid until
  // the model changes.
  virtual std::span<const float> item_vectors(size_t& dim) const {
    dim = 0;
    return {};
  }

  // Inner-product retrieval (for an ANN index): when retrieval_query() returns true,
  // score_all(user)[i] == dot(query, row i of retrieval_items()) + a constant for that user,
  // so the user's top items are the rows with the largest inner product. Models without
  // such a form return false / dim 0 (the defaults).
  virtual bool retrieval_query(uint32_t user, std::vector<float>& query) const { return false; }
  // retrieval_query() for several users at once: queries[k] is users[k]'s query, empty
  // where retrieval_query() returns false. Deep models encode all of them in one batch
  // (one pass of the network's operators instead of one a user).
  virtual std::vector<std::vector<float>> retrieval_queries(std::span<const uint32_t> users) const;
  virtual std::vector<float> retrieval_items(size_t& dim) const {
    dim = 0;
    return {};
  }

  // Models with a self-attention encoder: the weight that the encoding of `user`'s last
  // position gives each of their recent items (item index, weight; oldest first, at most the
  // model's window), averaged over heads and blocks and renormalised over the history's
  // positions, so the weights sum to 1. Empty for other models and users without history.
  virtual std::vector<std::pair<uint32_t, float>> attention(uint32_t user) const { return {}; }

  // Models trained with user-level differential privacy (privacy.h, the dp_* params): what
  // the fit and the online steps since spent. Null for a model without DP (or not fitted).
  virtual const PrivacyReport* privacy() const { return nullptr; }

  // The state TTL: forgets `idle_users` (no event left in the window: served as new users
  // from now on) and `idle_items` (no event in the window: what was learned of them goes).
  // Returns the users and items that had state. A delta (mark_delta) carries the change.
  // Default: nothing (models whose state is sized by the ids alone).
  virtual size_t expire(std::span<const uint32_t> idle_users,
                        std::span<const uint32_t> idle_items) {
    return 0;
  }

  virtual void save(BinaryWriter& out) const;
  virtual void load(BinaryReader& in);

  // Delta updates, for serving copies kept current without a full save + load.
  // mark_delta() starts a delta; save_delta() writes what changed since then and returns
  // true, or returns false (writing nothing) when the change is not a delta: the model
  // cannot make them, or was fitted or loaded since its mark. A copy that was equal to this
  // model at the first delta's mark becomes equal to it by apply_deltas() of the deltas made
  // since, in order (Error(kCorrupt) when they do not fit it; the copy is then unusable).
  virtual void mark_delta() {}
  virtual bool save_delta(BinaryWriter& out) const { return false; }
  virtual void apply_deltas(std::span<const std::string> deltas);

  void set_progress(ProgressFn fn) { progress_ = std::move(fn); }
  // The next fits train data-parallel over `world` (data_parallel.h; null: in this process
  // alone). Returns false when the model cannot (then nothing changes); `world` must
  // outlive the fits.
  virtual bool train_on(DataParallel* world) { return world == nullptr; }

  // Top-k items for `user` by score_all, skipping `exclude` (sorted ascending). Ties go to
  // the lower item index.
  std::vector<ScoredItem> recommend(uint32_t user, size_t k,
                                    std::span<const uint32_t> exclude = {}) const;

 protected:
  void report_progress(uint64_t done, uint64_t total) const {
    if (progress_) progress_(done, total);
  }

 private:
  ProgressFn progress_;
};

// Picks the k best (score, then lower index) of `scores`, skipping `exclude` (sorted).
std::vector<ScoredItem> top_k(std::span<const float> scores, size_t k,
                              std::span<const uint32_t> exclude = {});

}  // namespace streamrec::models
