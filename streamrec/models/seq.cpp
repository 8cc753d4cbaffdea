#include "streamrec/models/seq_state.h"

namespace streamrec::models {

SeqModel::SeqModel(Params params) : params_(std::move(params)) {
  if (params_.str("features") == "auto")
    params_.set("features", params_.integer("fed_rounds") > 0 ? "none" : "categories+title");
  parse_fields(params_.str("features"));  // a bad field list fails at construction
  SR_INPUT_CHECK(!DpConfig::from(params_).enabled || params_.integer("negatives") == 0,
                 "seq: differential privacy trains with the full softmax; negatives {} must be 0",
                 params_.integer("negatives"));
  SR_INPUT_CHECK(params_.integer("fed_rounds") == 0 || params_.str("features") == "none",
                 "seq: a federated fit (fed_rounds {}) trains id rows only; features must be "
                 "none, not '{}'",
                 params_.integer("fed_rounds"), params_.str("features"));
}
SeqModel::~SeqModel() = default;

Params SeqModel::declare_params() {
  std::vector<ParamSpec> specs{
      ParamSpec::choice("encoder", "sasrec", {"sasrec", "gru", "lstm"}, "sequence encoder"),
      ParamSpec::integer("dim", 50, 4, 1024, "embedding and hidden size"),
      ParamSpec::integer("maxlen", 50, 2, 4096, "most recent items encoded"),
      ParamSpec::integer("blocks", 2, 1, 16, "self-attention blocks"),
      ParamSpec::integer("heads", 1, 1, 16, "attention heads (dim must divide)"),
      ParamSpec::real("dropout", 0.4, 0.0, 0.9, "dropout rate"),
      ParamSpec::real("lr", 0.001, 1e-6, 1.0, "Adam learning rate (dense and item rows)"),
      ParamSpec::integer("batch", 128, 1, 65536, "sequences per step"),
      ParamSpec::integer("epochs", 200, 1, 100000, "most epochs"),
      ParamSpec::integer("eval_every", 5, 1, 1000, "epochs between validation checks"),
      ParamSpec::integer("patience", 6, 1, 1000, "checks without improvement before stopping"),
      ParamSpec::choice("windows", "all", {"last", "all"},
                        "fit: each epoch trains every user's last maxlen positions (last), or "
                        "tiles their whole sequence into windows of maxlen, the latest first "
                        "and the older ones shifted at random each epoch (all)"),
      ParamSpec::integer("final_epochs", 10, 0, 100000,
                         "after the epoch that validation picks, this many more (at most a "
                         "quarter of the epochs run) on every fitted event, the held-out "
                         "validation items included: each user's latest, which the "
                         "selection leaves out"),
      ParamSpec::real("smoothing", 0.0, 0.0, 0.5,
                      "label smoothing: share of each target's probability spread evenly over "
                      "the catalog"),
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
      ParamSpec::string("features", "auto",
                        "item tower: attribute fields added to each item's id row, joined "
                        "by '+' (categories, title, tags, numeric, image), all, none, or auto "
                        "(categories+title; none for a federated fit); items without events "
                        "are then scored by them (cold start)"),
      ParamSpec::integer("image_size", 32, 8, 256, "item images are resized to this square"),
      ParamSpec::real("id_dropout", 0.1, 0.0, 1.0,
                      "item tower: share of id rows dropped per training step, so the "
                      "attribute part learns to stand alone"),
      ParamSpec::integer("warm_refit_epochs", 0, 0, 100000,
                         "0: every fit starts afresh; N: a refit of a fitted model continues "
                         "from its weights (new items get rows) for at most N epochs"),
      ParamSpec::integer("fed_rounds", 0, 0, 1000000,
                         "federated fit (simulated): rounds of FedAvg (0: centralised)"),
      ParamSpec::integer("fed_clients", 64, 1, 1 << 24,
                         "federated: users sampled per round (expected)"),
      ParamSpec::integer("fed_local_steps", 5, 1, 10000,
                         "federated: SGD steps each client runs on its own sequence"),
      ParamSpec::real("fed_local_lr", 0.1, 1e-6, 1000, "federated: the clients' SGD rate"),
      ParamSpec::real("fed_server_lr", 1.0, 1e-6, 1000,
                      "federated: the server moves by this times the mean update"),
      ParamSpec::integer("seed", 42, 0, INT64_MAX, "random seed")};
  for (auto& spec : dp_param_specs()) specs.push_back(std::move(spec));
  return Params("seq", std::move(specs));
}

void SeqModel::prepare_fit(const TrainData& data, bool warm) {
  if (warm) flush();
  if (state_) state_->delta.open = false;  // a fit is no delta
  n_items_ = warm ? std::max(n_items_, data.num_items()) : data.num_items();
  online_steps_ = 0;
  // Item attributes outlive a refit (set_item_attributes); a catalog in `data` replaces them.
  if (!warm) {
    Content content = state_ ? std::move(state_->tower.content) : Content{};
    state_ = std::make_unique<State>();
    state_->tower.content = std::move(content);
  }
  auto& st = *state_;
  st.tower.content.fields = parse_fields(params_.str("features"));
  st.tower.content.image_size = static_cast<int>(params_.integer("image_size"));
  if (const auto* catalog = data.catalog(); catalog && st.tower.content.enabled()) {
    Content fresh;  // the catalog's attributes replace every earlier one
    fresh.fields = st.tower.content.fields;
    fresh.image_size = st.tower.content.image_size;
    st.tower.content = std::move(fresh);
    st.tower.content.resize(n_items_);
    for (uint32_t i = 0; i < n_items_ && i < catalog->item_attrs.size(); ++i)
      st.tower.content.set(i, catalog->item_attrs[i]);
  }
  st.dim = params_.integer("dim");
  st.maxlen = params_.integer("maxlen");
  st.rng.seed(static_cast<uint64_t>(params_.integer("seed")));
  if (!warm) {
    build_state(n_items_ + 1);  // row 0 is padding
    // Xavier-normal initialisation of every weight matrix (as the reference SASRec does);
    // item rows get the same scale from the table's per-key initialiser.
    torch::NoGradGuard no_grad;
    for (auto& p : st.dense.encoder->named_parameters())
      if (p.value().dim() >= 2) torch::nn::init::xavier_normal_(p.value());
  }
  st.tower.grow(n_items_);
  // Sequences in time order (TrainData events are time-ordered).
  st.seqs.assign(data.num_users(), {});
  for (const auto& e : data.events()) {
    st.seqs[e.user].push_back(e.item);
    st.tower.has_id[e.item] = 1;
  }
}

double SeqModel::validation_ndcg(const std::vector<uint32_t>& valid_users) {
  // NDCG@10 of each user's held-out last item given the items before it, ranked against
  // all items except those already in the input.
  auto& st = *state_;
  const int64_t n_rows = n_items_ + 1;
  torch::NoGradGuard no_grad;
  st.dense.encoder->eval();
  auto E = st.item_rows();
  double ndcg = 0;
  // In a data-parallel fit each process scores its shares of the users.
  const auto users_here = my_shares(st.tower.world, valid_users);
  for (size_t b = 0; b < users_here.size(); b += 256) {
    const size_t e = std::min(users_here.size(), b + 256);
    const std::span<const uint32_t> users(users_here.data() + b, e - b);
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
  st.dense.encoder->train();
  if (st.tower.world) {  // every process takes the root's sum: the same decisions everywhere
    st.tower.world->sum(std::span<double>(&ndcg, 1));
    ndcg = st.tower.world->from_root(ndcg);
  }
  return valid_users.empty() ? 0.0 : ndcg / valid_users.size();
}

void SeqModel::train_epochs(std::vector<uint32_t>& train_users,
                            const std::vector<uint32_t>& valid_users, bool warm) {
  auto& st = *state_;
  std::stringstream best_dense, best_image;
  std::string best_items;
  int since_best = 0;
  uint64_t sequences = 0, steps = 0;
  double train_seconds = 0;
  const int64_t epochs = params_.integer(warm ? "warm_refit_epochs" : "epochs");
  for (int64_t epoch = 1; epoch <= epochs && !train_users.empty(); ++epoch) {
    const auto t0 = std::chrono::steady_clock::now();
    sequences += run_epoch(train_users, 1, steps);
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
      torch::save(st.dense.encoder, best_dense);
      if (st.tower.image_tower) {
        best_image.str("");
        torch::save(st.tower.image_tower, best_image);
      }
      best_items = st.tower.items->save_full_bytes();
    } else if (++since_best >= params_.integer("patience")) {
      break;
    }
  }
  if (report_.best_epoch > 0) {  // back to the best epoch
    best_dense.seekg(0);
    torch::load(st.dense.encoder, best_dense);
    if (st.tower.image_tower) {
      best_image.seekg(0);
      torch::load(st.tower.image_tower, best_image);
    }
    st.tower.items->load_full_bytes(best_items, "seq's best epoch");
  }
  // Then the validation targets are learned too: each user's latest fitted event, which
  // the selection held out (on a data set driven by time, the most telling transitions).
  // The validation users are every user with a target, the two-item sequences included.
  std::vector<uint32_t> every_user = valid_users;  // (epoch_windows reorders its list)
  const auto t0 = std::chrono::steady_clock::now();
  const int64_t final_epochs =
      std::min<int64_t>(params_.integer("final_epochs"), (report_.epochs + 3) / 4);
  for (int64_t epoch = 1; epoch <= final_epochs; ++epoch) {
    sequences += run_epoch(every_user, 0, steps);
    report_.final_epochs = static_cast<int>(epoch);
    report_progress(report_.epochs + epoch, report_.epochs + final_epochs);
  }
  train_seconds += seconds_since(t0);
  report_.sequences_per_second = train_seconds > 0 ? sequences / train_seconds : 0;
}

uint64_t SeqModel::run_epoch(std::vector<uint32_t>& train_users, int drop_last, uint64_t& steps) {
  auto& st = *state_;
  const int64_t batch = params_.integer("batch");
  std::vector<uint32_t> users, drops;
  epoch_windows(train_users, drop_last, users, drops);
  st.dense.encoder->train();
  for (size_t b = 0; b < users.size(); b += batch) {
    const size_t e = std::min(users.size(), b + static_cast<size_t>(batch));
    const std::span<const uint32_t> batch_users(users.data() + b, e - b),
        batch_drops(drops.data() + b, e - b);
    if (st.tower.world)
      st.train_step_shares(batch_users, drop_last, params_.integer("negatives"), batch_drops,
                           static_cast<uint64_t>(params_.integer("seed")) * 1000003 + ++steps);
    else
      st.train_step(batch_users, drop_last, params_.integer("negatives"), {}, batch_drops);
  }
  return users.size();
}

void SeqModel::fit_shares(std::vector<uint32_t>& train_users,
                          const std::vector<uint32_t>& valid_users, bool warm) {
  auto& st = *state_;
  auto& world = *world_;
  // The processes start from the same weights (same seed; the table's initialiser is per
  // key) and draw their own dropout masks from here on.
  seed_process(world, static_cast<uint64_t>(params_.integer("seed")));
  st.tower.world = &world;
  try {
    train_epochs(train_users, valid_users, warm);
  } catch (...) {
    st.tower.world = nullptr;
    throw;
  }
  world.unshard(*st.tower.items);
  st.tower.world = nullptr;
}

void SeqModel::epoch_windows(std::vector<uint32_t>& train_users, int drop_last,
                             std::vector<uint32_t>& users, std::vector<uint32_t>& drops) {
  auto& st = *state_;
  users.clear();
  drops.clear();
  if (params_.str("windows") == "last") {
    std::shuffle(train_users.begin(), train_users.end(), st.rng);
    users = train_users;
    drops.assign(users.size(), 0);
    return;
  }
  // Every fitted target once: windows of maxlen targets ending maxlen apart, the first at the
  // user's last fitted item, the older ones shifted by a random j (overlapping the first by j).
  const auto L = static_cast<uint64_t>(st.maxlen);
  for (const uint32_t u : train_users) {
    const uint64_t n = st.seqs[u].size() - drop_last;
    users.push_back(u);
    drops.push_back(0);
    const uint64_t j = st.rng() % L;
    for (uint64_t d = L - j; d + 2 <= n; d += L) {
      users.push_back(u);
      drops.push_back(static_cast<uint32_t>(d));
    }
  }
  std::vector<uint32_t> order(users.size());
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), st.rng);
  std::vector<uint32_t> u2(order.size()), d2(order.size());
  for (size_t k = 0; k < order.size(); ++k) {
    u2[k] = users[order[k]];
    d2[k] = drops[order[k]];
  }
  users.swap(u2);
  drops.swap(d2);
}

