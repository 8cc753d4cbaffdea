#include "streamrec/eval/report.h"

#include <algorithm>

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "streamrec/data/csv.h"
#include "streamrec/eval/metrics.h"
#include "streamrec/models/calibration.h"

namespace streamrec::eval {

std::string format_table(const std::vector<EvalResult>& results,
                         const std::vector<std::string>& columns) {
  size_t width = 10;
  for (const auto& r : results) width = std::max(width, r.model.size());
  std::string out = fmt::format("{:<{}}", "model", width);
  for (const auto& c : columns) out += fmt::format(" {:>12}", c);
  out += fmt::format(" {:>9} {:>9} {:>7}\n", "fit_s", "eval_s", "users");
  for (const auto& r : results) {
    out += fmt::format("{:<{}}", r.model, width);
    for (const auto& c : columns) {
      auto it = r.metrics.find(c);
      out += it == r.metrics.end() ? fmt::format(" {:>12}", "-")
                                   : fmt::format(" {:>12.4f}", it->second);
    }
    out += fmt::format(" {:>9.2f} {:>9.2f} {:>7}\n", r.fit_seconds, r.eval_seconds, r.users);
  }
  return out;
}

std::string format_prequential_table(const std::vector<PrequentialResult>& results, size_t k) {
  size_t w = 10;
  for (const auto& r : results) w = std::max(w, r.model.size());
  std::string out =
      fmt::format("{:<{}} {:>7} {:>8} {:>10} {:>10} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}\n",
                  "model", w, "mode", "retrains", "warmup", "scored", fmt::format("hr@{}", k),
                  fmt::format("ndcg@{}", k), "cold", "medium", "heavy", "fit_s", "replay_s");
  for (const auto& r : results)
    out += fmt::format(
        "{:<{}} {:>7} {:>8} {:>10} {:>10} {:>9.4f} {:>9.4f} {:>9.4f} {:>9.4f} {:>9.4f} {:>9.2f} "
        "{:>9.2f}\n",
        r.model, w,
        r.online     ? "online"
        : r.retrains ? "retrain"
                     : "frozen",
        r.retrains, r.warmup_events, r.scored, r.hr, r.ndcg, r.group_ndcg[0], r.group_ndcg[1],
        r.group_ndcg[2], r.fit_seconds, r.replay_seconds);
  return out;
}

std::string results_json(const std::vector<EvalResult>& results,
                         const std::vector<std::pair<std::string, std::string>>& meta) {
  nlohmann::json j;
  for (const auto& [k, v] : meta) j["run"][k] = v;
  j["results"] = nlohmann::json::array();
  for (const auto& r : results)
    j["results"].push_back({{"model", r.model},
                            {"params", r.params},
                            {"metrics", r.metrics},
                            {"fit_seconds", r.fit_seconds},
                            {"eval_seconds", r.eval_seconds},
                            {"users", r.users}});
  return j.dump(2);
}

namespace {

// {"cold": NDCG, "medium": ..., "heavy": ..., "gap": best - worst of the groups with events}
// (a group without scored events: null).
nlohmann::json by_activity(const PrequentialResult& r) {
  nlohmann::json j;
  GroupGap gap;
  for (size_t g = 0; g < 3; ++g) {
    j[models::kActivityGroups[g]] = r.group_scored[g] ? nlohmann::json(r.group_ndcg[g]) : nullptr;
    if (r.group_scored[g]) gap.add(r.group_ndcg[g]);
  }
  j["gap"] = gap.empty() ? nlohmann::json(nullptr) : nlohmann::json(gap.gap());
  return j;
}

}  // namespace

std::string prequential_json(const std::vector<PrequentialResult>& results,
                             const std::vector<std::pair<std::string, std::string>>& meta) {
  nlohmann::json j;
  for (const auto& [k, v] : meta) j["run"][k] = v;
  j["results"] = nlohmann::json::array();
  for (const auto& r : results) {
    nlohmann::json curve = nlohmann::json::array();
    for (const auto& p : r.curve)
      curve.push_back(
          {{"scored", p.scored}, {"timestamp", p.timestamp}, {"hr", p.hr}, {"ndcg", p.ndcg}});
    j["results"].push_back({{"model", r.model},
                            {"online", r.online},
                            {"retrains", r.retrains},
                            {"warmup_events", r.warmup_events},
                            {"scored", r.scored},
                            {"hr", r.hr},
                            {"ndcg", r.ndcg},
                            {"ndcg_by_activity", by_activity(r)},
                            {"fit_seconds", r.fit_seconds},
                            {"replay_seconds", r.replay_seconds},
                            {"curve", curve}});
  }
  return j.dump(2);
}

std::string prequential_csv(const std::vector<PrequentialResult>& results) {
  std::string out = "model,scored,timestamp,hr,ndcg\n";
  for (const auto& r : results)
    for (const auto& p : r.curve)
      out += fmt::format("{},{},{},{:.6f},{:.6f}\n", data::csv_quote(r.model), p.scored,
                         p.timestamp, p.hr, p.ndcg);
  return out;
}

}  // namespace streamrec::eval
