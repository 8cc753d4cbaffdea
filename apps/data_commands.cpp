// `streamrec generate` and `streamrec import`: write a generated or imported data set as generic
// CSV.
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
#include "streamrec/data/dataset_io.h"
#include "streamrec/data/generator.h"
#include "streamrec/data/reader.h"

namespace streamrec::cli {

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

}  // namespace streamrec::cli
