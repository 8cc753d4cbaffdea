#include "streamrec/train/fit_fresh.h"

#include <algorithm>

#include "streamrec/models/registry.h"

namespace streamrec::train {
namespace {

// Tests each held-out event before learning it; returns (hits, checks).
std::pair<double, uint64_t> test_then_train(models::Recommender& model,
                                            std::vector<std::vector<uint32_t>>& seen,
                                            const std::vector<data::Interaction>& holdout) {
  double hits = 0;
  uint64_t checks = 0;
  const size_t every = std::max<size_t>(1, holdout.size() / 300);
  std::vector<float> scores;
  for (size_t x = 0; x < holdout.size(); ++x) {
    const auto& e = holdout[x];
    auto& s = seen[e.user];
    std::sort(s.begin(), s.end());
    const bool repeat = std::binary_search(s.begin(), s.end(), e.item);
    if (x % every == 0 && !repeat && !s.empty() && e.item < model.num_items()) {
      scores.assign(model.num_items(), 0.0f);
      model.score_all(e.user, scores);
      for (const auto& t : models::top_k(scores, 10, s)) hits += t.item == e.item;
      ++checks;
    }
    if (!repeat) s.push_back(e.item);
    model.observe(e);
  }
  model.flush();
  return {hits, checks};
}

}  // namespace

FreshFit fit_fresh(const std::string& spec, uint32_t users, uint32_t items,
                   std::vector<data::Interaction> events, size_t holdout,
                   const std::function<void(models::Recommender&)>& prepare) {
  FreshFit out;
  out.model = models::make_model(spec);
  if (prepare) prepare(*out.model);
  std::stable_sort(events.begin(), events.end(),
                   [](const auto& a, const auto& b) { return a.timestamp < b.timestamp; });
  holdout = std::min(holdout, events.size());
  std::vector<data::Interaction> held(events.end() - holdout, events.end());
  events.resize(events.size() - holdout);
  std::vector<std::vector<uint32_t>> seen(users);
  for (const auto& e : events) seen[e.user].push_back(e.item);
  out.model->fit(models::TrainData(users, items, std::move(events)));
  if (held.empty()) return out;
  const auto [hits, checks] = test_then_train(*out.model, seen, held);
  out.holdout_checks = checks;
  out.holdout_hr10 = checks > 0 ? hits / checks : 0;
  return out;
}

}  // namespace streamrec::train