void SeqModel::train_private(const std::vector<uint32_t>& train_users, bool warm) {
  auto& st = *state_;
  const auto dp = DpConfig::from(params_);
  const int64_t epochs = params_.integer(warm ? "warm_refit_epochs" : "epochs");
  const auto plan = DpSchedule::epochs(dp, train_users.size(),
                                       static_cast<double>(params_.integer("batch")), epochs);
  const double q = plan.q, noise = plan.noise, n = static_cast<double>(train_users.size());
  const uint64_t steps = plan.steps;
  privacy_.begin(dp, plan, train_users.size(), /*compose=*/warm);  // a warm refit composes
  log::info(
      "seq DP-SGD: {} users, sampling rate {:.4f}, {} steps, noise multiplier {:.3f}, "
      "clip {}",
      train_users.size(), q, steps, noise, dp.clip);
  std::uniform_real_distribution<double> coin(0.0, 1.0);
  const auto t0 = std::chrono::steady_clock::now();
  uint64_t sequences = 0;
  st.dense.encoder->train();
  std::vector<uint32_t> sample;
  for (uint64_t step = 1; step <= steps; ++step) {
    sample.clear();  // Poisson sampling: each user independently, as the accountant assumes
    for (const uint32_t u : train_users)
      if (coin(st.rng) < q) sample.push_back(u);
    st.dp_step(sample, dp.clip, noise, q * n);
    sequences += sample.size();
    report_progress(step, steps);
  }
  privacy_.spend(plan);
  const double seconds = seconds_since(t0);
  report_.epochs = report_.best_epoch = static_cast<int>(epochs);
  report_.sequences_per_second = seconds > 0 ? sequences / seconds : 0;
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
  const bool warm = params_.integer("warm_refit_epochs") > 0 && state_ && state_->tower.items;
  SR_INPUT_CHECK(
      !world_ || (!DpConfig::from(params_).enabled && params_.integer("fed_rounds") == 0 && !warm),
      "seq: a data-parallel fit trains centrally and afresh: not with dp_*, "
      "fed_rounds or a warm refit");
  prepare_fit(data, warm);
  std::vector<uint32_t> train_users, valid_users;
  for (uint32_t u = 0; u < data.num_users(); ++u) {
    if (state_->seqs[u].size() >= 3) train_users.push_back(u);  // a training pair + validation
    if (state_->seqs[u].size() >= 2) valid_users.push_back(u);
  }
  report_ = {};
  report_.best_ndcg = -1;
  if (params_.integer("fed_rounds") > 0) {
    std::vector<uint32_t> clients;  // every user with a target (no validation: no selection)
    for (uint32_t u = 0; u < data.num_users(); ++u)
      if (state_->seqs[u].size() >= 2) clients.push_back(u);
    train_federated(clients);
  } else if (DpConfig::from(params_).enabled) {
    train_private(train_users, warm);
  } else if (world_) {
    fit_shares(train_users, valid_users, warm);
  } else {
    train_epochs(train_users, valid_users, warm);
  }
  // Final representations: every user's full fitted sequence, every item's row.
  state_->online.rebuild_pool(state_->seqs);
  refresh_vectors();
  report_.seconds = seconds_since(start);
  if (params_.integer("fed_rounds") > 0)
    log::info("seq ({}, federated): {} rounds{}", params_.str("encoder"), report_.epochs,
              privacy_.enabled
                  ? fmt::format(", epsilon {:.3f} at delta {}", privacy_.epsilon, privacy_.delta)
                  : "");
  else if (privacy_.enabled)
    log::info("seq ({}, DP): {} epochs, epsilon {:.3f} at delta {}, {:.0f} sequences/s",
              params_.str("encoder"), report_.epochs, privacy_.epsilon, privacy_.delta,
              report_.sequences_per_second);
  else
    log::info(
        "seq ({}): {} epochs, best {} (validation ndcg@10 {:.4f}), then {} with the "
        "validation items, {:.0f} sequences/s",
        params_.str("encoder"), report_.epochs, report_.best_epoch, report_.best_ndcg,
        report_.final_epochs, report_.sequences_per_second);
}

