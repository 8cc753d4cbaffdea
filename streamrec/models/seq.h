// `seq`: next-item model over each user's behaviour sequence (SASRec-style causal
// self-attention, GRU or LSTM), trained on next-item prediction at every position with a
// full-softmax cross-entropy over the catalog. Item ids are rows of a dynamic embedding
// table (module embedding) trained through its row optimizer (Adam); the encoder's dense
// weights train with torch::optim::Adam. score(u, i) = h_u . e_i where h_u encodes the
// user's last `maxlen` fitted items.
//
// Item tower (`features=categories+title+...`): e_i = id row (items with events) + the
// weighted sum of the rows of its attribute values (categories, title tokens, tags, numeric
// buckets; all keys of the same table) + a small CNN over its image. Id rows are dropped at
// random in training (`id_dropout`) so the content part also works alone: an item never seen
// in an event (held out, or new in the catalog) gets a vector from its attributes, not zeros.
//
// Model selection: each user's last fitted event is held out as the validation target
// (its input is everything before it); training stops when validation NDCG@10 has not
// improved for `patience` checks, and the best epoch's weights are kept; from them,
// `final_epochs` more train on every fitted event, the held-out items included (each user's
// latest). Scoring then encodes the full fitted sequence, held-out item included.
#pragma once

#include <limits>
#include <memory>

#include "streamrec/models/privacy.h"
#include "streamrec/models/recommender.h"

namespace streamrec::models {

class SeqModel final : public Recommender {
 public:
  explicit SeqModel(Params params);
  ~SeqModel() override;
  static Params declare_params();

  std::string name() const override { return "seq"; }
  const Params& params() const override { return params_; }
  uint32_t num_items() const override { return n_items_; }
  void fit(const TrainData& data) override;
  void score_all(uint32_t user, std::span<float> scores) const override;

  // Online learning: observe() appends the event to the user's sequence at once (their
  // next recommendations use it) and queues it; every `online_batch` events (or at flush())
  // one training step runs on the queued users' sequences plus `online_replay` users
  // sampled from the history, with the same loss and optimizers as fit().
  bool supports_online() const override { return true; }
  // Item tower (param `features`): the items' attribute keys and images; an item without
  // events is scored by them alone (cold start), one with events by id row + them.
  void set_item_attributes(std::span<const uint32_t> items,
                           std::span<const data::ItemAttributes> attrs) override;
  void observe(const data::Interaction& event) override;
  void flush() override;
  // The self-attention encoder's last-position weights (Recommender::attention); empty for
  // the GRU and LSTM encoders.
  std::vector<std::pair<uint32_t, float>> attention(uint32_t user) const override;
  // Empties idle users' sequences and erases idle items' id rows (such an item leaves the
  // softmax and, without attributes, the candidates until its next event).
  size_t expire(std::span<const uint32_t> idle_users,
                std::span<const uint32_t> idle_items) override;
  // With dp_epsilon or dp_noise (user-level DP-SGD, privacy.h): each step samples every user
  // with probability batch / users (Poisson), clips each sampled user's gradient (their
  // sequence's loss; dense weights and all item rows together) to dp_clip and adds Gaussian
  // noise to the sum; the fit runs exactly `epochs` epochs on every fitted event and keeps
  // the last weights (no validation-based stopping: it would read the data outside the
  // accountant). Online, an event extends its user's own input at once; a step on the
  // weights (the queued users and the replay sample, each once, at the fit's noise; counted
  // as sampling rate 1) runs only while the epsilon spent stays within dp_max_epsilon.
  //
  // With fed_rounds > 0 the fit is federated (simulated; federated.h): each round samples
  // users with probability fed_clients / users; each starts from the server's weights, runs
  // fed_local_steps SGD steps on their own sequence and sends the difference; the server
  // averages the differences (clipped to dp_clip with DP-FedAvg's noise when dp_* is set)
  // and never reads an event. Online, events then only extend their user's own input.
  const PrivacyReport* privacy() const override { return privacy_.enabled ? &privacy_ : nullptr; }
  // Data-parallel fit (module dist runs it on MPI ranks): each global batch is cut into the
  // world's shares, the item rows (ids and attributes) are sharded by key during the fit,
  // the dense gradients summed, validation split over the shares; after the fit every
  // process holds the whole model, the same artifact as one process's. Not with dp_* or
  // fed_rounds (checked at fit). Online steps (flush) on a world train each queued user on
  // the share that owns them (user_share), every process making the same calls; then the
  // root's table gets the rows the others changed (to_root), so the root holds the whole
  // model after each step and alone refreshes its item vectors for scoring.
  bool train_on(DataParallel* world) override {
    world_ = world;
    return true;
  }
  uint64_t online_steps() const { return online_steps_; }
  // Uniform negatives of an online step (0: full softmax): the param, or when it is -1 (the
  // default) 0 up to 20,000 items and 1,000 above.
  int64_t online_negatives() const;
  double online_loss() const override { return online_loss_; }
  // Item table rows and bytes (rows with their Adam state) plus dense weights and their Adam
  // state.
  Size size() const override;
  std::span<const float> item_vectors(size_t& dim) const override;
  // The encoded sequence against the item rows (score_all is exactly that dot product).
  bool retrieval_query(uint32_t user, std::vector<float>& query) const override;
  std::vector<std::vector<float>> retrieval_queries(std::span<const uint32_t> users) const override;
  std::vector<float> retrieval_items(size_t& dim) const override;

