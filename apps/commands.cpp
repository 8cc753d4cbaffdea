#include "commands.h"

#include <filesystem>
#include <fstream>
#include <memory>

#include <fmt/format.h>

#include <chrono>
#include <nlohmann/json.hpp>

#include "progress.h"
#include "streamrec/core/error.h"
#include "streamrec/core/log.h"
#include "streamrec/core/parallel.h"
#include "streamrec/core/serialize.h"
#include "streamrec/core/text.h"
#include "streamrec/data/dataset_io.h"
#include "streamrec/data/generator.h"
#include "streamrec/data/preprocess.h"
#include "streamrec/data/reader.h"
#include "streamrec/dist/bpr.h"
#include "streamrec/dist/comm.h"
#include "streamrec/eval/cold_start.h"
#include "streamrec/eval/evaluator.h"
#include "streamrec/eval/plot.h"
#include "streamrec/eval/prequential.h"
#include "streamrec/eval/report.h"
#include "streamrec/eval/split.h"
#include "streamrec/models/artifact.h"
#include "streamrec/models/registry.h"
#include "streamrec/models/seq.h"

namespace streamrec::cli {
namespace {

// Options shared by every command that loads data.
struct DataOptions {
  std::string path;  // empty: generate the synthetic default
  std::string format = "auto";
  std::string on_error = "fail";
  std::vector<std::string> columns;
  std::vector<std::string> prep;
  std::vector<std::string> gen;

  void add_to(CLI::App* cmd) {
    std::string formats;
    for (const auto& f : data::formats())
      formats += fmt::format("\n  {:<10} {}", f.name, f.description);
    cmd->add_option("--data", path,
                    "data directory or file; omitted: the built-in synthetic stream");
    cmd->add_option("--format", format, "data format: auto or one of:" + formats);
    cmd->add_option("--on-error", on_error, "malformed rows: fail (default) or skip and count");
    cmd->add_option("--columns", columns,
                    "generic formats: field=column mapping, e.g. user=uid,item=sku");
    cmd->add_option("--prep", prep,
                    "preprocessing key=value,...:\n" + data::PreprocessOptions::params().help());
    cmd->add_option("--gen", gen,
                    "synthetic data key=value,... (without --data):\n" +
                        data::GeneratorOptions::params().help());
  }

  data::Dataset load() const {
    data::Dataset ds;
    if (path.empty()) {
      auto gp = data::GeneratorOptions::params();
      gp.set_from(gen);
      ds = data::generate(data::GeneratorOptions::from_params(gp));
      log::info("generated {} events, {} users, {} items ({})", ds.events.size(), ds.num_users(),
                ds.num_items(), gp.summary());
    } else {
      data::ReadOptions ro;
      ro.format = format;
      ro.on_error = data::parse_on_error(on_error);
      ro.columns = columns;
      data::ImportReport report;
      ds = data::read_dataset(path, ro, report);
      log::info("read {} events, {} users, {} items from '{}' ({} rows read, {} skipped)",
                ds.events.size(), ds.num_users(), ds.num_items(), path, report.rows_read,
                report.rows_skipped);
      for (const auto& m : report.messages) log::warn("skipped: {}", m);
    }
    auto pp = data::PreprocessOptions::params();
    pp.set_from(prep);
    const auto pr = data::preprocess(ds, data::PreprocessOptions::from_params(pp));
    log::info("preprocessed: {}; {} events remain", pr.summary(), ds.events.size());
    SR_INPUT_CHECK(!ds.events.empty(), "no events left after preprocessing");
    return ds;
  }
};

std::vector<size_t> parse_ks(const std::string& s) {
  std::vector<size_t> ks;
  for (auto part : text::split(s, ",")) {
    const auto v = text::parse_int(part);
    SR_INPUT_CHECK(v && *v > 0 && *v <= 100000, "--k: expected positive integers, got {}",
                   text::quote(part));
    ks.push_back(static_cast<size_t>(*v));
  }
  return ks;
}

// The columns of a ranking evaluation's table: HR, NDCG and recall at each cut-off, MRR and
// coverage at the first, MAE and RMSE for rating data.
std::vector<std::string> ranking_columns(const std::vector<size_t>& ks, bool ratings) {
  std::vector<std::string> columns;
  for (size_t k : ks) {
    columns.push_back(fmt::format("hr@{}", k));
    columns.push_back(fmt::format("ndcg@{}", k));
    columns.push_back(fmt::format("recall@{}", k));
  }
  columns.push_back(fmt::format("mrr@{}", ks.front()));
  columns.push_back(fmt::format("coverage@{}", ks.front()));
  if (ratings) columns.insert(columns.end(), {"mae", "rmse"});
  return columns;
}

// The dense ids a model's rows stand for, one per line in index order (`train --out`,
// `dist-train --out`/`--init`).
std::string id_lines(const IdMap& ids) {
  std::string text;
  for (uint32_t i = 0; i < ids.size(); ++i) text += std::string(ids.id(i)) + "\n";
  return text;
}

void write_text(const std::string& path, const std::string& content) {
  std::ofstream out(path);
  SR_CHECK(out.good(), ErrorKind::kIo, "cannot write '{}'", path);
  out << content;
}

}  // namespace

// What a results file says about the run.
std::vector<std::pair<std::string, std::string>> run_meta(const DataOptions& data,
                                                          const data::Dataset& ds,
                                                          const std::string& protocol) {
  return {{"data", data.path.empty() ? "synthetic" : data.path},
          {"protocol", protocol},
          {"events", std::to_string(ds.events.size())},
          {"users", std::to_string(ds.num_users())},
          {"items", std::to_string(ds.num_items())},
          {"threads", std::to_string(num_threads())}};
}

// Prequential options and outputs, shared by `eval --protocol prequential` and `replay`.
struct PrequentialCli {
  eval::PrequentialOptions options;
  std::string csv, report, plot;