void SeqModel::build_state(int64_t n_rows) {
  // The encoder, the item table (Adam rows) and the dense optimizer, as params_ say.
  auto& st = *state_;
  st.dense.encoder = SeqEncoder(SeqEncoderOptions(st.dim, st.maxlen)
                                    .kind(params_.str("encoder"))
                                    .blocks(params_.integer("blocks"))
                                    .heads(params_.integer("heads"))
                                    .dropout(params_.real("dropout")));
  st.tower.content.fields = parse_fields(params_.str("features"));
  st.tower.content.image_size = static_cast<int>(params_.integer("image_size"));
  st.tower.id_dropout = params_.real("id_dropout");
  st.smoothing = params_.real("smoothing");
  auto dense = st.dense.encoder->parameters();
  if (st.tower.content.fields & kImage) {
    st.tower.image_tower = ImageTower(ImageTowerOptions(st.dim));
    for (auto& p : st.tower.image_tower->parameters()) dense.push_back(p);
  }
  embedding::TableConfig tc;
  tc.dim = static_cast<uint32_t>(st.dim);
  tc.optimizer.kind = embedding::OptimizerKind::kAdam;
  tc.optimizer.lr = static_cast<float>(params_.real("lr"));
  tc.optimizer.beta2 = 0.98f;
  tc.init = embedding::TableConfig::Init::kNormal;
  tc.init_scale = static_cast<float>(std::sqrt(2.0 / (n_rows + st.dim)));
  tc.seed = static_cast<uint64_t>(params_.integer("seed"));
  st.tower.items = std::make_unique<embedding::EmbeddingTable>(tc);
  st.dense.opt = std::make_unique<torch::optim::Adam>(
      dense, torch::optim::AdamOptions(params_.real("lr")).betas({0.9, 0.98}));
  st.fit_rows = n_rows;
}

