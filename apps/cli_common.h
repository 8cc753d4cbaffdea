// Helpers the CLI's commands share: the data options every data-loading command takes,
// prequential options and outputs, cut-off lists, result metadata and small file writes.
#pragma once

#include <CLI/CLI.hpp>

#include <string>
#include <utility>
#include <vector>

#include "streamrec/core/id_map.h"
#include "streamrec/data/records.h"
#include "streamrec/eval/prequential.h"

namespace streamrec::cli {

// Options shared by every command that loads data.
struct DataOptions {
  std::string path;  // empty: generate the synthetic default
  std::string format = "auto";
  std::string on_error = "fail";
  std::vector<std::string> columns;
  std::vector<std::string> prep;
  std::vector<std::string> gen;

  void add_to(CLI::App* cmd);
  // The data set (read or generated), preprocessed; Error(kInvalidInput) when no event is
  // left.
  data::Dataset load() const;
};

// "10,20" -> {10, 20}; Error(kInvalidInput) naming the bad part.
std::vector<size_t> parse_ks(const std::string& s);
// The columns of a ranking evaluation's table: HR, NDCG and recall at each cut-off, MRR and
// coverage at the first, MAE and RMSE for rating data.
std::vector<std::string> ranking_columns(const std::vector<size_t>& ks, bool ratings);
// The dense ids a model's rows stand for, one per line in index order (`train --out`,
// `dist-train --out`/`--init`).
std::string id_lines(const IdMap& ids);
// For --model options: a value `@FILE` is replaced by the "model" spec of that JSON file (as
// `streamrec tune --json` writes it); CLI11 reports a missing or malformed file.
CLI::Validator model_spec_file();
// Writes `content` to `path`; Error(kIo) when it cannot.
void write_text(const std::string& path, const std::string& content);
// What a results file says about the run.
std::vector<std::pair<std::string, std::string>> run_meta(const DataOptions& data,
                                                          const data::Dataset& ds,
                                                          const std::string& protocol);

// Prequential options and outputs, shared by `eval --protocol prequential` and `replay`.
struct PrequentialCli {
  eval::PrequentialOptions options;
  std::string csv, report, plot;

  void add_to(CLI::App* cmd, const std::string& prefix);
  void write(const std::vector<eval::PrequentialResult>& results,
             const std::vector<std::pair<std::string, std::string>>& meta,
             const std::string& json) const;
};

}  // namespace streamrec::cli
