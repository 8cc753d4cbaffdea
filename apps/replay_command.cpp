// `streamrec replay`: prequential (test-then-train) replay of a data set.
#include "commands.h"

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
#include "streamrec/eval/prequential.h"
#include "streamrec/models/registry.h"

namespace streamrec::cli {

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
  cmd->add_option("--model", *models,
                  "model spec name[:key=value,...], repeatable, or @FILE (tune's result)")
      ->transform(model_spec_file())
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
    // Under mpirun every rank replays the same events: the fits and the online steps run
    // data-parallel, rank 0 alone scores, prints and writes.
    Ranks ranks;
    const data::Dataset ds = data->load();
    for (const auto& spec : *models) models::make_model(spec);  // bad specs fail before work
    std::vector<eval::PrequentialResult> results;
    for (size_t x = 0; x < models->size(); ++x)
      for (const auto& mode : *modes) {
        auto options = preq->options;
        options.learn = mode == "online";
        options.score = ranks.root();
        if (mode != "retrain") options.retrain_every = 0;
        auto model = models::make_model((*models)[x]);  // a fresh model per mode
        ranks.attach(*model, (*models)[x]);
        const std::string label =
            ranks.active() ? fmt::format("{} [{}] x{} ranks", (*models)[x], mode, ranks.size())
                           : fmt::format("{} [{}]", (*models)[x], mode);
        Progress bar("replay " + label);
        results.push_back(
            eval::prequential(*model, ds, options, ranks.root() ? bar.callback() : nullptr));
        results.back().model = label;
        ranks.report(results.back().fit_seconds + results.back().replay_seconds);
      }
    if (ranks.root()) preq->write(results, run_meta(*data, ds, "prequential"), *json_path);
  });
}

}  // namespace streamrec::cli
