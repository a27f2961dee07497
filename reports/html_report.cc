#include "reports/html_report.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>

#include "reports/report_text.h"

namespace gameday {
namespace {

// ---------------------------------------------------------------------------------------------
// Small builders

// Appends escaped text; every string from the result goes through here or Attr().
void Esc(std::string* out, std::string_view s) { AppendMarkupEscaped(out, s); }

void Attr(std::string* out, const char* name, std::string_view value) {
  *out += ' ';
  *out += name;
  *out += "=\"";
  AppendMarkupEscaped(out, value, /*attribute=*/true);
  *out += '"';
}

// SVG coordinates: a tenth of a pixel is plenty and keeps the file small.
std::string Px(double v) {
  std::string s = FormatFixed(v, 1);
  if (s.size() > 2 && s.compare(s.size() - 2, 2, ".0") == 0) s.resize(s.size() - 2);
  return s;
}

std::string Secs(double t) { return FormatFixed(t, 3) + " s"; }

// Cuts `s` to at most `n` code points, marking the cut, so labels fit their gutter.
std::string Truncate(std::string_view s, size_t n) {
  size_t count = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) continue;
    if (count == n) return std::string(s.substr(0, i)) + "\u2026";
    ++count;
  }
  return std::string(s);
}

const char* VerdictWord(ExperimentStatus s) {
  switch (s) {
    case ExperimentStatus::kPassed:
      return "PASSED";
    case ExperimentStatus::kFailed:
      return "FAILED";
    case ExperimentStatus::kAborted:
      return "ABORTED";
    case ExperimentStatus::kError:
      return "ERROR";
  }
  return "ERROR";
}

std::string DetectText(const RecoveryMetrics& m) {
  if (m.time_to_detect_s) return FormatSecondsWithBound(*m.time_to_detect_s, m.detect_bound_s);
  return m.impact ? "impact (time n/a)" : "no impact";
}

std::string RecoverText(const RecoveryMetrics& m) {
  if (m.time_to_recover_s) return FormatSecondsWithBound(*m.time_to_recover_s, m.recover_bound_s);
  if (!m.impact) return "no impact";
  return m.recovered ? "recovered (time n/a)" : "not recovered";
}

// A measured value or limit in the unit its objective type uses.
std::string ObjectiveValue(const std::string& type, const std::optional<double>& v) {
  if (!v) return "\u2014";
  if (type == "min_availability") return FormatPercent(*v);
  if (type == "recover_within" || type == "max_downtime" || type == "must_detect" ||
      type == "expect_no_impact") {
    return FormatSeconds(*v);
  }
  return FormatCompact(*v);
}

// ---------------------------------------------------------------------------------------------
// Page frame

