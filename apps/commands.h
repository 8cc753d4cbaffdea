// The CLI's subcommands. Each registers its options on a CLI11 app and runs when chosen.
#pragma once

#include <CLI/CLI.hpp>

namespace streamrec::cli {

void add_eval_command(CLI::App& app);
void add_replay_command(CLI::App& app);
void add_serve_command(CLI::App& app);
void add_generate_command(CLI::App& app);
void add_import_command(CLI::App& app);
void add_train_command(CLI::App& app);
void add_dist_train_command(CLI::App& app);
void add_models_command(CLI::App& app);
void add_metrics_command(CLI::App& app);
void add_tune_command(CLI::App& app);

}  // namespace streamrec::cli