  // Everything: sequences, encoder and optimizer state, item rows with their Adam state.
  void save(BinaryWriter& out) const override;
  void load(BinaryReader& in) override;
  // Deltas: the sequences that grew, the dense weights and their Adam state, the item rows
  // that changed (the table's delta), the catalog's growth, and the item attributes when
  // they changed. So a publish costs what changed, plus the dense part.
  void mark_delta() override;
  bool save_delta(BinaryWriter& out) const override;
  void apply_deltas(std::span<const std::string> deltas) override;

  // Training report of the last fit: epochs run, best epoch, its validation NDCG@10, the
  // final epochs on every event after it, and the training speed in sequences per second.
  struct FitReport {
    int epochs = 0, best_epoch = 0, final_epochs = 0;
    double best_ndcg = 0, sequences_per_second = 0, seconds = 0;
  };
  const FitReport& report() const { return report_; }

 private:
  struct State;
  Params params_;
  uint32_t n_items_ = 0;
  void build_state(int64_t n_rows);
  void refresh_vectors();
  // fit's parts: the state for `data` (fresh, or kept for a warm refit) with its sequences;
  // the validation NDCG@10 of each user's last fitted item; the epochs, back to the best.
  void prepare_fit(const TrainData& data, bool warm);
  double validation_ndcg(const std::vector<uint32_t>& valid_users);
  void train_epochs(std::vector<uint32_t>& train_users, const std::vector<uint32_t>& valid_users,
                    bool warm);
  // One epoch's training windows in a random order: (users[k], drops[k]) is user's sequence
  // without its last `drop_last` items (1: the validation item) and drops[k] more (param
  // `windows`).
  void epoch_windows(std::vector<uint32_t>& train_users, int drop_last,
                     std::vector<uint32_t>& users, std::vector<uint32_t>& drops);
  // One epoch of training steps over epoch_windows; `steps` counts the steps (a
  // data-parallel step's seed). Returns the windows trained.
  uint64_t run_epoch(std::vector<uint32_t>& train_users, int drop_last, uint64_t& steps);
  // The federated fit (fed_rounds > 0, seq_federated.cpp): FedAvg rounds of sampled users'
  // local steps on their own sequences; with dp_*, DP-FedAvg.
  void train_federated(const std::vector<uint32_t>& clients);
  // The DP fit: Poisson-sampled steps for `epochs` epochs at the calibrated noise.
  void train_private(const std::vector<uint32_t>& train_users, bool warm);
  // A DP online step on the queued users (each once); false when it would spend more than
  // dp_max_epsilon (the weights then stay).
  bool flush_private(std::vector<uint32_t>& users, std::vector<uint32_t>& last_targets);
  // An online step on world_: the users (with their last_targets) regrouped by owner share.
  void flush_shares(const std::vector<uint32_t>& users, const std::vector<uint32_t>& last_targets);
  // `changed`: the only items whose rows may have changed (null: any of them).
  void refresh_vectors_after_step(const std::vector<uint32_t>* changed = nullptr);

  // A data-parallel fit's part: the fit on this process's shares; then every process's
  // table becomes the whole one.
  void fit_shares(std::vector<uint32_t>& train_users, const std::vector<uint32_t>& valid_users,
                  bool warm);

  std::unique_ptr<State> state_;
  DataParallel* world_ = nullptr;
  FitReport report_;
  PrivacyReport privacy_;
  uint64_t online_steps_ = 0;
  double online_loss_ = std::numeric_limits<double>::quiet_NaN();  // moving average
};

}  // namespace streamrec::models