constexpr char kStyle[] = R"css(
:root{--pass:#1e8e3e;--fail:#d93025;--unk:#9aa0a6;--warn:#e37400;--fault:#f9ab00;--lat:#1a73e8;
--ink:#202124;--muted:#5f6368;--line:#dadce0;--bg:#fff;--panel:#f8f9fa}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;
color:var(--ink);background:var(--bg)}
header.run,main,footer{max-width:1200px;margin:0 auto;padding:16px 24px}
header.run{border-bottom:1px solid var(--line)}
h1{font-size:20px;margin:0 0 8px}h2{font-size:18px;margin:0}h3{font-size:15px;margin:20px 0 6px}
.verdict{display:inline-block;font-weight:700;letter-spacing:.04em;border-radius:6px;color:#fff;
padding:2px 10px}
#run-verdict{font-size:40px;padding:4px 20px;margin:4px 0 12px}
.passed{background:var(--pass)}.failed{background:var(--fail)}
.aborted{background:var(--warn)}.error{background:#7b1fa2}
.dry{display:inline-block;margin-left:12px;padding:2px 8px;border:2px dashed var(--warn);
color:var(--warn);font-weight:700}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:2px 16px;margin:0}
dl.facts dt{color:var(--muted)}dl.facts dd{margin:0;overflow-wrap:anywhere}
table{border-collapse:collapse;width:100%;margin:4px 0 8px;font-size:13px}
th,td{border-bottom:1px solid var(--line);padding:4px 8px;text-align:left;vertical-align:top}
th{background:var(--panel);font-weight:600}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tr.sub td:first-child{padding-left:24px;color:var(--muted)}
.ok{color:var(--pass);font-weight:600}.bad{color:var(--fail);font-weight:600}
.neutral{color:var(--muted)}
section.experiment{border:1px solid var(--line);border-radius:8px;padding:12px 16px;margin:16px 0}
.experiment-head{display:flex;align-items:center;gap:12px;flex-wrap:wrap}
.desc{color:var(--muted);margin:4px 0}
.label{display:inline-block;background:var(--panel);border:1px solid var(--line);
border-radius:10px;padding:0 8px;margin:2px 4px 2px 0;font-size:12px}
ul.reasons{margin:6px 0;padding-left:20px}li.failure-reason{color:var(--fail)}
.all-good{color:var(--pass)}
svg.timeline{width:100%;height:auto;display:block;border:1px solid var(--line);border-radius:4px}
svg text{font:11px system-ui,sans-serif;fill:var(--ink)}
svg .axis{stroke:var(--muted);stroke-width:1}
svg .grid{stroke:var(--line);stroke-width:1}
svg .pass{fill:var(--pass)}svg .fail{fill:var(--fail)}svg .unk{fill:var(--unk)}
svg .window{fill:var(--fault);fill-opacity:.16}
svg .fbar{fill:var(--fault)}svg .fbar.bad{fill:var(--fail)}
svg .inject{stroke:var(--warn);stroke-width:1.2;stroke-dasharray:4 3}
svg .lat{fill:none;stroke:var(--lat);stroke-width:1.2}
svg .latbg{fill:var(--panel);fill-opacity:.55}
svg .detect{fill:var(--fail)}svg .recover{fill:#fff;stroke:var(--pass);stroke-width:2}
svg .ebar{stroke:var(--ink);stroke-width:1.5}
svg .event{stroke:var(--muted);stroke-width:1.5}
.legend{font-size:12px;color:var(--muted);margin:4px 0}
.legend span{display:inline-block;margin-right:14px}
.legend i{display:inline-block;width:10px;height:10px;margin-right:4px;vertical-align:-1px}
details{margin:6px 0}summary{cursor:pointer;color:var(--muted)}
footer{color:var(--muted);font-size:12px}
@media print{
body{font-size:10pt}header.run,main,footer{max-width:none;padding:0}
section.experiment{break-inside:auto;border:none;padding:0}
section.experiment+section.experiment{break-before:page}
table,svg.timeline,tr{break-inside:avoid}
.verdict,svg,.label,th{-webkit-print-color-adjust:exact;print-color-adjust:exact}
@page{margin:12mm}}
)css";

void Head(std::string* out, const RunResult& run) {
  *out += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  *out += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
  *out += "<meta name=\"generator\"";
  Attr(out, "content", "gameday " + run.gameday_version);
  *out += ">\n<title>";
  Esc(out, std::string(VerdictWord(RunStatus(run))) + " \u2014 gameday run " + run.run_id +
               (run.plan_name.empty() ? "" : " (" + run.plan_name + ")"));
  *out += "</title>\n<style>";
  *out += kStyle;
  *out += "</style>\n</head>\n<body>\n";
}

void Fact(std::string* out, const char* name, std::string_view value) {
  *out += "<dt>";
  *out += name;
  *out += "</dt><dd>";
  Esc(out, value);
  *out += "</dd>";
}

void RunHeader(std::string* out, const RunResult& run) {
  ExperimentStatus status = RunStatus(run);
  *out += "<header class=\"run\">\n<h1>gameday run";
  if (!run.plan_name.empty()) {
    *out += ": ";
    Esc(out, run.plan_name);
  }
  *out += "</h1>\n<div id=\"run-verdict\" class=\"verdict ";
  *out += ExperimentStatusName(status);
  *out += "\"";
  Attr(out, "data-status", ExperimentStatusName(status));
  *out += ">";
  *out += VerdictWord(status);
  *out += "</div>";
  if (run.dry_run) *out += "<span class=\"dry\">DRY RUN \u2014 nothing was injected</span>";
  *out += "\n<dl class=\"facts\">";
  Fact(out, "Run", run.run_id);
  Fact(out, "Plan", run.plan_name);
  Fact(out, "Plan file", run.plan_file);
  Fact(out, "Seed", std::to_string(run.seed));
  Fact(out, "Started", FormatRfc3339(run.start_wall));
  Fact(out, "Ended", FormatRfc3339(run.end_wall));
  Fact(out, "Duration", FormatSeconds(ToSeconds(run.end_wall - run.start_wall)));
  Fact(out, "gameday", run.gameday_version);
  *out += "</dl>\n</header>\n";
}

