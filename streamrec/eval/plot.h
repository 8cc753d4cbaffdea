// Offline results as pictures: line charts written as standalone SVG, and an HTML report
// (results table + charts) for prequential runs. No external assets.
#pragma once

#include <string>
#include <vector>

#include "streamrec/eval/prequential.h"

namespace streamrec::eval {

struct Series {
  std::string name;
  std::vector<double> x, y;
};

// A line chart (width x height px) with axes, ticks, one polyline per series and a legend.
std::string svg_line_chart(const std::string& title, const std::string& x_label,
                           const std::string& y_label, const std::vector<Series>& series,
                           int width = 720, int height = 360);

// An HTML page: the run's metadata, the results table and SVG charts of the HR@k and
// NDCG@k curves over scored events.
std::string prequential_html(const std::vector<PrequentialResult>& results, size_t k,
                             const std::vector<std::pair<std::string, std::string>>& meta);

}  // namespace streamrec::eval
