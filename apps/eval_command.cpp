// `streamrec eval`: one protocol over several models, or over a trained artifact (--load).
#include "commands.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli_common.h"
#include "progress.h"
#include "ranks.h"
#include "streamrec/core/error.h"
#include "streamrec/core/log.h"
#include "streamrec/eval/cold_start.h"
#include "streamrec/eval/evaluator.h"
#include "streamrec/eval/report.h"
#include "streamrec/eval/split.h"
#include "streamrec/models/artifact.h"
#include "streamrec/models/registry.h"

namespace streamrec::cli {

namespace {

// The artifact in `dir` for evaluation on `ds`: its ids must be the data set's (the same
// users and items in the same order, as `train` on the same data wrote them). A model not
// fitted without this protocol's test events is evaluated with a warning.
models::Artifact loaded_for_eval(const std::string& dir, const data::Dataset& ds,
                                 const std::string& protocol, uint64_t seed) {
  auto a = models::read_artifact_dir(dir);
  SR_INPUT_CHECK(a.users == ds.users.ids() && a.items == ds.items.ids(),
                 "'{}' was trained on other data: {} users and {} items, this data set has {} "
                 "and {} (or in another order)",
                 dir, a.users.size(), a.items.size(), ds.users.size(), ds.items.size());
  const auto meta = a.meta.empty() ? nlohmann::json::object() : nlohmann::json::parse(a.meta);
  const std::string holdout = meta.value("holdout", "none");
  if (holdout != protocol || (protocol == "random" && meta.value("seed", uint64_t{0}) != seed))
    log::warn(
        "'{}' was fitted with holdout {}, not without this {} split's test events: it has seen "
        "them, so these numbers flatter it (train --holdout {})",
        dir, holdout, protocol, protocol);
  return a;
}

using Built = std::vector<std::unique_ptr<models::Recommender>>;
using Meta = std::vector<std::pair<std::string, std::string>>;

void run_prequential(Built& built, const std::vector<std::string>& names, const data::Dataset& ds,
                     const PrequentialCli& preq, const Meta& meta, const std::string& json) {
  std::vector<eval::PrequentialResult> results;
  for (size_t x = 0; x < built.size(); ++x) {
    Progress bar(fmt::format("replay {}", names[x]));
    results.push_back(eval::prequential(*built[x], ds, preq.options, bar.callback()));
    results.back().model = names[x];
  }
  preq.write(results, meta, json);
}

void run_cold_items(Built& built, const std::vector<std::string>& names, const data::Dataset& ds,
                    const eval::ColdStartOptions& cold, const Meta& meta, const std::string& json) {
  const auto cs = eval::split_cold_items(ds, cold);
  log::info("cold items: {} held out ({} user-item pairs), {} train events", cs.cold_items.size(),
            cs.targets.size(), cs.train.size());
  auto results = eval::cold_start_baselines(ds, cs, cold);
  for (size_t x = 0; x < built.size(); ++x) {
    Progress fit_bar(fmt::format("fit {}", names[x]));
    built[x]->set_progress(fit_bar.callback());
    results.push_back(eval::evaluate_cold_start(*built[x], ds, cs, cold));
    results.back().model = names[x];
    built[x]->set_progress({});
  }
  std::vector<std::string> columns;
  for (size_t k : cold.ks) {
    columns.push_back(fmt::format("hr@{}", k));
    columns.push_back(fmt::format("ndcg@{}", k));
  }
  fmt::print("{}", eval::format_table(results, columns));
  if (!json.empty()) write_text(json, eval::results_json(results, meta));
}

// A split protocol's run: loo, temporal or random.
struct EvalRun {
  const data::Dataset& ds;
  eval::SplitOptions split;
  std::vector<size_t> ks;
  bool validation;
  bool fit;  // false: the models are loaded artifacts
  double calibrate, max_category_share;
};

void run_split(Built& built, const std::vector<std::string>& names, const EvalRun& run,
               Ranks& ranks, const Meta& meta, const std::string& json) {
  const auto& ds = run.ds;
  const eval::Split sp = eval::split_events(ds, run.split);
  log::info("split {}: {} train, {} validation, {} test events", run.split.protocol,
            sp.train.size(), sp.validation.size(), sp.test.size());
  eval::EvalOptions eo;
  eo.ks = run.ks;
  eo.on_validation = run.validation;
  eo.calibrate = run.calibrate;
  eo.max_category_share = run.max_category_share;
  std::vector<eval::EvalResult> results;
  for (size_t x = 0; x < built.size(); ++x) {
    auto& m = built[x];
    if (!ranks.root()) {  // a rank's share of the fit; rank 0 evaluates
      m->fit(eval::fit_data(ds, sp, eo));
      ranks.report(0);
      continue;
    }
    Progress fit_bar(fmt::format("fit {}", names[x]));
    m->set_progress(fit_bar.callback());
    Progress eval_bar(fmt::format("rank {}", names[x]));
    results.push_back(eval::evaluate(*m, ds, sp, eo, run.fit, eval_bar.callback()));
    results.back().model =
        ranks.active() ? fmt::format("{} x{} ranks", names[x], ranks.size()) : names[x];
    m->set_progress({});
    ranks.report(results.back().fit_seconds);
  }
  if (!ranks.root()) return;
  auto columns = ranking_columns(eo.ks, ds.explicit_ratings);
  if (std::any_of(results.begin(), results.end(),
                  [](const auto& r) { return r.metrics.count("dp_epsilon") > 0; }))
    columns.push_back("dp_epsilon");
  fmt::print("{}", eval::format_table(results, columns));
  if (!json.empty()) write_text(json, eval::results_json(results, meta));
}

}  // namespace

void add_eval_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("eval", "fit models and evaluate them with one protocol");
  auto data = std::make_shared<DataOptions>();
  data->add_to(cmd);
  auto models = std::make_shared<std::vector<std::string>>(
      std::vector<std::string>{"popular", "itemknn", "mf", "ease"});
  auto protocol = std::make_shared<std::string>("loo");
  auto ks = std::make_shared<std::string>("10,20");
  auto json_path = std::make_shared<std::string>();
  auto validation = std::make_shared<bool>(false);
  auto split = std::make_shared<eval::SplitOptions>();
  auto preq = std::make_shared<PrequentialCli>();
  cmd->add_option("--model", *models,
                  "model spec name[:key=value,...], repeatable (see `streamrec models`), or "
                  "@FILE (tune's result)")
      ->transform(model_spec_file())
      ->capture_default_str();
  cmd->add_option("--protocol", *protocol,
                  "loo | temporal | random | prequential | cold-items (new items held out "
                  "of training, ranked by their attributes)")
      ->capture_default_str();
  auto cold = std::make_shared<eval::ColdStartOptions>();
  cmd->add_option("--cold-share", cold->share, "cold-items: share of the items held out")
      ->capture_default_str();
  cmd->add_option("--k", *ks, "cut-offs, comma-separated")->capture_default_str();
  cmd->add_option("--json", *json_path, "write results as JSON to this file");
  cmd->add_flag("--validation", *validation,
                "fit on train only and score the validation events (for tuning)");
  cmd->add_option("--train-ratio", split->train_ratio, "temporal/random: train share")
      ->capture_default_str();
  cmd->add_option("--valid-ratio", split->valid_ratio, "temporal/random: validation share")
      ->capture_default_str();
  cmd->add_option("--seed", split->seed, "random split seed")->capture_default_str();
  auto fair = std::make_shared<std::pair<double, double>>(0.0, 1.0);
  cmd->add_option("--calibrate", fair->first,
                  "loo/temporal/random: re-rank each list toward the user's category mix "
                  "(Steck 2018), 0 (off) to 1, as the server's calibrate")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  cmd->add_option("--max-category-share", fair->second,
                  "loo/temporal/random: no category above this share of a list (1: no cap)")
      ->check(CLI::Range(0.01, 1.0))
      ->capture_default_str();
  preq->add_to(cmd, "prequential: ");
  auto load = std::make_shared<std::string>();
  cmd->add_option("--load", *load,
                  "evaluate the model `streamrec train --out DIR` wrote (no fit; train it with "
                  "--holdout of the same protocol for a fair test) instead of --model");
  cmd->callback([=] {
    Ranks ranks;  // under mpirun: the models fit on every rank, rank 0 evaluates
    const data::Dataset ds = data->load();
    // Build every model first so that a bad spec fails before any work.
    std::vector<std::unique_ptr<models::Recommender>> built;
    if (!load->empty()) {
      SR_INPUT_CHECK(*protocol == "loo" || *protocol == "temporal" || *protocol == "random",
                     "--load works with --protocol loo, temporal or random, not {}", *protocol);
      auto a = loaded_for_eval(*load, ds, *protocol, split->seed);
      *models = {a.spec};
      built.push_back(std::move(a.model));
    }
    for (const auto& spec : *models)
      if (load->empty()) built.push_back(models::make_model(spec));
    if (ranks.active())
      SR_INPUT_CHECK(
          load->empty() && (*protocol == "loo" || *protocol == "temporal" || *protocol == "random"),
          "eval on {} MPI ranks fits models with --protocol loo, temporal or random "
          "(not --load or {})",
          ranks.size(), *protocol);
    for (size_t x = 0; x < built.size(); ++x) ranks.attach(*built[x], (*models)[x]);
    const auto meta = run_meta(*data, ds, *protocol);
    if (*protocol == "prequential") {
      preq->options.k = parse_ks(*ks).front();
      run_prequential(built, *models, ds, *preq, meta, *json_path);
    } else if (*protocol == "cold-items") {
      cold->ks = parse_ks(*ks);
      cold->seed = split->seed;
      run_cold_items(built, *models, ds, *cold, meta, *json_path);
    } else {
      split->protocol = *protocol;
      EvalRun run{ds, *split, parse_ks(*ks), *validation, load->empty(), fair->first, fair->second};
      run_split(built, *models, run, ranks, meta, *json_path);
    }
  });
}

}  // namespace streamrec::cli