void RunSummary(std::string* out, const RunResult& run) {
  *out +=
      "<h3>Experiments</h3>\n<table class=\"summary\"><thead><tr><th>Experiment</th>"
      "<th>Verdict</th><th>Objectives held</th><th>Faults</th><th>Slowest recovery</th>"
      "</tr></thead><tbody>\n";
  for (size_t i = 0; i < run.experiments.size(); ++i) {
    const ExperimentResult& e = run.experiments[i];
    size_t held = std::count_if(e.objectives.begin(), e.objectives.end(),
                                [](const ObjectiveResult& o) { return o.passed; });
    std::string slowest = "\u2014";
    double worst = -1;
    for (const auto& v : e.verifiers) {
      if (v.overall.impact && !v.overall.time_to_recover_s) {
        slowest = "not recovered (" + v.name + ")";
        worst = INFINITY;
      } else if (v.overall.time_to_recover_s && *v.overall.time_to_recover_s > worst) {
        worst = *v.overall.time_to_recover_s;
        slowest = FormatSeconds(worst) + " (" + v.name + ")";
      }
    }
    *out += "<tr><td><a href=\"#exp-" + std::to_string(i) + "\">";
    Esc(out, e.name);
    *out += "</a></td><td><span class=\"verdict ";
    *out += ExperimentStatusName(e.status);
    *out += "\">";
    *out += VerdictWord(e.status);
    *out += "</span></td><td class=\"num\">" + std::to_string(held) + " / " +
            std::to_string(e.objectives.size()) + "</td><td class=\"num\">" +
            std::to_string(e.faults.size()) + "</td><td>";
    Esc(out, slowest);
    *out += "</td></tr>\n";
  }
  *out += "</tbody></table>\n";
}

// ---------------------------------------------------------------------------------------------
// Timeline (inline SVG)

constexpr double kSvgWidth = 1000;
constexpr double kGutter = 170;  // labels on the left
constexpr double kRightPad = 14;
constexpr double kPlotWidth = kSvgWidth - kGutter - kRightPad;
constexpr int kBuckets = static_cast<int>(kPlotWidth);  // one bucket per pixel
constexpr double kFaultRow = 14, kBand = 16, kLatency = 34, kEventRow = 14, kGap = 6;

struct Axis {
  double t0 = 0, t1 = 1;
  double X(double t) const {
    double f = (t - t0) / (t1 - t0);
    return kGutter + std::clamp(f, 0.0, 1.0) * kPlotWidth;
  }
  int Bucket(double t) const {
    int b = static_cast<int>(std::floor((t - t0) / (t1 - t0) * kBuckets));
    return std::clamp(b, 0, kBuckets - 1);
  }
  double BucketStart(int b) const { return t0 + (t1 - t0) * b / kBuckets; }
};

Axis MakeAxis(const ExperimentResult& e) {
  double lo = 0, hi = std::max(0.0, e.duration_s);
  auto widen = [&](double t) {
    if (!std::isfinite(t)) return;
    lo = std::min(lo, t);
    hi = std::max(hi, t);
  };
  for (const auto& f : e.faults) {
    widen(f.t_inject);
    if (f.t_revert) widen(*f.t_revert);
  }
  for (const auto& v : e.verifiers) {
    if (v.samples.empty()) continue;
    widen(v.samples.front().t_send);
    widen(v.samples.back().t_done);
  }
  for (const auto& ev : e.events) widen(ev.t);
  if (hi - lo < 1e-6) hi = lo + 1;
  return Axis{lo, hi};
}

// 1, 2 or 5 times a power of ten, giving about eight ticks.
double TickStep(double span) {
  double raw = span / 8;
  double p = std::pow(10, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    if (raw <= m * p) return m * p;
  }
  return 10 * p;
}

void SvgTitle(std::string* out, std::string_view text) {
  *out += "<title>";
  Esc(out, text);
  *out += "</title>";
}

void SvgLabel(std::string* out, double y, std::string_view text, std::string_view hover) {
  *out += "<text x=\"6\" y=\"" + Px(y) + "\">";
  SvgTitle(out, hover);
  Esc(out, Truncate(text, 26));
  *out += "</text>\n";
}