  void add_to(CLI::App* cmd, const std::string& prefix) {
    cmd->add_option("--warmup", options.warmup_share, prefix + "share of time fitted first")
        ->capture_default_str();
    cmd->add_option("--window", options.window, prefix + "scored events per curve point")
        ->capture_default_str();
    cmd->add_option("--max-events", options.max_events, prefix + "stop after N scored events");
    cmd->add_option("--curve-csv", csv, prefix + "write the curves as CSV");
    cmd->add_option("--report", report, prefix + "write an HTML report (table + curves)");
    cmd->add_option("--plot", plot, prefix + "write the NDCG curves as an SVG chart");
  }

  void write(const std::vector<eval::PrequentialResult>& results,
             const std::vector<std::pair<std::string, std::string>>& meta,
             const std::string& json) const {
    fmt::print("{}", eval::format_prequential_table(results, options.k));
    if (!json.empty()) write_text(json, eval::prequential_json(results, meta));
    if (!csv.empty()) write_text(csv, eval::prequential_csv(results));
    if (!report.empty()) write_text(report, eval::prequential_html(results, options.k, meta));
    if (!plot.empty()) {
      std::vector<eval::Series> series;
      for (const auto& r : results) {
        eval::Series s{r.model, {}, {}};
        for (const auto& p : r.curve) {
          s.x.push_back(static_cast<double>(p.scored));
          s.y.push_back(p.ndcg);
        }
        series.push_back(std::move(s));
      }
      write_text(plot, eval::svg_line_chart(fmt::format("prequential NDCG@{}", options.k),
                                            "scored events", "NDCG", series));
    }
  }
};

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
                  "model spec name[:key=value,...], repeatable (see `streamrec models`)")
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
  preq->add_to(cmd, "prequential: ");
  auto load = std::make_shared<std::string>();
  cmd->add_option("--load", *load,
                  "evaluate the model `streamrec train --out DIR` wrote (no fit; train it with "
                  "--holdout of the same protocol for a fair test) instead of --model");
  cmd->callback([=] {
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
    const auto meta = run_meta(*data, ds, *protocol);
    if (*protocol == "prequential") {
      preq->options.k = parse_ks(*ks).front();
      std::vector<eval::PrequentialResult> results;
      for (size_t x = 0; x < built.size(); ++x) {
        Progress bar(fmt::format("replay {}", (*models)[x]));
        results.push_back(eval::prequential(*built[x], ds, preq->options, bar.callback()));
        results.back().model = (*models)[x];
      }
      preq->write(results, meta, *json_path);
      return;
    }
    if (*protocol == "cold-items") {
      cold->ks = parse_ks(*ks);
      cold->seed = split->seed;
      const auto cs = eval::split_cold_items(ds, *cold);
      log::info("cold items: {} held out ({} user-item pairs), {} train events",
                cs.cold_items.size(), cs.targets.size(), cs.train.size());
      auto results = eval::cold_start_baselines(ds, cs, *cold);
      for (size_t x = 0; x < built.size(); ++x) {
        Progress fit_bar(fmt::format("fit {}", (*models)[x]));
        built[x]->set_progress(fit_bar.callback());
        results.push_back(eval::evaluate_cold_start(*built[x], ds, cs, *cold));
        results.back().model = (*models)[x];
        built[x]->set_progress({});
      }
      std::vector<std::string> columns;
      for (size_t k : cold->ks) {
        columns.push_back(fmt::format("hr@{}", k));
        columns.push_back(fmt::format("ndcg@{}", k));
      }
      fmt::print("{}", eval::format_table(results, columns));
      if (!json_path->empty()) write_text(*json_path, eval::results_json(results, meta));
      return;
    }
    split->protocol = *protocol;
    const eval::Split sp = eval::split_events(ds, *split);
    log::info("split {}: {} train, {} validation, {} test events", *protocol, sp.train.size(),
              sp.validation.size(), sp.test.size());
    eval::EvalOptions eo;
    eo.ks = parse_ks(*ks);
    eo.on_validation = *validation;
    std::vector<eval::EvalResult> results;
    for (size_t x = 0; x < built.size(); ++x) {
      auto& m = built[x];
      Progress fit_bar(fmt::format("fit {}", (*models)[x]));
      m->set_progress(fit_bar.callback());
      Progress eval_bar(fmt::format("rank {}", (*models)[x]));
      results.push_back(eval::evaluate(*m, ds, sp, eo, load->empty(), eval_bar.callback()));
      results.back().model = (*models)[x];
      m->set_progress({});
    }
    fmt::print("{}", eval::format_table(results, ranking_columns(eo.ks, ds.explicit_ratings)));
    if (!json_path->empty()) write_text(*json_path, eval::results_json(results, meta));
  });
}

