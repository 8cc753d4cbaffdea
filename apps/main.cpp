// streamrec: the one CLI. Errors from any subcommand are caught here, once, and printed
// to stderr with a non-zero exit code.
#include <CLI/CLI.hpp>

#include <cstdio>

#include <fmt/format.h>

#include "commands.h"
#include "ranks.h"
#include "streamrec/core/error.h"
#include "streamrec/core/log.h"
#include "streamrec/core/parallel.h"
#include "streamrec/core/runtime_env.h"

int main(int argc, char** argv) {
  streamrec::configure_runtime(argc, argv);
  CLI::App app{"Streamrec: a real-time recommender engine"};
  app.require_subcommand(1);
  int threads = 0;
  bool verbose = false;
  app.add_option("--threads", threads, "worker threads (default: all cores)")
      ->check(CLI::NonNegativeNumber);
  app.add_flag("-v,--verbose", verbose, "debug logging");
  streamrec::cli::add_eval_command(app);
  streamrec::cli::add_replay_command(app);
  streamrec::cli::add_serve_command(app);
  streamrec::cli::add_generate_command(app);
  streamrec::cli::add_import_command(app);
  streamrec::cli::add_train_command(app);
  streamrec::cli::add_dist_train_command(app);
  streamrec::cli::add_models_command(app);
  streamrec::cli::add_metrics_command(app);
  streamrec::cli::add_tune_command(app);
  app.parse_complete_callback([&] {
    if (threads > 0) streamrec::set_num_threads(threads);
    if (verbose) streamrec::log::set_level(spdlog::level::debug);
  });
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const streamrec::Error& e) {
    fmt::print(stderr, "streamrec: {}: {}\n", streamrec::to_string(e.kind()), e.what());
    streamrec::cli::fail_job(2);
    return 2;
  } catch (const std::exception& e) {
    fmt::print(stderr, "streamrec: unexpected error: {}\n", e.what());
    streamrec::cli::fail_job(3);
    return 3;
  }
  return 0;
}