void FaultRows(std::string* out, const ExperimentResult& e, const Axis& ax, double* y) {
  for (const auto& f : e.faults) {
    std::string hover = f.id + ": " + f.kind + " on " + f.target + ", injected at " +
                        Secs(f.t_inject) +
                        (f.t_revert ? ", reverted at " + Secs(*f.t_revert) : std::string()) + ", " +
                        f.revert_status + (f.error.empty() ? "" : " \u2014 " + f.error);
    SvgLabel(out, *y + kFaultRow - 3, f.kind + " " + f.target, hover);
    double x0 = ax.X(f.t_inject);
    double x1 = f.t_revert ? std::max(ax.X(*f.t_revert), x0 + 2) : x0 + 3;
    *out += "<rect class=\"fbar";
    if (f.revert_status == "failed" || f.revert_status == "not-injected") *out += " bad";
    *out += "\" x=\"" + Px(x0) + "\" y=\"" + Px(*y + 2) + "\" width=\"" + Px(x1 - x0) +
            "\" height=\"" + Px(kFaultRow - 4) + "\">";
    SvgTitle(out, hover);
    *out += "</rect>\n";
    *y += kFaultRow;
  }
}

// Health per pixel column: a bucket is failing if any sample covering it failed (so a short
// outage never disappears in the aggregation), else passing if any passed, else unknown.
struct HealthBuckets {
  std::vector<uint8_t> mask = std::vector<uint8_t>(kBuckets, 0);  // bit per Health value
  std::vector<std::array<uint32_t, 3>> counts =
      std::vector<std::array<uint32_t, 3>>(kBuckets, {0, 0, 0});
  std::vector<double> max_latency = std::vector<double>(kBuckets, -1);
};

int HealthIndex(Health h) {
  switch (h) {
    case Health::kHealthy:
      return 0;
    case Health::kUnhealthy:
      return 1;
    case Health::kUnknown:
      return 2;
  }
  return 2;
}

HealthBuckets Aggregate(const VerifierResult& v, const Axis& ax) {
  HealthBuckets hb;
  const auto& s = v.samples;
  for (size_t i = 0; i < s.size(); ++i) {
    int h = HealthIndex(s[i].health);
    int b = ax.Bucket(s[i].t_send);
    hb.counts[b][h]++;
    hb.max_latency[b] = std::max(hb.max_latency[b], s[i].latency_ms);
    // A sample stands for the time until the next one is sent (at most one interval or its own
    // duration), so sparse probes still draw a continuous band.
    double end = s[i].t_send + std::max(v.interval_s, s[i].t_done - s[i].t_send);
    if (i + 1 < s.size() && s[i + 1].t_send > s[i].t_send) end = std::min(end, s[i + 1].t_send);
    int be = std::max(b, ax.Bucket(end - 1e-9));
    for (int k = b; k <= be; ++k) hb.mask[k] |= static_cast<uint8_t>(1 << h);
  }
  return hb;
}

int BucketState(uint8_t mask) {
  if (mask & 2) return 1;  // failing
  if (mask & 1) return 0;  // passing
  if (mask & 4) return 2;  // unknown
  return -1;               // no sample
}

void HealthBand(std::string* out, const HealthBuckets& hb, const Axis& ax, double y) {
  static const char* kClass[] = {"pass", "fail", "unk"};
  int b = 0;
  while (b < kBuckets) {
    int state = BucketState(hb.mask[b]);
    int e = b;
    std::array<uint64_t, 3> n{0, 0, 0};
    while (e < kBuckets && BucketState(hb.mask[e]) == state) {
      for (int k = 0; k < 3; ++k) n[k] += hb.counts[e][k];
      ++e;
    }
    if (state >= 0) {
      *out += "<rect class=\"";
      *out += kClass[state];
      *out += "\" x=\"" + Px(kGutter + b) + "\" y=\"" + Px(y) + "\" width=\"" +
              std::to_string(e - b) + "\" height=\"" + Px(kBand) + "\">";
      SvgTitle(out, Secs(ax.BucketStart(b)) + " \u2013 " + Secs(ax.BucketStart(e)) + ": " +
                        std::to_string(n[0]) + " passing, " + std::to_string(n[1]) + " failing, " +
                        std::to_string(n[2]) + " unknown");
      *out += "</rect>";
    }
    b = e;
  }
  *out += "\n";
}

void LatencyLane(std::string* out, const VerifierResult& v, const HealthBuckets& hb, double y) {
  double peak = 0;
  for (double l : hb.max_latency) peak = std::max(peak, l);
  *out += "<rect class=\"latbg\" x=\"" + Px(kGutter) + "\" y=\"" + Px(y) + "\" width=\"" +
          Px(kPlotWidth) + "\" height=\"" + Px(kLatency) + "\"/>";
  std::string label = "latency, peak " + FormatFixed(peak, 1) + " ms";
  *out += "<text x=\"6\" y=\"" + Px(y + 12) + "\">";
  SvgTitle(out, v.name + ": highest latency per pixel column; the lane's top is " +
                    FormatFixed(peak, 1) + " ms");
  Esc(out, label);
  *out += "</text>\n";
  if (peak <= 0) return;
  *out += "<polyline class=\"lat\" points=\"";
  bool first = true;
  for (int b = 0; b < kBuckets; ++b) {
    if (hb.max_latency[b] < 0) continue;
    if (!first) *out += ' ';
    first = false;
    double ly = y + kLatency - 1 - hb.max_latency[b] / peak * (kLatency - 3);
    *out += Px(kGutter + b + 0.5) + "," + Px(ly);
  }
  *out += "\">";
  SvgTitle(out,
           v.name + " latency (highest per pixel column), peak " + FormatFixed(peak, 1) + " ms");
  *out += "</polyline>\n";
}