void add_replay_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "replay",
      "prequential replay: fit on the first part of time, then for each later event recommend "
      "first and learn after (test-then-train)");
  auto data = std::make_shared<DataOptions>();
  data->add_to(cmd);
  auto models = std::make_shared<std::vector<std::string>>(std::vector<std::string>{"popular"});
  auto modes = std::make_shared<std::vector<std::string>>(std::vector<std::string>{"online"});
  auto preq = std::make_shared<PrequentialCli>();
  auto json_path = std::make_shared<std::string>();
  preq->options.retrain_every = 86400;
  cmd->add_option("--model", *models, "model spec name[:key=value,...], repeatable")
      ->capture_default_str();
  cmd->add_option("--mode", *modes,
                  "online (learn every event), frozen (warm-up fit only), retrain (refit on "
                  "everything so far every --retrain-every seconds of event time); repeatable")
      ->check(CLI::IsMember({"online", "frozen", "retrain"}))
      ->capture_default_str();
  cmd->add_option("--retrain-every", preq->options.retrain_every,
                  "retrain mode: event-time seconds")
      ->capture_default_str();
  cmd->add_option("--speed", preq->options.speed,
                  "event-time seconds replayed per wall second (0 = as fast as possible)")
      ->capture_default_str();
  cmd->add_option("--k", preq->options.k, "cut-off")->capture_default_str();
  preq->add_to(cmd, "");
  cmd->add_option("--json", *json_path, "write results and curves as JSON");
  cmd->callback([=] {
    const data::Dataset ds = data->load();
    for (const auto& spec : *models) models::make_model(spec);  // bad specs fail before work
    std::vector<eval::PrequentialResult> results;
    for (size_t x = 0; x < models->size(); ++x)
      for (const auto& mode : *modes) {
        auto options = preq->options;
        options.learn = mode == "online";
        if (mode != "retrain") options.retrain_every = 0;
        auto model = models::make_model((*models)[x]);  // a fresh model per mode
        const std::string label = fmt::format("{} [{}]", (*models)[x], mode);
        Progress bar("replay " + label);
        results.push_back(eval::prequential(*model, ds, options, bar.callback()));
        results.back().model = label;
      }
    preq->write(results, run_meta(*data, ds, "prequential"), *json_path);
  });
}

void add_generate_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("generate", "write the synthetic stream as generic CSV");
  auto out = std::make_shared<std::string>();
  auto gen = std::make_shared<std::vector<std::string>>();
  cmd->add_option("--out", *out, "output directory (events.csv, items.csv, users.csv)")->required();
  cmd->add_option("--gen", *gen,
                  "generator key=value,...:\n" + data::GeneratorOptions::params().help());
  cmd->callback([=] {
    auto gp = data::GeneratorOptions::params();
    gp.set_from(*gen);
    const auto ds = data::generate(data::GeneratorOptions::from_params(gp));
    data::write_csv_dataset(ds, *out);
    fmt::print("wrote {} events, {} users, {} items to {}\n", ds.events.size(), ds.num_users(),
               ds.num_items(), *out);
  });
}

