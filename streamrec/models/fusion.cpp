#include "streamrec/models/fusion.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "streamrec/core/error.h"
#include "streamrec/core/log.h"
#include "streamrec/core/text.h"
#include "streamrec/models/ranker.h"
#include "streamrec/models/registry.h"

namespace streamrec::models {
namespace {

// "seq/maxlen=50/dim=50" -> "seq:maxlen=50,dim=50".
std::string source_spec(std::string_view s) {
  std::string out(text::trim(s));
  const auto slash = out.find('/');
  if (slash == std::string::npos) return out;
  out[slash] = ':';
  std::replace(out.begin() + static_cast<std::ptrdiff_t>(slash), out.end(), '/', ',');
  return out;
}

// `sources` split at each '+' that starts a model's name: a '+' inside a source's own
// parameter (seq's features=categories+title) stays in that source.
std::vector<std::string> split_sources(const std::string& sources) {
  std::vector<std::string> out;
  for (const auto part : text::split(sources, "+")) {
    const auto name = part.substr(0, part.find_first_of("/:"));
    const bool model = std::any_of(model_registry().begin(), model_registry().end(),
                                   [&](const ModelInfo& m) { return m.name == name; });
    if (!model && !out.empty())
      out.back().append("+").append(part);
    else
      out.emplace_back(part);
  }
  return out;
}

}  // namespace

FusionModel::FusionModel(Params params) : params_(std::move(params)) {
  for (const auto& s : split_sources(params_.str("sources"))) {
    specs_.push_back(source_spec(s));
    SR_INPUT_CHECK(specs_.back().rfind("fusion", 0) != 0, "fusion: a source cannot be fusion");
    make_model(specs_.back());  // a bad spec fails at construction
  }
  SR_INPUT_CHECK(!specs_.empty() && !specs_.front().empty(), "fusion: sources is empty");
}

FusionModel::~FusionModel() = default;

Params FusionModel::declare_params() {
  return Params(
      "fusion",
      {ParamSpec::string("sources", "seq/maxlen=50/dim=50+itemknn+mf",
                         "candidate models joined by '+', each a model spec with '/' for "
                         "':' and ',' (a '+' not followed by a model name stays in its "
                         "source: seq/features=categories+title+ease)"),
       ParamSpec::integer("pool", 50, 1, 1000, "candidates from each source"),
       ParamSpec::integer("holdout", 1, 1, 100,
                          "each user's last events the ranker learns from (labels)"),
       ParamSpec::integer("epochs", 30, 1, 10000, "passes of the ranker over its examples"),
       ParamSpec::integer("lists", 32, 1, 4096, "candidate lists per ranker step"),
       ParamSpec::integer("hidden", 32, 4, 1024, "ranker MLP width"),
       ParamSpec::real("lr", 0.003, 1e-6, 1.0, "ranker Adam learning rate"),
       ParamSpec::integer("seed", 42, 0, INT64_MAX, "random seed")});
}

void FusionModel::fit_sources(const TrainData& data) {
  sources_.clear();
  for (const auto& spec : specs_) {
    sources_.push_back(make_model(spec));
    sources_.back()->fit(data);
  }
  n_items_ = data.num_items();
  log_popularity_.assign(n_items_, 0.0f);
  for (uint32_t i = 0; i < n_items_; ++i)
    log_popularity_[i] = std::log1p(static_cast<float>(data.item_degree()[i]));
}

void FusionModel::candidates(uint32_t user, std::span<const uint32_t> exclude,
                             std::vector<uint32_t>& items, std::vector<float>& features,
                             std::vector<float>* first_scores) const {
  const auto pool = static_cast<size_t>(params_.integer("pool"));
  const size_t S = sources_.size();
  std::vector<std::vector<float>> scores(S, std::vector<float>(n_items_));
  std::vector<std::vector<ScoredItem>> tops(S);
  std::vector<std::vector<float>> position(S);  // rank-scaled: 1 at the top, 0 outside
  items.clear();
  for (size_t s = 0; s < S; ++s) {
    sources_[s]->score_all(user, scores[s]);
    tops[s] = top_k(scores[s], pool, exclude);
    for (const auto& c : tops[s]) items.push_back(c.item);
  }
  std::sort(items.begin(), items.end());
  items.erase(std::unique(items.begin(), items.end()), items.end());
  for (size_t s = 0; s < S; ++s) {
    position[s].assign(items.size(), 0.0f);
    const auto& top = tops[s];
    for (size_t r = 0; r < top.size(); ++r) {
      const auto at = std::lower_bound(items.begin(), items.end(), top[r].item) - items.begin();
      position[s][at] = 1.0f - static_cast<float>(r) / pool;
    }
  }
  const FusionLayout layout{S};
  const auto F = static_cast<size_t>(layout.count());
  features.assign(items.size() * F, 0.0f);
  for (size_t s = 0; s < S; ++s) {
    // Standardised over this list: sources' raw scales differ by user and by fit.
    double sum = 0, sum2 = 0;
    for (uint32_t i : items) sum += scores[s][i], sum2 += double(scores[s][i]) * scores[s][i];
    const double n = std::max<double>(1, items.size()), mean = sum / n;
    const double sd = std::sqrt(std::max(0.0, sum2 / n - mean * mean));
    const double inv = sd > 1e-9 ? 1 / sd : 0;
    for (size_t c = 0; c < items.size(); ++c) {
      float* row = features.data() + c * F;
      row[layout.score(s)] = static_cast<float>((scores[s][items[c]] - mean) * inv);
      row[layout.position(s)] = position[s][c];
    }
  }
  for (size_t c = 0; c < items.size(); ++c)
    features[c * F + layout.popularity()] = log_popularity_[items[c]];
  if (first_scores) *first_scores = std::move(scores.front());
}

std::vector<FusionModel::RankerList> FusionModel::labelled_lists(
    const TrainData& first, const std::vector<std::vector<uint32_t>>& targets) {
  // Repeats of fitted items are not candidates, so they do not count.
  std::vector<RankerList> lists;
  size_t found = 0, asked = 0;
  std::vector<uint32_t> items;
  for (uint32_t u = 0; u < first.num_users(); ++u) {
    const auto seen = first.items_of(u);
    std::vector<uint32_t> wanted;
    for (uint32_t t : targets[u])
      if (!std::binary_search(seen.begin(), seen.end(), t)) wanted.push_back(t);
    if (wanted.empty()) continue;
    asked += wanted.size();
    RankerList l;
    candidates(u, seen, items, l.x);
    l.y.assign(items.size(), 0.0f);
    size_t hits = 0;
    for (uint32_t t : wanted) {
      const auto at = std::lower_bound(items.begin(), items.end(), t);
      if (at == items.end() || *at != t) continue;
      auto& label = l.y[at - items.begin()];
      hits += label == 0.0f;
      label = 1.0f;
    }
    if (hits == 0) continue;
    found += hits;
    lists.push_back(std::move(l));
  }
  report_ = {};
  report_.lists = lists.size();
  report_.recall = asked ? static_cast<double>(found) / asked : 0;
  for (const auto& l : lists) report_.candidates += l.y.size();
  return lists;
}

namespace {

// NDCG@10 of ordering one list's rows by `scores` (ties against the row).
double list_ndcg(std::span<const float> scores, std::span<const float> labels) {
  double dcg = 0, ideal = 0;
  size_t positives = 0;
  for (size_t p = 0; p < labels.size(); ++p) {
    if (labels[p] == 0.0f) continue;
    size_t rank = 0;
    for (size_t r = 0; r < scores.size() && rank < 10; ++r)
      rank += r != p && scores[r] >= scores[p];
    if (rank < 10) dcg += 1 / std::log2(rank + 2.0);
    if (positives < 10) ideal += 1 / std::log2(positives + 2.0);
    ++positives;
  }
  return ideal > 0 ? dcg / ideal : 0;
}

}  // namespace

double FusionModel::held_out_ndcg(const std::vector<const RankerList*>& lists,
                                  const FusionRanker* ranker, size_t source) const {
  const FusionLayout layout{sources_.size()};
  const auto F = static_cast<size_t>(layout.count());
  double sum = 0;
  std::vector<float> scores;
  for (const auto* l : lists) {
    if (ranker) {
      scores = ranker->score(l->x);
    } else {
      scores.resize(l->y.size());
      for (size_t r = 0; r < scores.size(); ++r) scores[r] = l->x[r * F + layout.score(source)];
    }
    sum += list_ndcg(scores, l->y);
  }
  return lists.empty() ? 0 : sum / lists.size();
}

void FusionModel::ranker_epoch(FusionRanker& ranker, const std::vector<const RankerList*>& lists,
                               std::mt19937_64& rng) {
  // The lists in a random order, `lists` of them per step (listwise softmax).
  std::vector<size_t> order(lists.size());
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), rng);
  const auto per_step = static_cast<size_t>(params_.integer("lists"));
  double loss = 0;
  size_t steps = 0;
  std::vector<float> x, y;
  std::vector<size_t> sizes;
  for (size_t b = 0; b < order.size(); b += per_step) {
    x.clear(), y.clear(), sizes.clear();
    for (size_t k = b; k < std::min(order.size(), b + per_step); ++k) {
      const auto& l = *lists[order[k]];
      x.insert(x.end(), l.x.begin(), l.x.end());
      y.insert(y.end(), l.y.begin(), l.y.end());
      sizes.push_back(l.y.size());
    }
    loss += ranker.train_lists(x, y, sizes);
    ++steps;
  }
  report_.last_loss = steps ? loss / steps : 0;
}

