// Tables and JSON for evaluation results (the CLI prints them; library code does not).
#pragma once

#include <string>
#include <vector>

#include "streamrec/eval/evaluator.h"
#include "streamrec/eval/prequential.h"

namespace streamrec::eval {

// A fixed-width text table: one row per result, the given metric columns, fit seconds.
std::string format_table(const std::vector<EvalResult>& results,
                         const std::vector<std::string>& columns);
std::string format_prequential_table(const std::vector<PrequentialResult>& results, size_t k);

// JSON text (pretty-printed) of results plus free-form run metadata ("key" -> "value").
std::string results_json(const std::vector<EvalResult>& results,
                         const std::vector<std::pair<std::string, std::string>>& meta);
std::string prequential_json(const std::vector<PrequentialResult>& results,
                             const std::vector<std::pair<std::string, std::string>>& meta);
// CSV of the prequential curves: model,scored,timestamp,hr,ndcg.
std::string prequential_csv(const std::vector<PrequentialResult>& results);

}  // namespace streamrec::eval
