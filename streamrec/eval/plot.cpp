#include "streamrec/eval/plot.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

namespace streamrec::eval {
namespace {

const char* kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                         "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

std::string escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// About five round tick values covering [lo, hi].
std::vector<double> ticks(double lo, double hi) {
  const double span = hi > lo ? hi - lo : 1.0;
  const double raw = span / 5;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (raw <= m * mag) {
      step = m * mag;
      break;
    }
  std::vector<double> t;
  for (double v = std::ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) t.push_back(v);
  return t;
}

std::string tick_label(double v) {
  if (v != 0 && (std::abs(v) >= 1e5 || std::abs(v) < 1e-3)) return fmt::format("{:.2g}", v);
  return fmt::format("{:g}", std::round(v * 1e4) / 1e4);
}

}  // namespace

std::string svg_line_chart(const std::string& title, const std::string& x_label,
                           const std::string& y_label, const std::vector<Series>& series, int width,
                           int height) {
  const double left = 64, right = 150, top = 34, bottom = 46;
  const double pw = width - left - right, ph = height - top - bottom;
  double x0 = INFINITY, x1 = -INFINITY, y0 = 0, y1 = -INFINITY;
  for (const auto& s : series)
    for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
      x0 = std::min(x0, s.x[i]);
      x1 = std::max(x1, s.x[i]);
      y0 = std::min(y0, s.y[i]);
      y1 = std::max(y1, s.y[i]);
    }
  if (!std::isfinite(x0)) x0 = 0, x1 = 1;
  if (x1 <= x0) x1 = x0 + 1;
  if (!std::isfinite(y1) || y1 <= y0) y1 = y0 + 1;
  y1 *= 1.05;
  auto px = [&](double x) { return left + (x - x0) / (x1 - x0) * pw; };
  auto py = [&](double y) { return top + ph - (y - y0) / (y1 - y0) * ph; };

  std::string out = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" "
      "viewBox=\"0 0 {} {}\" font-family=\"sans-serif\" font-size=\"12\">\n"
      "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
      "<text x=\"{}\" y=\"20\" font-size=\"15\" font-weight=\"bold\">{}</text>\n",
      width, height, width, height, left, escape(title));
  for (double t : ticks(y0, y1)) {
    out += fmt::format(
        "<line x1=\"{:.1f}\" x2=\"{:.1f}\" y1=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"#e5e5e5\"/>"
        "<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"end\">{}</text>\n",
        left, left + pw, py(t), py(t), left - 6, py(t) + 4, tick_label(t));
  }
  for (double t : ticks(x0, x1)) {
    out += fmt::format(
        "<line x1=\"{:.1f}\" x2=\"{:.1f}\" y1=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"#999\"/>"
        "<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\">{}</text>\n",
        px(t), px(t), top + ph, top + ph + 5, px(t), top + ph + 18, tick_label(t));
  }
  out += fmt::format(
      "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#999\"/>\n"
      "<text x=\"{:.1f}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n"
      "<text transform=\"translate(16 {:.1f}) rotate(-90)\" text-anchor=\"middle\">{}</text>\n",
      left, top, pw, ph, left + pw / 2, height - 8, escape(x_label), top + ph / 2, escape(y_label));
  for (size_t k = 0; k < series.size(); ++k) {
    const auto& s = series[k];
    const char* color = kColors[k % std::size(kColors)];
    std::string points;
    for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i)
      points += fmt::format("{:.1f},{:.1f} ", px(s.x[i]), py(s.y[i]));
    out += fmt::format(
        "<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"1.6\" points=\"{}\"/>\n"
        "<line x1=\"{:.1f}\" x2=\"{:.1f}\" y1=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"{}\" "
        "stroke-width=\"3\"/><text x=\"{:.1f}\" y=\"{:.1f}\">{}</text>\n",
        color, points, left + pw + 10, left + pw + 28, top + 10 + 18 * k, top + 10 + 18 * k, color,
        left + pw + 34, top + 14 + 18 * k, escape(s.name));
  }
  out += "</svg>\n";
  return out;
}

std::string prequential_html(const std::vector<PrequentialResult>& results, size_t k,
                             const std::vector<std::pair<std::string, std::string>>& meta) {
  std::vector<Series> hr, ndcg;
  for (const auto& r : results) {
    Series h{r.model, {}, {}}, n{r.model, {}, {}};
    for (const auto& p : r.curve) {
      h.x.push_back(static_cast<double>(p.scored));
      h.y.push_back(p.hr);
      n.x.push_back(static_cast<double>(p.scored));
      n.y.push_back(p.ndcg);
    }
    hr.push_back(std::move(h));
    ndcg.push_back(std::move(n));
  }
  std::string out =
      "<!doctype html><html><head><meta charset=\"utf-8\"><title>Streamrec prequential "
      "report</title><style>body{font-family:sans-serif;margin:2rem}table{border-collapse:"
      "collapse}td,th{padding:.25rem .6rem;border-bottom:1px solid #ddd;text-align:right}"
      "td:first-child,th:first-child{text-align:left}</style></head><body>\n"
      "<h1>Prequential replay</h1>\n<p>";
  for (const auto& [key, value] : meta)
    out += fmt::format("{}: {} &nbsp; ", escape(key), escape(value));
  out += fmt::format(
      "</p>\n<table><tr><th>model</th><th>mode</th><th>retrains</th><th>warm-up events</th>"
      "<th>scored</th><th>HR@{}</th><th>NDCG@{}</th><th>fit s</th><th>replay s</th></tr>\n",
      k, k);
  for (const auto& r : results)
    out += fmt::format(
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.4f}</td>"
        "<td>{:.4f}</td><td>{:.1f}</td><td>{:.1f}</td></tr>\n",
        escape(r.model),
        r.online     ? "online"
        : r.retrains ? "retrain"
                     : "frozen",
        r.retrains, r.warmup_events, r.scored, r.hr, r.ndcg, r.fit_seconds, r.replay_seconds);
  out += "</table>\n";
  out += svg_line_chart(fmt::format("HR@{} per window", k), "scored events", "HR", hr);
  out += svg_line_chart(fmt::format("NDCG@{} per window", k), "scored events", "NDCG", ndcg);
  out += "</body></html>\n";
  return out;
}

}  // namespace streamrec::eval