void SeqModel::save(BinaryWriter& out) const {
  // (set_item_attributes alone makes a state without the model: still not fitted.)
  SR_INPUT_CHECK(state_ && state_->tower.items, "seq: save() before fit()");
  SR_INPUT_CHECK(state_->online.pending.empty(), "seq: save() with unlearned events (flush first)");
  const auto& st = *state_;
  out.u64(static_cast<uint64_t>(st.fit_rows));
  out.u32(n_items_);
  out.u64(online_steps_);
  out.u64(st.seqs.size());
  for (const auto& s : st.seqs) out.u32s(s);
  st.dense.write(out);
  out.str(st.tower.items->save_full_bytes());
  // The item tower: which items have id rows, their attribute keys and images, the CNN.
  out.bytes(st.tower.has_id.data(), st.tower.has_id.size());
  st.tower.content.save(out);
  std::ostringstream image;
  if (st.tower.image_tower) torch::save(st.tower.image_tower, image);
  out.str(image.str());
  if (DpConfig::from(params_).enabled) {  // (a model without DP writes nothing here)
    out.u8(privacy_.enabled);
    out.f64(privacy_.noise);
    out.f64(privacy_.sample_rate);
    out.u64(privacy_.steps);
    out.u64(privacy_.online_steps);
    out.u64(privacy_.users);
    for (const double r : privacy_.accountant.rdp()) out.f64(r);
  }
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
  torch::load(st.dense.encoder, enc);
  torch::load(*st.dense.opt, opt);
  st.tower.items->load_full_bytes(in.str(), "seq snapshot's item table");
  st.tower.grow(n_items_);
  in.bytes(st.tower.has_id.data(), st.tower.has_id.size());
  st.tower.load_content(in, "seq snapshot", n_items_);
  std::istringstream image(in.str());
  if (st.tower.image_tower) torch::load(st.tower.image_tower, image);
  privacy_ = {};
  if (const auto dp = DpConfig::from(params_); dp.enabled) {
    privacy_.enabled = in.u8() != 0;
    privacy_.noise = in.f64();
    privacy_.sample_rate = in.f64();
    privacy_.steps = in.u64();
    privacy_.online_steps = in.u64();
    privacy_.users = in.u64();
    std::vector<double> rdp(RdpAccountant::orders().size());
    for (double& r : rdp) r = in.f64();
    privacy_.accountant = RdpAccountant(rdp);
    privacy_.delta = dp.delta;
    privacy_.clip = dp.clip;
    privacy_.epsilon = privacy_.accountant.epsilon(dp.delta);
  }
  st.online.rebuild_pool(st.seqs);
  // User vectors are computed when first scored (a loaded copy may serve few of them).
  st.cache.invalidate_users(st.seqs.size());
  refresh_vectors_after_step();
}

