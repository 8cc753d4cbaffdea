// What a recommendation request asks (RecommendRequest) and what it answers
// (Recommendation): plain values, shared by the engine and the API.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "streamrec/data/context.h"
#include "streamrec/serve/rerank.h"

namespace streamrec::serve {

struct Recommendation {
  std::string item;
  float score = 0;
  // "model", "itemcf" (next to the recent items), "popular" (cold-start fallback), "fresh"
  // (exploration), "similar", "trending"
  std::string source;
  // With explain: the user's recent items most like this one (by the model's item vectors).
  std::vector<std::string> because;
  // With explain: the parts of the ranking: the source's score ("model" or "popularity"),
  // "rank" (rank-scaled relevance among the candidates), "context" (weighted log-lift of
  // the item's categories under the request's context). Fresh items have none.
  std::vector<std::pair<std::string, float>> parts;
  // With explain, for the model's items when it has a self-attention encoder (seq): the
  // weight its last position gave each of the user's recent items (oldest first, summing to
  // 1; averaged over heads and blocks), which is why the user's encoding points where it
  // does. The same list for every model item of one answer (one encoding per user).
  std::vector<std::pair<std::string, float>> attention;
};

struct RecommendRequest {
  std::string user;
  size_t n = 10;
  bool exclude_seen = true;
  std::vector<std::string> exclude;  // item ids never to return
  bool explain = false;
  ItemFilter filter;     // categories, attribute predicates
  double diversity = 0;  // MMR weight, 0 (pure relevance) to 1
  // Fairness re-ranking (nullopt: the server's default): calibrate 0..1 (Steck's calibrated
  // lists: the list's category mix pulled toward the user's history; takes precedence over
  // diversity), max_category_share 0..1 (no category above that share of the list).
  std::optional<double> calibrate, max_category_share;
  double explore = 0;          // share of the n slots given to fresh items, 0 to 1
  data::Context context;       // device=tv, hour=20, ...
  bool exact = false;          // score every item even when the ANN index is in use
  std::optional<bool> ranker;  // order with the fusion ranker (default: the service option)
};

}  // namespace streamrec::serve
