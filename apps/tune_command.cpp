// `streamrec tune`: a hyperparameter search on the validation split only (the test events
// are never read): quasi-random samples (a Halton sequence, rotated by --seed) of each
// model's search space, run by asynchronous successive halving (ASHA; Li et al. 2020) where
// the model trains by epochs: every configuration starts at the fewest epochs, and the best
// 1/eta of each rung is refitted with eta times as many. It stops at --budget (wall time)
// or --trials (fits). The table of trials goes to stdout, the best spec to --json, which
// eval, train, replay and serve take as `--model @FILE`.
#include "commands.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>
#include <optional>
#include <random>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli_common.h"
#include "progress.h"
#include "ranks.h"
#include "streamrec/core/error.h"
#include "streamrec/core/log.h"
#include "streamrec/eval/evaluator.h"
#include "streamrec/eval/split.h"
#include "streamrec/models/registry.h"

namespace streamrec::cli {
namespace {

// One searched parameter: its range, sampled uniformly (or log-uniformly), or (choices not
// empty) one of its choices, each equally likely.
struct Dim {
  const char* param;
  double lo, hi;
  bool log, integer;
  std::vector<std::string> choices;
};
// A model's search space, and its resource: the epoch parameter and its rungs.
struct Space {
  const char* model;
  std::vector<Dim> dims;
  const char* resource;  // null: one fit per configuration
  int64_t min_resource, max_resource;
};

// The search spaces, one per tunable model (each range inside the model's declared one).
const std::vector<Space>& spaces() {
  static const std::vector<Space> s = {
      {"seq",
       {{"dim", 16, 128, true, true, {}},
        {"maxlen", 20, 200, true, true, {}},
        {"blocks", 1, 3, false, true, {}},
        {"dropout", 0.0, 0.6, false, false, {}},
        {"lr", 3e-4, 1e-2, true, false, {}},
        {"windows", 0, 0, false, false, {"last", "all"}},
        {"features", 0, 0, false, false, {"none", "categories+title"}},
        {"final_epochs", 0, 20, false, true, {}}},
       "epochs",
       5,
       135},
      {"mf",
       {{"factors", 16, 256, true, true, {}},
        {"lr", 0.005, 0.2, true, false, {}},
        {"reg", 1e-5, 0.1, true, false, {}}},
       "epochs",
       10,
       270},
      {"autoencoder",
       {{"hidden", 64, 1024, true, true, {}},
        {"latent", 16, 256, true, true, {}},
        {"dropout", 0.2, 0.7, false, false, {}},
        {"lr", 1e-4, 1e-2, true, false, {}}},
       "epochs",
       10,
       270},
      {"ease", {{"lambda", 10, 5000, true, false, {}}}, nullptr, 0, 0},
      {"itemknn",
       {{"k", 10, 500, true, true, {}}, {"shrink", 0, 100, false, false, {}}},
       nullptr,
       0,
       0},
  };
  return s;
}

// The space of `base` (a spec: name[:fixed params]), checked against the model's declared
// parameters; the dimensions the base fixes are not searched.
Space space_for(const std::string& base) {
  const std::string name = base.substr(0, base.find(':'));
  const auto it = std::find_if(spaces().begin(), spaces().end(),
                               [&](const Space& s) { return name == s.model; });
  SR_INPUT_CHECK(it != spaces().end(), "tune: no search space for model '{}' (tunable: {})", name,
                 "seq, mf, autoencoder, ease, itemknn");
  auto params = models::make_model(base)->params();
  const auto declared = params.specs();
  Space out = *it;
  out.dims.clear();
  for (const auto& d : it->dims) {
    const auto spec = std::find_if(declared.begin(), declared.end(),
                                   [&](const ParamSpec& p) { return p.name == d.param; });
    SR_ASSERT(spec != declared.end() && d.lo >= spec->min && d.hi <= spec->max);
    for (const auto& c : d.choices) params.set(d.param, c);  // each choice is a valid value
    if (base.find(std::string(d.param) + "=") == std::string::npos) out.dims.push_back(d);
  }
  return out;
}

double radical_inverse(uint64_t i, uint64_t base) {
  double f = 1, r = 0;
  for (; i > 0; i /= base) {
    f /= static_cast<double>(base);
    r += f * static_cast<double>(i % base);
  }
  return r;
}

struct Trial {
  size_t id = 0;
  std::string base;
  std::vector<std::pair<std::string, std::string>> values;
  int rung = 0;
  int64_t resource = 0;
  double ndcg = -1, seconds = 0, finished_at = 0;
  bool promoted = false;
  std::string error;

