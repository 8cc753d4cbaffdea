// `streamrec train`: fit one model and write the model artifact with a manifest.
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
#include "streamrec/core/serialize.h"
#include "streamrec/eval/split.h"
#include "streamrec/models/artifact.h"
#include "streamrec/models/privacy.h"
#include "streamrec/models/registry.h"
#include "streamrec/models/seq.h"

namespace streamrec::cli {

namespace {

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

}  // namespace

void add_train_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "train", "fit one model on a data set and write it as a model artifact with a manifest");
  auto data = std::make_shared<DataOptions>();
  data->add_to(cmd);
  auto spec = std::make_shared<std::string>("mf");
  auto out = std::make_shared<std::string>();
  auto holdout = std::make_shared<eval::SplitOptions>();
  holdout->protocol = "none";
  cmd->add_option("--model", *spec, "model spec name[:key=value,...], or @FILE (tune's result)")
      ->transform(model_spec_file())
      ->capture_default_str();
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
    Ranks ranks;  // under mpirun: every rank fits its share, rank 0 writes
    ranks.attach(*model, *spec);
    const auto ds = data->load();
    std::vector<data::Interaction> events = ds.events;
    if (holdout->protocol != "none") events = eval::split_events(ds, *holdout).fit_for_test();
    Progress bar(fmt::format("fit {}{}", *spec,
                             ranks.active() ? fmt::format(" on {} ranks", ranks.size()) : ""));
    if (ranks.root()) model->set_progress(bar.callback());
    const auto t0 = std::chrono::steady_clock::now();
    model->fit(models::TrainData(ds.num_users(), ds.num_items(), std::move(events), &ds));
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    model->set_progress({});
    const auto traffic = ranks.report(seconds);
    if (!ranks.root()) return;
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
                     {"final_epochs", r.final_epochs},
                     // (none for a DP or federated fit: it selects no epoch)
                     {"validation_ndcg10",
                      r.best_ndcg >= 0 ? nlohmann::json(r.best_ndcg) : nlohmann::json(nullptr)},
                     {"sequences_per_second", r.sequences_per_second}};
    }
    if (ranks.active())
      meta["ranks"] = {{"ranks", ranks.size()},
                       {"steps", traffic.steps},
                       {"rank0_row_bytes", traffic.row_bytes},
                       {"rank0_gradient_bytes", traffic.gradient_bytes},
                       {"rank0_reduce_bytes", traffic.reduce_bytes},
                       {"rank0_comm_seconds", traffic.comm_seconds}};
    if (const auto* p = model->privacy())
      for (const auto& [name, value] : p->fields()) meta["privacy"][name] = value;
    write_train_output(*out, *model, ds, meta);
    fmt::print("{} fitted in {:.1f} s on {} events; wrote {}\n", *spec, seconds, ds.events.size(),
               *out);
  });
}

}  // namespace streamrec::cli