void FusionModel::train_ranker(const std::vector<RankerList>& lists) {
  // 1. The base: the source whose own order is best over all the lists. The ranker starts
  //    as its order and learns corrections (FusionRankerOptions::base).
  std::mt19937_64 rng(static_cast<uint64_t>(params_.integer("seed")));
  std::vector<const RankerList*> all;
  for (const auto& l : lists) all.push_back(&l);
  report_.source_ndcg.clear();
  for (size_t s = 0; s < sources_.size(); ++s)
    report_.source_ndcg.push_back(held_out_ndcg(all, nullptr, s));
  report_.base =
      static_cast<size_t>(std::max_element(report_.source_ndcg.begin(), report_.source_ndcg.end()) -
                          report_.source_ndcg.begin());
  ranker_options_.base = static_cast<int64_t>(FusionLayout{sources_.size()}.score(report_.base));
  // 2. The epoch count, from 0 (the base's order) up, by 5-fold cross-validation over the
  //    lists: corrections are kept only as far as they help on the lists they did not see.
  std::shuffle(all.begin(), all.end(), rng);
  const int64_t epochs = params_.integer("epochs");
  constexpr size_t kFolds = 5;
  std::vector<double> ndcg_at(static_cast<size_t>(epochs) + 1, 0.0);  // summed over folds
  for (size_t fold = 0; fold < kFolds && all.size() >= kFolds; ++fold) {
    std::vector<const RankerList*> fit, held;
    for (size_t i = 0; i < all.size(); ++i) (i % kFolds == fold ? held : fit).push_back(all[i]);
    FusionRanker trial(ranker_options_);
    ndcg_at[0] += held_out_ndcg(held, &trial) * held.size();
    for (int64_t epoch = 1; epoch <= epochs; ++epoch) {
      ranker_epoch(trial, fit, rng);
      ndcg_at[static_cast<size_t>(epoch)] += held_out_ndcg(held, &trial) * held.size();
      report_progress(fold * static_cast<uint64_t>(epochs) + epoch, (kFolds + 1) * epochs);
    }
  }
  const auto best_epoch =
      static_cast<int64_t>(std::max_element(ndcg_at.begin(), ndcg_at.end()) - ndcg_at.begin());
  const double lists_held = std::max<double>(1, all.size());
  report_.base_ndcg = ndcg_at[0] / lists_held;
  report_.ranker_ndcg = ndcg_at[static_cast<size_t>(best_epoch)] / lists_held;
  // 3. The ranker learns every list for the chosen number of epochs.
  ranker_ = std::make_unique<FusionRanker>(ranker_options_);
  for (int64_t epoch = 1; epoch <= best_epoch; ++epoch) {
    ranker_epoch(*ranker_, all, rng);
    report_progress(kFolds * epochs + epoch, (kFolds + 1) * epochs);
  }
  report_.epochs = best_epoch;
  log::info(
      "fusion: ranker trained on {} lists ({:.1f} candidates each; {:.1f}% of the held-out "
      "items were among the candidates) for {} epochs from source {}'s order (the sources' "
      "NDCG@10 over the lists: {:.4f}); cross-validated NDCG@10 {:.4f}, the base's {:.4f}",
      lists.size(), lists.empty() ? 0.0 : double(report_.candidates) / lists.size(),
      100 * report_.recall, best_epoch, report_.base + 1, fmt::join(report_.source_ndcg, " / "),
      report_.ranker_ndcg, report_.base_ndcg);
}

