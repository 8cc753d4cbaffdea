#include "cli_common.h"

#include <fstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "streamrec/core/error.h"
#include "streamrec/core/log.h"
#include "streamrec/core/parallel.h"
#include "streamrec/core/text.h"
#include "streamrec/data/generator.h"
#include "streamrec/data/preprocess.h"
#include "streamrec/data/reader.h"
#include "streamrec/eval/plot.h"
#include "streamrec/eval/report.h"

namespace streamrec::cli {

void DataOptions::add_to(CLI::App* cmd) {
  std::string formats;
  for (const auto& f : data::formats())
    formats += fmt::format("\n  {:<10} {}", f.name, f.description);
  cmd->add_option("--data", path, "data directory or file; omitted: the built-in synthetic stream");
  cmd->add_option("--format", format, "data format: auto or one of:" + formats);
  cmd->add_option("--on-error", on_error, "malformed rows: fail (default) or skip and count");
  cmd->add_option("--columns", columns,
                  "generic formats: field=column mapping, e.g. user=uid,item=sku");
  cmd->add_option("--prep", prep,
                  "preprocessing key=value,...:\n" + data::PreprocessOptions::params().help());
  cmd->add_option(
      "--gen", gen,
      "synthetic data key=value,... (without --data):\n" + data::GeneratorOptions::params().help());
}

data::Dataset DataOptions::load() const {
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

CLI::Validator model_spec_file() {
  return CLI::Validator(
      [](std::string& value) -> std::string {
        if (value.empty() || value[0] != '@') return {};
        const std::string path = value.substr(1);
        std::ifstream in(path);
        if (!in) return fmt::format("cannot read the model spec file '{}'", path);
        const auto j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
        if (j.is_discarded() || !j.is_object() || !j.contains("model") || !j["model"].is_string())
          return fmt::format("'{}' has no \"model\" spec (a file `streamrec tune --json` writes)",
                             path);
        value = j["model"].get<std::string>();
        return {};
      },
      "@FILE: the spec in a tune result");
}

void write_text(const std::string& path, const std::string& content) {
  std::ofstream out(path);
  SR_CHECK(out.good(), ErrorKind::kIo, "cannot write '{}'", path);
  out << content;
}

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

void PrequentialCli::add_to(CLI::App* cmd, const std::string& prefix) {
  cmd->add_option("--warmup", options.warmup_share, prefix + "share of time fitted first")
      ->capture_default_str();
  cmd->add_option("--window", options.window, prefix + "scored events per curve point")
      ->capture_default_str();
  cmd->add_option("--max-events", options.max_events, prefix + "stop after N scored events");
  cmd->add_option("--curve-csv", csv, prefix + "write the curves as CSV");
  cmd->add_option("--report", report, prefix + "write an HTML report (table + curves)");
  cmd->add_option("--plot", plot, prefix + "write the NDCG curves as an SVG chart");
}

void PrequentialCli::write(const std::vector<eval::PrequentialResult>& results,
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

}  // namespace streamrec::cli