// Detect and recover markers of one verifier, with the recovery bound as an error bar.
void RecoveryMarkers(std::string* out, const ExperimentResult& e, const VerifierResult& v,
                     const Axis& ax, double y) {
  struct Window {
    double t_inject;
    std::string what;
    const RecoveryMetrics* m;
  };
  std::vector<Window> windows;
  for (const auto& pf : v.per_fault) {
    auto f = std::find_if(e.faults.begin(), e.faults.end(),
                          [&](const FaultResult& x) { return x.id == pf.fault_id; });
    if (f == e.faults.end()) continue;
    windows.push_back({f->t_inject, f->kind + " on " + f->target, &pf.metrics});
  }
  if (windows.empty() && !e.faults.empty()) {
    windows.push_back({e.t_first_inject, "the first fault", &v.overall});
  }
  double mid = y + kBand / 2;
  for (const auto& w : windows) {
    const RecoveryMetrics& m = *w.m;
    if (m.time_to_detect_s) {
      double x = ax.X(w.t_inject + *m.time_to_detect_s);
      *out += "<path class=\"detect\" d=\"M" + Px(x - 5) + " " + Px(y - 7) + "h10l-5 7z\">";
      SvgTitle(out, v.name + " detected " + w.what + " after " +
                        FormatSecondsWithBound(*m.time_to_detect_s, m.detect_bound_s));
      *out += "</path>";
    }
    if (m.time_to_recover_s) {
      std::string hover = v.name + " recovered from " + w.what + " " +
                          FormatSecondsWithBound(*m.time_to_recover_s, m.recover_bound_s) +
                          " after inject";
      if (m.recover_bound_s) {
        double x0 = ax.X(w.t_inject + m.recover_bound_s->first);
        double x1 = ax.X(w.t_inject + m.recover_bound_s->second);
        *out += "<path class=\"ebar\" d=\"M" + Px(x0) + " " + Px(mid) + "H" + Px(x1) + "M" +
                Px(x0) + " " + Px(mid - 4) + "v8M" + Px(x1) + " " + Px(mid - 4) + "v8\">";
        SvgTitle(out, hover);
        *out += "</path>";
      }
      *out += "<circle class=\"recover\" cx=\"" + Px(ax.X(w.t_inject + *m.time_to_recover_s)) +
              "\" cy=\"" + Px(mid) + "\" r=\"4\">";
      SvgTitle(out, hover);
      *out += "</circle>";
    }
  }
  *out += "\n";
}

void EventTicks(std::string* out, const ExperimentResult& e, const Axis& ax, double y) {
  SvgLabel(out, y + kEventRow - 3, "events (" + std::to_string(e.events.size()) + ")",
           "events on the experiment's time axis; hover a tick");
  for (const auto& ev : e.events) {
    double x = ax.X(ev.t);
    *out +=
        "<path class=\"event\" d=\"M" + Px(x) + " " + Px(y + 2) + "v" + Px(kEventRow - 4) + "\">";
    SvgTitle(out, Secs(ev.t) + " \u00b7 " + ev.source + ": " + ev.message);
    *out += "</path>";
  }
  *out += "\n";
}

void TimeAxis(std::string* out, const Axis& ax, double top, double y) {
  *out += "<path class=\"axis\" d=\"M" + Px(kGutter) + " " + Px(y) + "H" +
          Px(kGutter + kPlotWidth) + "\"/>\n";
  double step = TickStep(ax.t1 - ax.t0);
  for (double t = std::ceil(ax.t0 / step) * step; t <= ax.t1 + step * 1e-9; t += step) {
    double x = ax.X(t);
    *out += "<path class=\"grid\" d=\"M" + Px(x) + " " + Px(top) + "V" + Px(y) + "\"/>";
    *out += "<text x=\"" + Px(x) + "\" y=\"" + Px(y + 13) + "\" text-anchor=\"middle\">" +
            FormatCompact(std::fabs(t) < step * 1e-9 ? 0 : t) + "</text>";
  }
  *out += "<text x=\"" + Px(kGutter - 8) + "\" y=\"" + Px(y + 13) +
          "\" text-anchor=\"end\">seconds</text>\n";
}

