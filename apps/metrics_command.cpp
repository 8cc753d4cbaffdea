// `streamrec metrics`: the server's metrics with their help texts, from the one table
// (engine/metrics.h); --openapi prints the schemas docs/openapi.yaml holds.
#include <fmt/format.h>

#include "commands.h"
#include "streamrec/engine/metrics.h"

namespace streamrec::cli {

void add_metrics_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("metrics", "list the server's metrics (/v1/stats, /metrics)");
  auto openapi = std::make_shared<bool>(false);
  cmd->add_flag("--openapi", *openapi, "print the OpenAPI schemas of /v1/stats and its history");
  cmd->callback([openapi] {
    if (*openapi) {
      fmt::print("{}", engine::openapi_schemas());
      return;
    }
    for (const auto& m : engine::metrics())
      fmt::print("{:<20} {:<40} {}\n", m.key, m.prometheus ? m.prometheus : "-", m.help);
  });
}

}  // namespace streamrec::cli
