#include <algorithm>
#include <map>
#include <set>

#include "reports/html_internal.h"
#include "reports/report_text.h"

namespace gameday::html {
namespace {

constexpr const char* kPalette[] = {"#1a73e8", "#e8710a", "#9334e6",
                                    "#188038", "#d01884", "#12b5cb"};

std::string TrendWords(const TrendPoint& p) {
  if (p.time_to_recover_s) return FormatSecondsWithBound(*p.time_to_recover_s, p.recover_bound_s);
  if (!p.impact) return "no impact";
  return p.recovered ? "recovered (time n/a)" : "not recovered";
}

// "05-01 12:34" from a wall time, for axis labels.
std::string ShortTime(WallTime t) {
  std::string s = FormatRfc3339(t);
  if (s.size() < 16) return s;
  s = s.substr(5, 11);
  s[5] = ' ';
  return s;
}

}  // namespace

void Trend(std::string* out, const RunResult& run, const ExperimentResult& e,
           const RunHistory& history) {
  // verifier -> points, oldest first, with this run appended when the history lacks it.
  std::map<std::string, std::vector<TrendPoint>> series;
  if (auto it = history.recovery.find(e.name); it != history.recovery.end()) series = it->second;
  for (const auto& v : e.verifiers) {
    auto& pts = series[v.name];
    bool present = std::any_of(pts.begin(), pts.end(),
                               [&](const TrendPoint& p) { return p.run_id == run.run_id; });
    if (present) continue;
    TrendPoint p;
    p.run_id = run.run_id;
    p.started = run.start_wall;
    p.status = ExperimentStatusName(e.status);
    p.impact = v.overall.impact;
    p.recovered = v.overall.recovered;
    p.time_to_recover_s = v.overall.time_to_recover_s;
    p.recover_bound_s = v.overall.recover_bound_s;
    p.downtime_s = v.overall.downtime_s;
    pts.push_back(std::move(p));
  }
  // The run axis: every run any series holds, in order of start.
  std::vector<std::pair<WallTime, std::string>> runs;
  std::map<std::string, std::string> run_status;
  {
    std::set<std::string> seen;
    for (const auto& [name, pts] : series) {
      for (const auto& p : pts) {
        if (seen.insert(p.run_id).second) runs.emplace_back(p.started, p.run_id);
        run_status[p.run_id] = p.status;
      }
    }
    std::stable_sort(runs.begin(), runs.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
  }
  if (runs.size() < 2) {
    *out += "<h3>Trend</h3>\n";
    *out +=
        "<p class=\"neutral trend-none\">No earlier run of this experiment in the history.</p>\n";
    return;
  }
  *out += "<h3>Trend: recovery over the last " + std::to_string(runs.size()) + " runs</h3>\n";
  std::map<std::string, size_t> run_index;
  for (size_t i = 0; i < runs.size(); ++i) run_index[runs[i].second] = i;

  constexpr double kWidth = 1000, kLeft = 60, kRight = 20, kTop = 12, kPlot = 130;
  double scale = 0;
  for (const auto& [name, pts] : series) {
    for (const auto& p : pts) {
      if (p.time_to_recover_s) scale = std::max(scale, *p.time_to_recover_s);
      if (p.recover_bound_s) scale = std::max(scale, p.recover_bound_s->second);
    }
    if (auto b = RecoveryBudget(e, name)) scale = std::max(scale, *b);
  }
  if (!(scale > 0)) scale = 1;
  scale *= 1.1;
  const double plot_w = kWidth - kLeft - kRight;
  const double bottom = kTop + kPlot;
  auto X = [&](size_t i) { return kLeft + (static_cast<double>(i) + 0.5) / runs.size() * plot_w; };
  auto Y = [&](double t) { return bottom - std::clamp(t / scale, 0.0, 1.0) * kPlot; };

  *out += "<svg class=\"trend\" viewBox=\"0 0 " + Px(kWidth) + " " + Px(bottom + 34) +
          "\" role=\"img\" aria-label=\"recovery trend\">\n";
  // This run's column.
  if (auto it = run_index.find(run.run_id); it != run_index.end()) {
    const double w = plot_w / runs.size();
    *out += "<rect class=\"latbg\" x=\"" + Px(X(it->second) - w / 2) + "\" y=\"" + Px(kTop) +
            "\" width=\"" + Px(w) + "\" height=\"" + Px(kPlot) + "\"/>";
  }
  const double step = NiceStep(scale, 4);
  for (double t = 0; t <= scale + step * 1e-9; t += step) {
    *out += "<path class=\"grid\" d=\"M" + Px(kLeft) + " " + Px(Y(t)) + "H" + Px(kLeft + plot_w) +
            "\"/><text x=\"" + Px(kLeft - 6) + "\" y=\"" + Px(Y(t) + 4) +
            "\" text-anchor=\"end\">" + FormatCompact(t) + "</text>";
  }
  *out += "<text x=\"6\" y=\"" + Px(kTop + 4) + "\">s</text>\n";
  const size_t label_every = std::max<size_t>(1, (runs.size() + 9) / 10);
  for (size_t i = 0; i < runs.size(); ++i) {
    if (i % label_every != 0 && i + 1 != runs.size()) continue;
    const bool current = runs[i].second == run.run_id;
    *out += "<text x=\"" + Px(X(i)) + "\" y=\"" + Px(bottom + 14) + "\" text-anchor=\"middle\">";
    SvgTitle(out, runs[i].second + " (" + run_status[runs[i].second] + ")");
    Esc(out, current ? "this run" : ShortTime(runs[i].first));
    *out += "</text>";
  }
  *out += "\n";
  size_t color = 0;
  std::string legend;
  for (const auto& [name, pts] : series) {
    const char* c = kPalette[color++ % (sizeof(kPalette) / sizeof(kPalette[0]))];
    legend += std::string("<span><i style=\"background:") + c + "\"></i>";
    Esc(&legend, name);
    legend += "</span>";
    if (auto b = RecoveryBudget(e, name)) {
      *out += "<path class=\"budget\" d=\"M" + Px(kLeft) + " " + Px(Y(*b)) + "H" +
              Px(kLeft + plot_w) + "\">";
      SvgTitle(out, name + " budget " + FormatCompact(*b) + " s");
      *out += "</path>";
    }
    std::string line;
    for (const auto& p : pts) {
      if (!p.time_to_recover_s) continue;
      if (!line.empty()) line += ' ';
      line += Px(X(run_index[p.run_id])) + "," + Px(Y(*p.time_to_recover_s));
    }
    if (!line.empty()) {
      *out +=
          std::string("<polyline class=\"tline\" stroke=\"") + c + "\" points=\"" + line + "\"/>";
    }
    for (const auto& p : pts) {
      const double x = X(run_index[p.run_id]);
      const std::string hover = name + " in run " + p.run_id + " (" + FormatRfc3339(p.started) +
                                ", " + p.status + "): " + TrendWords(p);
      const bool current = p.run_id == run.run_id;
      if (p.time_to_recover_s) {
        if (p.recover_bound_s) {
          *out += std::string("<path stroke=\"") + c + "\" d=\"M" + Px(x) + " " +
                  Px(Y(p.recover_bound_s->first)) + "V" + Px(Y(p.recover_bound_s->second)) + "\"/>";
        }
        *out += std::string("<circle class=\"tpt\" fill=\"") + c + "\" cx=\"" + Px(x) + "\" cy=\"" +
                Px(Y(*p.time_to_recover_s)) + "\" r=\"" + (current ? "5" : "3.5") + "\">";
        SvgTitle(out, hover);
        *out += "</circle>";
        if (current) {
          *out += "<circle class=\"tcur\" cx=\"" + Px(x) + "\" cy=\"" +
                  Px(Y(*p.time_to_recover_s)) + "\" r=\"8\"/>";
        }
      } else if (p.impact) {
        // Never recovered: a cross at the top, above every time.
        const double y = kTop + 5;
        *out += "<path class=\"tmiss\" d=\"M" + Px(x - 4) + " " + Px(y - 4) + "l8 8m0 -8l-8 8\">";
        SvgTitle(out, hover);
        *out += "</path>";
      } else {
        *out += std::string("<circle fill=\"#fff\" stroke=\"") + c + "\" cx=\"" + Px(x) +
                "\" cy=\"" + Px(bottom - 3) + "\" r=\"3\">";
        SvgTitle(out, hover);
        *out += "</circle>";
      }
    }
    *out += "\n";
  }
  *out += "</svg>\n<div class=\"legend\">" + legend +
          "<span>\u2715 not recovered</span><span>\u25cb no impact</span><span>dashed: budget"
          "</span></div>\n";

  // The same numbers as a table, newest first.
  *out +=
      "<details class=\"trend-table\"><summary>Recovery per run</summary>\n<table><thead><tr>"
      "<th>Run</th><th>Started</th><th>Status</th>";
  for (const auto& [name, pts] : series) {
    *out += "<th>";
    Esc(out, name);
    *out += "</th>";
  }
  *out += "</tr></thead><tbody>\n";
  for (size_t i = runs.size(); i-- > 0;) {
    const std::string& id = runs[i].second;
    *out += id == run.run_id ? "<tr class=\"current\"><td><b>" : "<tr><td><b>";
    Esc(out, id);
    *out += "</b></td><td>";
    Esc(out, FormatRfc3339(runs[i].first));
    *out += "</td><td>";
    Esc(out, run_status[id]);
    *out += "</td>";
    for (const auto& [name, pts] : series) {
      auto p =
          std::find_if(pts.begin(), pts.end(), [&](const TrendPoint& x) { return x.run_id == id; });
      *out += "<td class=\"num\">";
      Esc(out, p == pts.end() ? std::string("\u2014") : TrendWords(*p));
      *out += "</td>";
    }
    *out += "</tr>\n";
  }
  *out += "</tbody></table></details>\n";
}

}  // namespace gameday::html