void add_import_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "import", "read a data set in any known format, preprocess it, write generic CSV");
  auto data = std::make_shared<DataOptions>();
  data->add_to(cmd);
  auto out = std::make_shared<std::string>();
  cmd->add_option("--out", *out, "output directory")->required();
  cmd->callback([=] {
    SR_INPUT_CHECK(!data->path.empty(), "import needs --data");
    const auto ds = data->load();
    data::write_csv_dataset(ds, *out);
    fmt::print("wrote {} events, {} users, {} items to {}\n", ds.events.size(), ds.num_users(),
               ds.num_items(), *out);
  });
}

void add_dist_train_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "dist-train",
      "fit dist-bpr data-parallel across MPI ranks (mpirun -np N streamrec dist-train ...: "
      "factors sharded by key, each rank sampling its share of every batch) and evaluate it "
      "on rank 0 with eval's protocol and metrics");
  auto data = std::make_shared<DataOptions>();
  data->add_to(cmd);
  auto spec = std::make_shared<std::string>("dist-bpr");
  auto protocol = std::make_shared<std::string>("loo");
  auto ks = std::make_shared<std::string>("10,20");
  auto json_path = std::make_shared<std::string>();
  auto split = std::make_shared<eval::SplitOptions>();
  cmd->add_option("--model", *spec,
                  "dist-bpr[:key=value,...]:\n" + dist::DistributedBpr::declare_params().help())
      ->capture_default_str();
  cmd->add_option("--protocol", *protocol, "loo | temporal | random")->capture_default_str();
  cmd->add_option("--k", *ks, "cut-offs, comma-separated")->capture_default_str();
  cmd->add_option("--json", *json_path, "rank 0 writes results as JSON to this file");
  cmd->add_option("--seed", split->seed, "random split seed")->capture_default_str();
  auto out = std::make_shared<std::string>();
  auto init = std::make_shared<std::string>();
  cmd->add_option("--out", *out,
                  "write the trained factors here: a sharded table checkpoint (a file per "
                  "rank + manifest) and the user and item ids");
  cmd->add_option("--init", *init,
                  "start from factors an earlier --out wrote (on any number of ranks; the "
                  "data must have the same users and items)");
  cmd->callback([=] {
    const auto colon = spec->find(':');
    SR_INPUT_CHECK(spec->substr(0, colon) == "dist-bpr",
                   "--model: dist-train fits dist-bpr, got {}", text::quote(*spec));
    auto params = dist::DistributedBpr::declare_params();
    if (colon != std::string::npos) params.set_from({spec->substr(colon + 1)});
    SR_INPUT_CHECK(*protocol == "loo" || *protocol == "temporal" || *protocol == "random",
                   "--protocol: dist-train takes loo, temporal or random, got {}",
                   text::quote(*protocol));
    const auto cut_offs = parse_ks(*ks);
    dist::Comm comm;
    // Every rank loads and splits the same data (deterministically), then trains its share.
    const data::Dataset ds = data->load();
    split->protocol = *protocol;
    const eval::Split sp = eval::split_events(ds, *split);
    dist::DistributedBpr model(comm, params);
    // Keys are dense indices: a checkpoint fits only data with the same ids in the same order.
    if (!init->empty()) {
      for (const auto& [name, ids] :
           {std::pair{"users.txt", &ds.users}, {"items.txt", &ds.items}}) {
        const auto path = (std::filesystem::path(*init) / name).string();
        std::ifstream in(path, std::ios::binary);
        SR_INPUT_CHECK(in.good(), "--init: cannot read '{}'", path);
        const std::string saved((std::istreambuf_iterator<char>(in)), {});
        SR_INPUT_CHECK(saved == id_lines(*ids),
                       "--init: '{}' lists other ids than this data set's (the factors' rows "
                       "would belong to other users or items)",
                       path);
      }
      model.init_from(*init);
    }
    if (comm.rank() == 0)
      log::info("dist-train: {} ranks; split {}: {} train, {} test events", comm.size(), *protocol,
                sp.train.size() + sp.validation.size(), sp.test.size());
    Progress bar(fmt::format("fit dist-bpr on {} ranks", comm.size()));
    if (comm.rank() == 0) model.set_progress(bar.callback());
    const auto t0 = std::chrono::steady_clock::now();
    model.fit(models::TrainData(ds.num_users(), ds.num_items(), sp.fit_for_test(), &ds));
    const double fit_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    model.set_progress({});
    if (!out->empty()) {
      if (comm.rank() == 0) {  // the ids first: the table's manifest, written last, completes it
        std::filesystem::create_directories(*out);
        write_text((std::filesystem::path(*out) / "users.txt").string(), id_lines(ds.users));
        write_text((std::filesystem::path(*out) / "items.txt").string(), id_lines(ds.items));
      }
      model.save_factors(*out);
    }
    if (comm.rank() != 0) return;
    eval::EvalOptions eo;
    eo.ks = cut_offs;
    auto result = eval::evaluate(model, ds, sp, eo, /*fit=*/false);
    result.model = fmt::format("dist-bpr x{} ranks", comm.size());
    result.fit_seconds = fit_seconds;
    fmt::print("{}", eval::format_table({result}, ranking_columns(eo.ks, false)));
    if (!json_path->empty()) {
      auto meta = run_meta(*data, ds, *protocol);
      meta.emplace_back("ranks", std::to_string(comm.size()));
      write_text(*json_path, eval::results_json({result}, meta));
    }
  });
}