void Timeline(std::string* out, const ExperimentResult& e) {
  Axis ax = MakeAxis(e);
  std::string body;
  double y = 10;
  double top = y;
  FaultRows(&body, e, ax, &y);
  y += kGap;
  for (const auto& v : e.verifiers) {
    y += 8;  // room for detect markers
    HealthBuckets hb = Aggregate(v, ax);
    std::string hover = v.name + " (" + v.kind + ")" +
                        (v.description.empty() ? "" : ": " + v.description) + " \u2014 " +
                        std::to_string(v.samples.size()) + " samples";
    SvgLabel(&body, y + kBand - 4, v.name, hover);
    HealthBand(&body, hb, ax, y);
    RecoveryMarkers(&body, e, v, ax, y);
    y += kBand + 2;
    if (v.kind == "http") {
      LatencyLane(&body, v, hb, y);
      y += kLatency;
    }
    y += kGap;
  }
  EventTicks(&body, e, ax, y);
  y += kEventRow + 4;
  double bottom = y;

  // Behind everything: fault windows and inject lines across all lanes.
  std::string back;
  for (const auto& f : e.faults) {
    double x0 = ax.X(f.t_inject);
    if (f.t_revert) {
      back += "<rect class=\"window\" x=\"" + Px(x0) + "\" y=\"" + Px(top) + "\" width=\"" +
              Px(std::max(ax.X(*f.t_revert) - x0, 1.0)) + "\" height=\"" + Px(bottom - top) +
              "\"/>";
    }
    back += "<path class=\"inject\" d=\"M" + Px(x0) + " " + Px(top) + "V" + Px(bottom) + "\">";
    SvgTitle(&back, "inject " + f.kind + " on " + f.target + " at " + Secs(f.t_inject));
    back += "</path>\n";
  }

  std::string axis;
  TimeAxis(&axis, ax, top, bottom);
  double height = bottom + 20;
  *out += "<svg class=\"timeline\" viewBox=\"0 0 " + Px(kSvgWidth) + " " + Px(height) +
          "\" role=\"img\" aria-label=\"timeline\">\n";
  *out += axis;
  *out += back;
  *out += body;
  *out +=
      "</svg>\n<div class=\"legend\"><span><i style=\"background:var(--pass)\"></i>passing"
      "</span><span><i style=\"background:var(--fail)\"></i>failing</span><span><i "
      "style=\"background:var(--unk)\"></i>unknown</span><span><i style=\"background:"
      "var(--fault);opacity:.5\"></i>fault window</span><span><i style=\"background:"
      "var(--lat)\"></i>latency</span><span>\u25bc detected</span><span>\u25cb recovered "
      "(bar: bound)</span></div>\n";
}

// ---------------------------------------------------------------------------------------------
// Experiment sections

void ExperimentHeader(std::string* out, const ExperimentResult& e) {
  *out += "<div class=\"experiment-head\"><h2>";
  Esc(out, e.name);
  *out += "</h2><span class=\"experiment-verdict verdict ";
  *out += ExperimentStatusName(e.status);
  *out += "\">";
  *out += VerdictWord(e.status);
  *out += "</span></div>\n";
  if (!e.description.empty()) {
    *out += "<p class=\"desc\">";
    Esc(out, e.description);
    *out += "</p>\n";
  }
  if (!e.labels.empty()) {
    *out += "<div class=\"labels\">";
    for (const auto& [k, v] : e.labels) {
      *out += "<span class=\"label\">";
      Esc(out, k + "=" + v);
      *out += "</span>";
    }
    *out += "</div>\n";
  }
  *out += "<dl class=\"facts\">";
  Fact(out, "Started", FormatRfc3339(e.start_wall));
  Fact(out, "Ended", FormatRfc3339(e.end_wall));
  Fact(out, "Duration", FormatSeconds(e.duration_s));
  *out += "</dl>\n";
}

void Reasons(std::string* out, const ExperimentResult& e) {
  if (e.reasons.empty()) {
    if (e.status == ExperimentStatus::kPassed) {
      *out +=
          "<p class=\"all-good\">Every objective held, the steady state held before and "
          "after, and every fault was reverted.</p>\n";
    } else {
      *out += "<p class=\"bad\">The experiment did not pass; no reason was recorded.</p>\n";
    }
    return;
  }
  *out += "<ul class=\"reasons\">";
  for (const auto& r : e.reasons) {
    *out += "<li class=\"failure-reason\">";
    Esc(out, r);
    *out += "</li>";
  }
  *out += "</ul>\n";
}