void FusionModel::fit(const TrainData& data) {
  // 1. Each user's last `holdout` events are the ranker's targets; the sources learn without
  //    them. Users need two more events than that.
  const auto K = static_cast<uint32_t>(params_.integer("holdout"));
  const auto& events = data.events();
  std::vector<uint32_t> count(data.num_users(), 0), seen_so_far(data.num_users(), 0);
  for (const auto& e : events) ++count[e.user];
  std::vector<data::Interaction> without;
  std::vector<std::vector<uint32_t>> targets(data.num_users());
  for (const auto& e : events) {
    const uint32_t k = seen_so_far[e.user]++;
    if (count[e.user] >= K + 2 && k >= count[e.user] - K)
      targets[e.user].push_back(e.item);
    else
      without.push_back(e);
  }
  const TrainData first(data.num_users(), data.num_items(), without, data.catalog());
  log::info("fusion: fitting {} sources without each user's last {} events", specs_.size(), K);
  fit_sources(first);

  // 2. Candidate lists with the held-out items labelled; 3. the ranker learns them.
  ranker_options_.features = FusionLayout{sources_.size()}.count();
  ranker_options_.hidden = params_.integer("hidden");
  ranker_options_.lr = params_.real("lr");
  ranker_options_.seed = static_cast<uint64_t>(params_.integer("seed"));
  train_ranker(labelled_lists(first, targets));

  // 4. The sources learn everything for serving.
  fit_sources(data);
  seen_.assign(data.num_users(), {});
  for (uint32_t u = 0; u < data.num_users(); ++u) {
    const auto items_of = data.items_of(u);
    seen_[u].assign(items_of.begin(), items_of.end());
  }
}

void FusionModel::score_all(uint32_t user, std::span<float> scores) const {
  std::fill(scores.begin(), scores.end(), 0.0f);
  if (sources_.empty()) return;
  std::vector<uint32_t> items;
  std::vector<float> features, first;
  // Candidates as in training: none of the user's fitted items.
  candidates(
      user,
      user < seen_.size() ? std::span<const uint32_t>(seen_[user]) : std::span<const uint32_t>{},
      items, features, &first);
  // Every other item below the candidates, in the first source's order.
  if (!first.empty()) {
    const auto [lo_at, hi_at] = std::minmax_element(first.begin(), first.end());
    const float lo = *lo_at, span = std::max(1e-6f, *hi_at - lo);
    for (size_t i = 0; i < first.size() && i < scores.size(); ++i)
      scores[i] = -2.0f + (first[i] - lo) / span;  // in [-2, -1]
  }
  const auto logits = ranker_->score(features);
  // Logits squashed into (0, 1): above every non-candidate.
  for (size_t c = 0; c < items.size(); ++c)
    if (items[c] < scores.size()) scores[items[c]] = 1.0f / (1.0f + std::exp(-logits[c]));
}

}  // namespace streamrec::models