// DIR/model.ckpt (the artifact, ids included) and DIR/manifest.json (`meta`, the file's
// size and CRC-32), the manifest last and atomically: when it exists, the artifact is whole.
void write_train_output(const std::string& out, const models::Recommender& model,
                        const data::Dataset& ds, nlohmann::json meta) {
  const std::filesystem::path dir(out);
  std::filesystem::create_directories(dir);
  const auto path = dir / models::kArtifactFile;
  models::write_artifact(path.string(), model.name() + ":" + model.params().summary(), model,
                         ds.users.ids(), ds.items.ids(), 0, meta.dump());
  std::ifstream in(path, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), {});
  meta["format"] = "streamrec-train";
  meta["version"] = 2;
  meta["files"] = {{models::kArtifactFile, {{"bytes", bytes.size()}, {"crc32", crc32(bytes)}}}};
  const auto tmp = dir / "manifest.json.tmp";
  write_text(tmp.string(), meta.dump(2) + "\n");
  std::filesystem::rename(tmp, dir / "manifest.json");
}

void add_train_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "train", "fit one model on a data set and write it as a model artifact with a manifest");
  auto data = std::make_shared<DataOptions>();
  data->add_to(cmd);
  auto spec = std::make_shared<std::string>("mf");
  auto out = std::make_shared<std::string>();
  auto holdout = std::make_shared<eval::SplitOptions>();
  holdout->protocol = "none";
  cmd->add_option("--model", *spec, "model spec name[:key=value,...]")->capture_default_str();
  cmd->add_option("--out", *out,
                  "output directory: model.ckpt (what serve --model-dir and eval --load read) "
                  "and manifest.json")
      ->required();
  cmd->add_option("--holdout", holdout->protocol,
                  "none (fit on every event) | loo | temporal | random: fit without the test "
                  "events of that split, so that eval --load measures it fairly")
      ->check(CLI::IsMember({"none", "loo", "temporal", "random"}))
      ->capture_default_str();
  cmd->add_option("--seed", holdout->seed, "random split seed")->capture_default_str();
  cmd->callback([=] {
    auto model = models::make_model(*spec);  // a bad spec fails before any work
    const auto ds = data->load();
    std::vector<data::Interaction> events = ds.events;
    if (holdout->protocol != "none") events = eval::split_events(ds, *holdout).fit_for_test();
    Progress bar(fmt::format("fit {}", *spec));
    model->set_progress(bar.callback());
    const auto t0 = std::chrono::steady_clock::now();
    model->fit(models::TrainData(ds.num_users(), ds.num_items(), std::move(events), &ds));
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    model->set_progress({});
    nlohmann::json meta = {{"model", model->name()},
                           {"params", model->params().summary()},
                           {"holdout", holdout->protocol},
                           {"seed", holdout->seed},
                           {"fit_seconds", seconds}};
    for (const auto& [k, v] : run_meta(*data, ds, "train")) meta[k] = v;
    if (const auto* seq = dynamic_cast<const models::SeqModel*>(model.get())) {
      const auto& r = seq->report();
      meta["fit"] = {{"epochs", r.epochs},
                     {"best_epoch", r.best_epoch},
                     {"validation_ndcg10", r.best_ndcg},
                     {"sequences_per_second", r.sequences_per_second}};
    }
    write_train_output(*out, *model, ds, meta);
    fmt::print("{} fitted in {:.1f} s on {} events; wrote {}\n", *spec, seconds, ds.events.size(),
               *out);
  });
}

void add_models_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("models", "list models and their parameters");
  cmd->callback([] {
    for (const auto& m : models::model_registry()) {
      fmt::print("{}: {}\n{}\n", m.name, m.description, m.params().help());
    }
  });
}

}  // namespace streamrec::cli