std::string SteadyCell(const std::optional<double>& ratio, double slo) {
  if (!ratio) return "<td class=\"num neutral\">\u2014</td>";
  bool ok = *ratio + 1e-12 >= slo;
  std::string out = std::string("<td class=\"num ") + (ok ? "ok" : "bad") + "\">";
  Esc(&out, FormatPercent(*ratio));
  out += "</td>";
  return out;
}

void MetricCells(std::string* out, const RecoveryMetrics& m) {
  *out += "<td class=\"num time-to-detect\">";
  Esc(out, DetectText(m));
  *out += "</td><td class=\"num recovery-time";
  if (m.impact && !m.time_to_recover_s) *out += " bad";
  *out += "\"";
  if (m.time_to_recover_s) Attr(out, "data-seconds", FormatFixed(*m.time_to_recover_s, 6));
  *out += ">";
  Esc(out, RecoverText(m));
  *out += "</td><td class=\"num\">";
  Esc(out, m.time_to_recover_after_revert_s ? FormatSeconds(*m.time_to_recover_after_revert_s)
                                            : std::string("\u2014"));
  *out += "</td><td class=\"num\">";
  Esc(out, FormatSeconds(m.downtime_s));
  *out += "</td><td class=\"num\">";
  Esc(out, FormatPercent(m.availability));
  *out += "</td><td class=\"num\">" + std::to_string(m.samples) + " / " +
          std::to_string(m.failing) + " / " + std::to_string(m.unknown) + "</td>";
}

void VerifierTable(std::string* out, const ExperimentResult& e) {
  *out +=
      "<h3>What the verifiers saw</h3>\n<table class=\"verifiers\"><thead><tr>"
      "<th>Verifier</th><th>Steady before</th><th>Time to detect</th>"
      "<th>Time to recover (bound)</th><th>Recovery after revert</th><th>Downtime</th>"
      "<th>Availability</th><th>Samples / failing / unknown</th><th>Steady after</th>"
      "</tr></thead><tbody>\n";
  for (const auto& v : e.verifiers) {
    *out += "<tr";
    Attr(out, "data-verifier", v.name);
    *out += "><td><b>";
    Esc(out, v.name);
    *out += "</b> <span class=\"neutral\">";
    Esc(out, v.kind + ", every " + FormatSeconds(v.interval_s) + ", SLO " +
                 FormatPercent(v.slo_success_ratio));
    *out += "</span>";
    if (!v.description.empty()) {
      *out += "<br><span class=\"neutral\">";
      Esc(out, v.description);
      *out += "</span>";
    }
    *out += "</td>";
    *out += SteadyCell(v.steady_before, v.slo_success_ratio);
    MetricCells(out, v.overall);
    *out += SteadyCell(v.steady_after, v.slo_success_ratio);
    *out += "</tr>\n";
    for (const auto& pf : v.per_fault) {
      *out += "<tr class=\"sub\"";
      Attr(out, "data-fault", pf.fault_id);
      *out += "><td>";
      Esc(out, "\u21b3 " + pf.fault_id);
      *out += "</td><td></td>";
      MetricCells(out, pf.metrics);
      *out += "<td></td></tr>\n";
    }
  }
  if (e.verifiers.empty()) *out += "<tr><td colspan=\"9\">No verifier.</td></tr>\n";
  *out += "</tbody></table>\n";
}

void ObjectiveTable(std::string* out, const ExperimentResult& e) {
  *out +=
      "<h3>Objectives</h3>\n<table class=\"objectives\"><thead><tr><th>Result</th>"
      "<th>Objective</th><th>Verifier</th><th>Measured</th><th>Limit</th><th>Message</th>"
      "</tr></thead><tbody>\n";
  for (const auto& o : e.objectives) {
    *out += "<tr class=\"objective\"";
    Attr(out, "data-passed", o.passed ? "true" : "false");
    *out += "><td class=\"";
    *out += o.passed ? "ok\">PASS" : "bad\">FAIL";
    *out += "</td><td>";
    Esc(out, o.name);
    *out += "</td><td>";
    Esc(out, o.verifier);
    *out += "</td><td class=\"num\">";
    Esc(out, ObjectiveValue(o.type, o.measured));
    *out += "</td><td class=\"num\">";
    Esc(out, ObjectiveValue(o.type, o.limit));
    *out += "</td><td>";
    Esc(out, o.message);
    *out += "</td></tr>\n";
  }
  if (e.objectives.empty()) *out += "<tr><td colspan=\"6\">No objective.</td></tr>\n";
  *out += "</tbody></table>\n";
}