void SeqModel::refresh_vectors() {
  auto& st = *state_;
  st.cache.invalidate_users(st.seqs.size());
  refresh_vectors_after_step();  // item rows
  torch::NoGradGuard no_grad;
  const auto& E = st.cache.item_rows_eval;
  std::vector<uint32_t> all(st.seqs.size());
  std::iota(all.begin(), all.end(), 0);
  st.cache.user_vectors = torch::zeros({static_cast<int64_t>(all.size()), st.dim});
  for (size_t b = 0; b < all.size(); b += 256) {
    const size_t e = std::min(all.size(), b + 256);
    // Users without history keep a zero vector (scores 0: ties go to lower ids).
    st.cache.user_vectors.slice(0, b, e).copy_(
        st.encode_last(std::span<const uint32_t>(all.data() + b, e - b), E, 0));
  }
  st.cache.stale.assign(all.size(), 0);
}

std::span<const float> SeqModel::item_vectors(size_t& dim) const {
  dim = 0;
  if (!state_ || !state_->cache.item_matrix.defined()) return {};
  dim = static_cast<size_t>(state_->dim);
  return {state_->cache.item_matrix.data_ptr<float>(),
          static_cast<size_t>(state_->cache.item_matrix.numel())};
}

Recommender::Size SeqModel::size() const {
  if (!state_ || !state_->tower.items) return {};
  const auto t = state_->tower.items->stats();
  uint64_t dense = 0;
  for (const auto& p : state_->dense.encoder->parameters()) dense += p.numel();
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
  if (!state_ || !state_->cache.item_matrix.defined()) return out;
  const auto& st = *state_;
  const int64_t dim = st.cache.item_matrix.size(1);
  std::vector<uint32_t> stale;  // users to encode now, in one batch
  std::vector<size_t> where;
  for (size_t k = 0; k < users.size(); ++k) {
    const uint32_t user = users[k];
    if (user >= st.seqs.size()) continue;
    if (st.cache.stale[user]) {
      stale.push_back(user);
      where.push_back(k);
    } else {
      const float* u = st.cache.user_vectors.data_ptr<float>() + int64_t{user} * dim;
      out[k].assign(u, u + dim);
    }
  }
  if (!stale.empty()) {
    // Read-only: eval mode; InferenceMode skips all of autograd's bookkeeping, 1.3x faster
    // than NoGradGuard here (bench_seq_query).
    c10::InferenceMode inference;
    auto h = const_cast<State&>(st).encode_last(stale, st.cache.item_rows_eval, 0).contiguous();
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

std::vector<std::pair<uint32_t, float>> SeqModel::attention(uint32_t user) const {
  std::vector<std::pair<uint32_t, float>> out;
  if (!state_ || !state_->cache.item_matrix.defined() || user >= state_->seqs.size() ||
      state_->seqs[user].empty() || state_->dense.encoder->options().kind() != "sasrec")
    return out;
  c10::InferenceMode inference;
  auto& st = const_cast<State&>(*state_);  // the encoder's forward is not const; eval mode
  const uint32_t users[] = {user};
  auto [in, tg] = st.make_batch(users, false, 0);
  torch::Tensor weights;
  st.dense.encoder(st.cache.item_rows_eval.index({in}), in.eq(0), &weights);
  // Left-padded: the history is the last `n` positions; their weights, renormalised.
  const int64_t L = st.maxlen;
  const int64_t n = std::min<int64_t>(L, static_cast<int64_t>(st.seqs[user].size()));
  auto w = weights[0].slice(0, L - n).contiguous();
  w = w / w.sum().clamp_min(1e-12);
  const float* p = w.data_ptr<float>();
  const auto& seq = st.seqs[user];
  for (int64_t k = 0; k < n; ++k) out.emplace_back(seq[seq.size() - n + k], p[k]);
  return out;
}

void SeqModel::score_all(uint32_t user, std::span<float> scores) const {
  std::fill(scores.begin(), scores.end(), 0.0f);
  std::vector<float> query;
  if (!retrieval_query(user, query)) return;
  const auto& st = *state_;
  const int64_t dim = st.cache.item_matrix.size(1);
  const float* u = query.data();
  const float* m = st.cache.item_matrix.data_ptr<float>();
  const size_t n = std::min<size_t>(scores.size(), st.cache.item_matrix.size(0));
  // Without attributes an item with no id row has a row of zeros: it scores 0 (a catalog
  // listed before its events has many of them).
  const bool all = st.tower.content.enabled();
  for (size_t i = 0; i < n; ++i)
    if (all || st.tower.has_id[i]) scores[i] = dot(u, m + i * dim, static_cast<size_t>(dim));
}

}  // namespace streamrec::models
