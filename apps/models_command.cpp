// `streamrec models`: the model registry with each model's parameters.
#include "commands.h"

#include <filesystem>
#include <fstream>
#include <memory>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli_common.h"
#include "progress.h"
#include "streamrec/models/registry.h"

namespace streamrec::cli {

void add_models_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("models", "list models and their parameters");
  cmd->callback([] {
    for (const auto& m : models::model_registry()) {
      fmt::print("{}: {}\n{}\n", m.name, m.description, m.params().help());
    }
  });
}

}  // namespace streamrec::cli