  std::string spec(const Space& space) const {
    std::string s = base;
    auto add = [&](const std::string& k, const std::string& v) {
      s += (s.find(':') == std::string::npos ? ":" : ",") + k + "=" + v;
    };
    for (const auto& [k, v] : values) add(k, v);
    if (space.resource) add(space.resource, std::to_string(resource));
    return s;
  }
};

// The searcher's state: the trials so far and the next configuration of each model.
class Search {
 public:
  Search(std::vector<std::string> bases, uint64_t seed, int eta)
      : bases_(std::move(bases)), eta_(eta), rng_(seed) {
    size_t dims = 0;
    for (const auto& b : bases_) {
      spaces_.push_back(space_for(b));
      dims = std::max(dims, spaces_.back().dims.size());
    }
    rotation_.resize(dims);  // one rotation per searched dimension
    std::uniform_real_distribution<double> u(0.0, 1.0);
    for (double& r : rotation_) r = u(rng_);
  }
  const std::vector<Trial>& trials() const { return trials_; }
  const Space& space_of(const Trial& t) const {
    return spaces_[std::find(bases_.begin(), bases_.end(), t.base) - bases_.begin()];
  }

  // ASHA, per model: promote the best not-yet-promoted trial among the top 1/eta of the
  // highest rung that has one; else a new configuration at rung 0 (the models in turn).
  Trial next() {
    for (int rung = max_rung(); rung >= 0; --rung)
      for (size_t m = 0; m < bases_.size(); ++m)
        if (auto t = promotion(rung, m)) return *t;
    return sample();
  }
  void record(Trial t) { trials_.push_back(std::move(t)); }

 private:
  std::optional<Trial> promotion(int rung, size_t m) {
    const auto& space = spaces_[m];
    if (!space.resource) return std::nullopt;
    std::vector<const Trial*> at;
    for (const auto& t : trials_)
      if (t.rung == rung && t.base == bases_[m] && t.error.empty() && t.ndcg >= 0) at.push_back(&t);
    std::stable_sort(at.begin(), at.end(), [](auto* a, auto* b) { return a->ndcg > b->ndcg; });
    for (size_t k = 0; k < at.size() / static_cast<size_t>(eta_); ++k) {
      if (at[k]->promoted || at[k]->resource * eta_ > space.max_resource) continue;
      trials_[at[k]->id].promoted = true;
      Trial t = *at[k];
      t.id = trials_.size();
      t.rung = rung + 1;
      t.resource = at[k]->resource * eta_;
      t.promoted = false;
      t.ndcg = -1;
      return t;
    }
    return std::nullopt;
  }
  int max_rung() const {
    int r = 0;
    for (const auto& t : trials_) r = std::max(r, t.rung);
    return r;
  }
  Trial sample() {
    const size_t m = configs_ % bases_.size();
    const uint64_t index = configs_ / bases_.size() + 1;  // Halton index (0 is all zeros)
    ++configs_;
    static constexpr uint64_t kPrimes[] = {2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37};
    Trial t;
    t.id = trials_.size();
    t.base = bases_[m];
    const auto& space = spaces_[m];
    for (size_t d = 0; d < space.dims.size(); ++d) {
      const auto& dim = space.dims[d];
      double u = radical_inverse(index, kPrimes[d % std::size(kPrimes)]) + rotation_[d];
      u -= std::floor(u);
      if (!dim.choices.empty()) {
        const auto n = dim.choices.size();
        t.values.emplace_back(dim.param, dim.choices[std::min(n - 1, static_cast<size_t>(u * n))]);
        continue;
      }
      double v = dim.log ? std::exp(std::log(dim.lo) + u * (std::log(dim.hi) - std::log(dim.lo)))
                         : dim.lo + u * (dim.hi - dim.lo);
      t.values.emplace_back(
          dim.param, dim.integer ? std::to_string(std::llround(v)) : fmt::format("{:.4g}", v));
    }
    t.resource = space.min_resource;
    return t;
  }

