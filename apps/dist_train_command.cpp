// `streamrec dist-train`: BPR factors sharded across MPI ranks, evaluated on rank 0.
#include "commands.h"

#include <filesystem>
#include <fstream>
#include <memory>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli_common.h"
#include "progress.h"
#include "streamrec/core/error.h"
#include "streamrec/core/log.h"
#include "streamrec/core/serialize.h"
#include "streamrec/core/text.h"
#include "streamrec/dist/bpr.h"
#include "streamrec/dist/comm.h"
#include "streamrec/eval/evaluator.h"
#include "streamrec/eval/report.h"
#include "streamrec/eval/split.h"

namespace streamrec::cli {

namespace {

// Keys are dense indices: a checkpoint fits only data with the same ids in the same order.
void check_same_ids(const std::string& dir, const data::Dataset& ds) {
  for (const auto& [name, ids] : {std::pair{"users.txt", &ds.users}, {"items.txt", &ds.items}}) {
    const auto path = (std::filesystem::path(dir) / name).string();
    std::ifstream in(path, std::ios::binary);
    SR_INPUT_CHECK(in.good(), "--init: cannot read '{}'", path);
    const std::string saved((std::istreambuf_iterator<char>(in)), {});
    SR_INPUT_CHECK(saved == id_lines(*ids),
                   "--init: '{}' lists other ids than this data set's (the factors' rows "
                   "would belong to other users or items)",
                   path);
  }
}

// Rank 0: the evaluation of the fitted model and its outputs.
void report(dist::DistributedBpr& model, const dist::Comm& comm, const data::Dataset& ds,
            const eval::Split& sp, const std::vector<size_t>& ks, double fit_seconds,
            const std::vector<std::pair<std::string, std::string>>& meta, const std::string& json) {
  eval::EvalOptions eo;
  eo.ks = ks;
  auto result = eval::evaluate(model, ds, sp, eo, /*fit=*/false);
  result.model = fmt::format("dist-bpr x{} ranks", comm.size());
  result.fit_seconds = fit_seconds;
  fmt::print("{}", eval::format_table({result}, ranking_columns(eo.ks, false)));
  if (!json.empty()) write_text(json, eval::results_json({result}, meta));
}

}  // namespace

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
    if (!init->empty()) {
      check_same_ids(*init, ds);
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
    auto meta = run_meta(*data, ds, *protocol);
    meta.emplace_back("ranks", std::to_string(comm.size()));
    report(model, comm, ds, sp, cut_offs, fit_seconds, meta, *json_path);
  });
}

}  // namespace streamrec::cli