void FaultTable(std::string* out, const ExperimentResult& e) {
  *out +=
      "<h3>Faults \u2014 proof of cleanup</h3>\n<table class=\"faults\"><thead><tr>"
      "<th>Fault</th><th>Kind</th><th>Target</th><th>Injected at</th><th>Reverted at</th>"
      "<th>Revert status</th><th>Error</th></tr></thead><tbody>\n";
  for (const auto& f : e.faults) {
    const std::string& rs = f.revert_status;
    const char* cls = rs == "reverted"                         ? "ok"
                      : rs == "failed" || rs == "not-injected" ? "bad"
                                                               : "neutral";
    *out += "<tr class=\"fault\"";
    Attr(out, "data-fault", f.id);
    *out += "><td>";
    Esc(out, f.id);
    *out += "<br><span class=\"neutral\">";
    Esc(out, f.step);
    *out += "</span></td><td>";
    Esc(out, f.kind);
    *out += "</td><td>";
    Esc(out, f.target);
    if (!f.target_id.empty() && f.target_id != f.target) {
      *out += "<br><span class=\"neutral\">";
      Esc(out, f.target_id);
      *out += "</span>";
    }
    *out += "</td><td class=\"num\">";
    Esc(out, Secs(f.t_inject));
    *out += "</td><td class=\"num\">";
    Esc(out, f.t_revert ? Secs(*f.t_revert)
                        : std::string(f.reversible ? "\u2014" : "\u2014 (one-shot)"));
    *out += "</td><td class=\"revert-status ";
    *out += cls;
    *out += "\">";
    Esc(out, rs);
    *out += "</td><td>";
    Esc(out, f.error);
    *out += "</td></tr>\n";
  }
  if (e.faults.empty()) *out += "<tr><td colspan=\"7\">No fault was injected.</td></tr>\n";
  *out += "</tbody></table>\n";
}

void EventList(std::string* out, const ExperimentResult& e) {
  if (e.events.empty()) return;
  // Short lists start open so that they print; long ones (Kubernetes events) stay folded.
  *out += e.events.size() <= 20 ? "<details class=\"events\" open>" : "<details class=\"events\">";
  *out += "<summary>Events (" + std::to_string(e.events.size()) +
          ")</summary>\n<table><thead><tr><th>Time</th><th>Source</th><th>Message</th></tr>"
          "</thead><tbody>\n";
  for (const auto& ev : e.events) {
    *out += "<tr><td class=\"num\">";
    Esc(out, Secs(ev.t));
    *out += "</td><td>";
    Esc(out, ev.source);
    *out += "</td><td>";
    Esc(out, ev.message);
    *out += "</td></tr>\n";
  }
  *out += "</tbody></table></details>\n";
}

void ExperimentSection(std::string* out, const ExperimentResult& e, size_t index) {
  *out += "<section class=\"experiment\" id=\"exp-" + std::to_string(index) + "\"";
  Attr(out, "data-name", e.name);
  Attr(out, "data-status", ExperimentStatusName(e.status));
  *out += ">\n";
  ExperimentHeader(out, e);
  Reasons(out, e);
  *out += "<h3>Timeline</h3>\n";
  Timeline(out, e);
  VerifierTable(out, e);
  ObjectiveTable(out, e);
  FaultTable(out, e);
  EventList(out, e);
  *out += "</section>\n";
}

}  // namespace

std::string RenderHtml(const RunResult& run) {
  std::string out;
  out.reserve(64 * 1024 + run.experiments.size() * 48 * 1024);
  Head(&out, run);
  RunHeader(&out, run);
  out += "<main>\n";
  RunSummary(&out, run);
  for (size_t i = 0; i < run.experiments.size(); ++i) {
    ExperimentSection(&out, run.experiments[i], i);
  }
  if (run.experiments.empty()) out += "<p>The run holds no experiment.</p>\n";
  out += "</main>\n<footer>Generated by gameday ";
  Esc(&out, run.gameday_version);
  out += " from run ";
  Esc(&out, run.run_id);
  out +=
      ". Times on the experiment axis are seconds since the experiment started.</footer>\n"
      "</body>\n</html>\n";
  return out;
}

}  // namespace gameday