  std::vector<std::string> bases_;
  std::vector<Space> spaces_;
  int eta_;
  std::mt19937_64 rng_;
  std::vector<double> rotation_;
  uint64_t configs_ = 0;
  std::vector<Trial> trials_;
};

// "20m", "90s", "1h", "300" (seconds) -> seconds; Error(kInvalidInput) otherwise.
double parse_budget(const std::string& s) {
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  const std::string unit(end);
  const double scale = unit.empty() || unit == "s" ? 1 : unit == "m" ? 60 : unit == "h" ? 3600 : -1;
  SR_INPUT_CHECK(end != s.c_str() && v > 0 && scale > 0,
                 "tune: --budget '{}' is not a duration like 90s, 20m or 1h", s);
  return v * scale;
}

}  // namespace

namespace {

struct TuneOptions {
  std::vector<std::string> models{"seq"};
  std::string budget = "20m", json;
  size_t trials = 0;  // 0: until the budget
  uint64_t seed = 42;
  int eta = 3;
  size_t k = 10;
};

// Fits and scores one trial on the validation events (NDCG@k); a failed fit is recorded.
void run_trial(Trial& t, const Search& search, const data::Dataset& ds, const eval::Split& split,
               size_t k) {
  const auto t0 = std::chrono::steady_clock::now();
  try {
    auto model = models::make_model(t.spec(search.space_of(t)));
    eval::EvalOptions eo;
    eo.ks = {k};
    eo.on_validation = true;  // fit on train, score validation: test is never read
    t.ndcg = eval::evaluate(*model, ds, split, eo).metrics.at(fmt::format("ndcg@{}", k));
  } catch (const std::exception& e) {
    t.error = e.what();
    log::warn("tune: trial {} ({}) failed: {}", t.id, t.spec(search.space_of(t)), e.what());
  }
  t.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

std::string trials_table(const Search& search, size_t k) {
  std::vector<const Trial*> order;
  for (const auto& t : search.trials()) order.push_back(&t);
  std::stable_sort(order.begin(), order.end(), [](auto* a, auto* b) { return a->ndcg > b->ndcg; });
  std::string out = fmt::format("{:>5} {:>4} {:>7} {:>10} {:>9}  spec\n", "trial", "rung", "epochs",
                                fmt::format("ndcg@{}", k), "seconds");
  for (const auto* t : order)
    out += fmt::format("{:>5} {:>4} {:>7} {:>10} {:>9.1f}  {}\n", t->id, t->rung,
                       t->resource ? std::to_string(t->resource) : "-",
                       t->error.empty() ? fmt::format("{:.4f}", t->ndcg) : "failed", t->seconds,
                       t->spec(search.space_of(*t)));
  return out;
}

nlohmann::json result_json(const Search& search, const Trial& best, double elapsed, double budget,
                           size_t k) {
  nlohmann::json trials = nlohmann::json::array();
  for (const auto& t : search.trials())
    trials.push_back({{"trial", t.id},
                      {"rung", t.rung},
                      {"spec", t.spec(search.space_of(t))},
                      {fmt::format("validation_ndcg{}", k), t.error.empty() ? t.ndcg : -1.0},
                      {"seconds", t.seconds},
                      {"error", t.error}});
  return {{"model", best.spec(search.space_of(best))},
          {fmt::format("validation_ndcg{}", k), best.ndcg},
          {"found_at_seconds", best.finished_at},
          {"elapsed_seconds", elapsed},
          {"budget_seconds", budget},
          {"trials", trials}};
}

void run_tune(const TuneOptions& o, const DataOptions& data) {
  const double budget = parse_budget(o.budget);
  SR_INPUT_CHECK(o.eta >= 2, "tune: --eta {} must be at least 2", o.eta);
  Search search(o.models, o.seed, o.eta);  // a model without a space fails here
  const auto ds = data.load();
  const auto split = eval::split_events(ds, {});  // leave-one-out: train, validation, test
  Progress bar("tune");
  const auto t0 = std::chrono::steady_clock::now();
  auto elapsed = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  while (elapsed() < budget && (o.trials == 0 || search.trials().size() < o.trials)) {
    Trial t = search.next();
    run_trial(t, search, ds, split, o.k);
    t.finished_at = elapsed();
    log::info("tune: trial {} rung {}: ndcg@{} {:.4f} in {:.1f} s", t.id, t.rung, o.k, t.ndcg,
              t.seconds);
    search.record(std::move(t));
    const double by_trials = o.trials ? double(search.trials().size()) / double(o.trials) : 0;
    bar.update(static_cast<uint64_t>(1000 * std::min(1.0, std::max(elapsed() / budget, by_trials))),
               1000);
  }
  bar.finish();
  const auto& all = search.trials();
  const auto best = std::max_element(all.begin(), all.end(), [](const Trial& a, const Trial& b) {
    return (a.error.empty() ? a.ndcg : -1.0) < (b.error.empty() ? b.ndcg : -1.0);
  });
  SR_INPUT_CHECK(best != all.end() && best->error.empty() && best->ndcg >= 0,
                 "tune: no trial finished within the budget ({})", o.budget);
  fmt::print("{}", trials_table(search, o.k));
  const double total = elapsed();
  fmt::print("best: {} (validation ndcg@{} {:.4f}), found at {:.0f} s of {:.0f} s ({:.0f}%)\n",
             best->spec(search.space_of(*best)), o.k, best->ndcg, best->finished_at, total,
             100 * best->finished_at / total);
  if (!o.json.empty())
    write_text(o.json, result_json(search, *best, total, budget, o.k).dump(2) + "\n");
}

}  // namespace

void add_tune_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "tune", "search model hyperparameters on the validation split (ASHA over epochs)");
  auto data = std::make_shared<DataOptions>();
  data->add_to(cmd);
  auto o = std::make_shared<TuneOptions>();
  cmd->add_option("--model", o->models,
                  "model to tune (seq, mf, autoencoder, ease, itemknn; name[:fixed params]), "
                  "repeatable")
      ->capture_default_str();
  cmd->add_option("--budget", o->budget, "wall time: 90s, 20m, 1h")->capture_default_str();
  cmd->add_option("--trials", o->trials, "most fits (0: until the budget)")->capture_default_str();
  cmd->add_option("--seed", o->seed, "the search's seed (the sample sequence)")
      ->capture_default_str();
  cmd->add_option("--eta", o->eta, "successive halving: keep 1/eta of a rung, eta x the epochs")
      ->capture_default_str();
  cmd->add_option("--k", o->k, "NDCG cut-off")->capture_default_str();
  cmd->add_option("--json", o->json, "write the best spec and every trial (JSON; --model @FILE)");
  cmd->callback([=] {
    refuse_ranks("tune");
    run_tune(*o, *data);
  });
}

}  // namespace streamrec::cli
