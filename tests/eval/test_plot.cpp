// SVG charts and the HTML report of prequential runs.
#include <gtest/gtest.h>

#include <sstream>

#include "streamrec/data/csv.h"
#include "streamrec/eval/plot.h"
#include "streamrec/eval/report.h"

namespace streamrec::eval {
namespace {

size_t count(const std::string& s, const std::string& what) {
  size_t n = 0;
  for (size_t p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) ++n;
  return n;
}

TEST(Plot, OnePolylinePerSeriesWithEscapedNamesAndPointsInsideThePlot) {
  const std::vector<Series> series = {{"a<b & c", {0, 1, 2}, {0.1, 0.3, 0.2}},
                                      {"second", {0, 2}, {0.0, 0.05}}};
  const auto svg = svg_line_chart("t", "x", "y", series, 600, 300);
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
  EXPECT_EQ(count(svg, "<polyline"), 2u);
  EXPECT_NE(svg.find("a&lt;b &amp; c"), std::string::npos);
  EXPECT_EQ(svg.find("a<b"), std::string::npos);
  // Every polyline point lies inside the plotting area (64..450 x 34..254).
  for (size_t p = svg.find("points=\""); p != std::string::npos; p = svg.find("points=\"", p + 1)) {
    const auto end = svg.find('"', p + 8);
    std::istringstream pts(svg.substr(p + 8, end - p - 8));
    std::string pair;
    while (pts >> pair) {
      const double x = std::stod(pair.substr(0, pair.find(',')));
      const double y = std::stod(pair.substr(pair.find(',') + 1));
      EXPECT_GE(x, 64 - 1e-6);
      EXPECT_LE(x, 450 + 1e-6);
      EXPECT_GE(y, 34 - 1e-6);
      EXPECT_LE(y, 254 + 1e-6);
    }
  }
}

TEST(Plot, ReportHasTheTableAndBothCharts) {
  PrequentialResult r;
  r.model = "mf [online]";
  r.online = true;
  r.scored = 2000;
  r.hr = 0.25;
  r.ndcg = 0.125;
  r.curve = {{1000, 10, 0.2, 0.1}, {2000, 20, 0.3, 0.15}};
  const auto html = prequential_html({r}, 10, {{"data", "x"}});
  EXPECT_NE(html.find("<td>mf [online]</td><td>online</td>"), std::string::npos) << html;
  EXPECT_NE(html.find("0.2500"), std::string::npos);
  EXPECT_EQ(count(html, "<svg"), 2u);
}

TEST(Plot, CurveCsvQuotesModelSpecsWithCommas) {
  PrequentialResult r;
  r.model = "seq:maxlen=50,dim=64 [online]";
  r.curve = {{1000, 10, 0.2, 0.1}};
  const auto csv = prequential_csv({r});
  const auto line = csv.substr(csv.find('\n') + 1);
  std::vector<std::string> fields;
  ASSERT_TRUE(data::split_csv(line.substr(0, line.find('\n')), ',', fields));
  ASSERT_EQ(fields.size(), 5u) << csv;
  EXPECT_EQ(fields[0], r.model);
  EXPECT_EQ(fields[1], "1000");
}

}  // namespace
}  // namespace streamrec::eval
