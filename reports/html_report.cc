#include "reports/html_report.h"

#include <Poco/Base64Encoder.h>
#include <Poco/SHA2Engine.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <map>
#include <set>
#include <sstream>

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

// The run-clock format of every report (experiments/format.h).
std::string Secs(double t) { return FormatTimeOffset(t); }

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

// The badge of an experiment: its status, or for expected failures what became of them.
void VerdictBadge(std::string* out, const char* extra_class, const ExperimentResult& e) {
  const ExperimentOutcome outcome = OutcomeOf(e);
  *out += "<span class=\"";
  *out += extra_class;
  *out += "verdict ";
  if (outcome == ExperimentOutcome::kExpectedFailure) {
    *out += "xfail\" data-outcome=\"expected-failure\">failed as expected</span>";
  } else if (outcome == ExperimentOutcome::kUnexpectedPass) {
    *out += "failed xpass\" data-outcome=\"unexpected-pass\">passed unexpectedly</span>";
  } else {
    *out += ExperimentStatusName(e.status);
    *out += "\">";
    *out += VerdictWord(e.status);
    *out += "</span>";
  }
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
.xfail{background:#00796b}.xpass{background:var(--fail)}
.expected-failure{border-left:4px solid #00796b;background:var(--panel);padding:6px 12px;
margin:8px 0}.expected-failure p{margin:2px 0}.expected-failure ul{margin:4px 0;padding-left:20px}
.rounds{margin:4px 0;padding-left:20px;font-size:13px}
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
.revert-note{color:var(--warn);font-weight:600}
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
svg .hit{fill:transparent}svg g.band{cursor:crosshair}
svg .event.k8s{stroke:#326ce5;stroke-width:2}
svg .budget{stroke:var(--fail);stroke-width:1.2;stroke-dasharray:5 3}
svg .bar{fill:var(--pass)}svg .bar.over{fill:var(--fail)}svg .bar.none{fill:var(--unk)}
svg .tline{fill:none;stroke-width:1.5}svg .tpt{stroke:#fff;stroke-width:1}
svg .tcur{fill:none;stroke:var(--ink);stroke-width:2}svg .tmiss{stroke:var(--fail);stroke-width:2}
svg.trend,svg.suite{width:100%;height:auto;display:block;border:1px solid var(--line);
border-radius:4px}
#tip{position:fixed;display:none;pointer-events:none;z-index:10;max-width:460px;
background:#202124;color:#fff;padding:5px 9px;border-radius:4px;font-size:12px;
white-space:pre-line;box-shadow:0 2px 6px rgba(0,0,0,.3)}
.summary-reasons{margin:0;padding-left:18px}.summary-reasons li{color:var(--fail)}
.budgets{margin:0;padding:0;list-style:none;white-space:nowrap}
p.cleanup{margin:4px 0}
.wide{overflow-x:auto}
table.verifiers td:first-child{min-width:220px;max-width:320px;overflow-wrap:anywhere}
@media print{
#tip{display:none!important}.wide{overflow:visible}
body{font-size:10pt}header.run,main,footer{max-width:none;padding:0}
section.experiment{break-inside:auto;border:none;padding:0}
section.experiment+section.experiment{break-before:page}
table,svg.timeline,svg.trend,svg.suite,tr{break-inside:avoid}
.verdict,svg,.label,th{-webkit-print-color-adjust:exact;print-color-adjust:exact}
@page{margin:12mm}}
)css";

// The page's only script: the hover read-out of the timeline bands (see BandAttributes). It
// replaces the bands' SVG <title>s, which say the same per run of buckets when scripts are off.
constexpr char kScript[] = R"js((function(){
var tip=document.getElementById('tip');if(!tip)return;
var H=['passing','FAILING','unknown'];
function s3(t){return t.toFixed(3)+' s';}
function show(ev,text){tip.textContent=text;tip.style.display='block';
var x=ev.clientX+14,y=ev.clientY+14,w=tip.offsetWidth,h=tip.offsetHeight;
if(x+w>innerWidth-4)x=ev.clientX-w-14;if(y+h>innerHeight-4)y=ev.clientY-h-14;
tip.style.left=Math.max(4,x)+'px';tip.style.top=Math.max(4,y)+'px';}
function hide(){tip.style.display='none';}
var bands=document.querySelectorAll('g.band');
for(var i=0;i<bands.length;i++)(function(g){
var ts=g.querySelectorAll('title');for(var k=0;k<ts.length;k++)ts[k].parentNode.removeChild(ts[k]);
var d=null,det=null,svg=g.ownerSVGElement,name=g.getAttribute('data-name');
var x0=+g.getAttribute('data-x0'),n=+g.getAttribute('data-n');
var t0=+g.getAttribute('data-t0'),t1=+g.getAttribute('data-t1');
g.addEventListener('mousemove',function(ev){
if(!d){d=JSON.parse(g.getAttribute('data-b'));det=JSON.parse(g.getAttribute('data-d'));}
var p=svg.createSVGPoint();p.x=ev.clientX;p.y=ev.clientY;
var b=Math.floor(p.matrixTransform(svg.getScreenCTM().inverse()).x-x0);
var lo=0,hi=d.length-1,r=null;
while(lo<=hi){var m=(lo+hi)>>1;if(d[m][0]<b)lo=m+1;else if(d[m][0]>b)hi=m-1;else{r=d[m];break;}}
var a=t0+(t1-t0)*b/n,z=t0+(t1-t0)*(b+1)/n;
if(!r){show(ev,name+'\nno sample covers '+s3(a)+' \u2013 '+s3(z));return;}
var txt=name+'\n'+s3(r[1])+' \u00b7 '+H[r[2]]+' \u00b7 '+r[3].toFixed(1)+' ms';
if(r[7]>=0)txt+='\n'+det[r[7]];
var c=r[4]+r[5]+r[6];
if(c>1)txt+='\n'+c+' samples in '+s3(a)+' \u2013 '+s3(z)+': '+r[4]+' passing, '+r[5]+
' failing, '+r[6]+' unknown';
show(ev,txt);});
g.addEventListener('mouseleave',hide);})(bands[i]);
})();)js";

// 'sha256-<base64>' of the script, for the Content-Security-Policy.
const std::string& ScriptHash() {
  static const std::string hash = [] {
    Poco::SHA2Engine sha(Poco::SHA2Engine::SHA_256);
    sha.update(kScript, sizeof(kScript) - 1);
    const Poco::DigestEngine::Digest& digest = sha.digest();
    std::ostringstream b64;
    Poco::Base64Encoder enc(b64);
    enc.rdbuf()->setLineLength(0);
    enc.write(reinterpret_cast<const char*>(digest.data()),
              static_cast<std::streamsize>(digest.size()));
    enc.close();
    return "'sha256-" + b64.str() + "'";
  }();
  return hash;
}

void Head(std::string* out, const RunResult& run) {
  *out += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  // Nothing may be loaded from anywhere: not even a link in hostile result text could make the
  // page fetch something. Only the inline style and the one script (by hash) may run.
  *out +=
      "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
      "style-src 'unsafe-inline'; img-src data:; script-src " +
      ScriptHash() + "; base-uri 'none'; form-action 'none'\">\n";
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

void SvgTitle(std::string* out, std::string_view text);

// The recovery budget of `verifier`: the limit of its recover_within objective, if any.
std::optional<double> RecoveryBudget(const ExperimentResult& e, const std::string& verifier) {
  for (const auto& o : e.objectives) {
    if (o.type == "recover_within" && o.verifier == verifier && o.limit) return o.limit;
  }
  return std::nullopt;
}

// A recovery against its budget in words: "12.40 s, budget 10 s: over" and whether it is bad.
std::pair<std::string, bool> RecoveryAgainstBudget(const RecoveryMetrics& m,
                                                   const std::optional<double>& budget) {
  std::string text;
  bool bad = false;
  if (m.time_to_recover_s) {
    text = FormatSeconds(*m.time_to_recover_s);
    if (budget) {
      bad = *m.time_to_recover_s > *budget;
      text += ", budget " + FormatCompact(*budget) + " s" + (bad ? " \u2717 over" : " \u2713");
    }
  } else if (!m.impact) {
    text = "no impact";
  } else {
    text = m.recovered ? "recovered (time n/a)" : "not recovered";
    bad = !m.recovered;
    if (budget) text += ", budget " + FormatCompact(*budget) + " s";
  }
  return {text, bad};
}

void RunSummary(std::string* out, const RunResult& run) {
  size_t counts[4] = {0, 0, 0, 0};
  size_t reasons = 0, xfail = 0, xpass = 0;
  for (const auto& e : run.experiments) {
    // Expected failures are counted apart from the plain verdicts they map to.
    const ExperimentOutcome outcome = OutcomeOf(e);
    if (outcome == ExperimentOutcome::kExpectedFailure) {
      ++xfail;
    } else if (outcome == ExperimentOutcome::kUnexpectedPass) {
      ++xpass;
    } else {
      counts[static_cast<int>(e.status)]++;
    }
    reasons += e.reasons.size();
  }
  *out += "<h3>Summary</h3>\n<p class=\"headline\">";
  std::string headline =
      std::to_string(run.experiments.size()) +
      (run.experiments.size() == 1 ? " experiment: " : " experiments: ") +
      std::to_string(counts[0]) + " passed, " + std::to_string(counts[1]) + " failed, " +
      std::to_string(counts[2]) + " aborted, " + std::to_string(counts[3]) + " in error" +
      (xfail > 0 ? ", " + std::to_string(xfail) + " failed as expected" : std::string()) +
      (xpass > 0 ? ", " + std::to_string(xpass) + " passed unexpectedly" : std::string()) +
      (reasons > 0
           ? "; " + std::to_string(reasons) + (reasons == 1 ? " reason" : " reasons") + " below"
           : std::string());
  Esc(out, headline);
  *out +=
      ".</p>\n<table class=\"summary\"><thead><tr><th>Experiment</th><th>Verdict</th>"
      "<th>Recovery against budget</th><th>Objectives held</th><th>Faults</th><th>Why</th>"
      "</tr></thead><tbody>\n";
  for (size_t i = 0; i < run.experiments.size(); ++i) {
    const ExperimentResult& e = run.experiments[i];
    size_t held = std::count_if(e.objectives.begin(), e.objectives.end(),
                                [](const ObjectiveResult& o) { return o.passed; });
    *out += "<tr";
    Attr(out, "data-experiment", e.name);
    *out += "><td><a href=\"#exp-" + std::to_string(i) + "\">";
    Esc(out, e.name);
    *out += "</a></td><td>";
    VerdictBadge(out, "", e);
    *out += "</td><td><ul class=\"budgets\">";
    for (const auto& v : e.verifiers) {
      auto [text, bad] = RecoveryAgainstBudget(v.overall, RecoveryBudget(e, v.name));
      *out += bad ? "<li class=\"budget-recovery bad\"" : "<li class=\"budget-recovery\"";
      Attr(out, "data-verifier", v.name);
      *out += ">";
      Esc(out, v.name + ": " + text);
      *out += "</li>";
    }
    if (e.verifiers.empty()) *out += "<li class=\"neutral\">no verifier</li>";
    *out += "</ul></td><td class=\"num\">" + std::to_string(held) + " / " +
            std::to_string(e.objectives.size()) + "</td><td class=\"num\">" +
            std::to_string(e.faults.size()) + "</td><td>";
    if (!e.expected_failure.empty()) {
      *out += "<p class=\"summary-expected\">expected to fail: ";
      Esc(out, e.expected_failure);
      *out += "</p>";
    }
    if (e.reasons.empty()) {
      *out += e.status == ExperimentStatus::kPassed
                  ? "<span class=\"ok\">all held</span>"
                  : "<span class=\"bad\">no reason recorded</span>";
    } else {
      *out += "<ul class=\"summary-reasons\">";
      for (const auto& r : e.reasons) {
        *out += "<li class=\"summary-reason\">";
        Esc(out, r);
        *out += "</li>";
      }
      *out += "</ul>";
    }
    *out += "</td></tr>\n";
  }
  *out += "</tbody></table>\n";
}

// 1, 2 or 5 times a power of ten, giving about `ticks` ticks.
double NiceStep(double span, double ticks) {
  double raw = span / ticks;
  if (!(raw > 0)) return 1;
  double p = std::pow(10, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    if (raw <= m * p) return m * p;
  }
  return 10 * p;
}

// Every experiment's recovery per verifier as a bar against its budget, on one scale.
void SuiteOverview(std::string* out, const RunResult& run) {
  constexpr double kWidth = 1000, kLeft = 300, kRight = 20, kRow = 20, kTop = 8;
  struct Row {
    size_t exp;
    const VerifierResult* v;
    std::optional<double> budget;
  };
  std::vector<Row> rows;
  double scale = 0;
  for (size_t i = 0; i < run.experiments.size(); ++i) {
    const ExperimentResult& e = run.experiments[i];
    for (const auto& v : e.verifiers) {
      Row r{i, &v, RecoveryBudget(e, v.name)};
      if (v.overall.time_to_recover_s) scale = std::max(scale, *v.overall.time_to_recover_s);
      if (r.budget) scale = std::max(scale, *r.budget);
      rows.push_back(r);
    }
  }
  if (rows.empty()) return;
  if (!(scale > 0)) scale = 1;
  scale *= 1.08;
  const double plot = kWidth - kLeft - kRight;
  auto X = [&](double t) { return kLeft + std::clamp(t / scale, 0.0, 1.0) * plot; };
  const double bottom = kTop + rows.size() * kRow;
  *out += "<h3>Suite overview: recovery against budget</h3>\n<svg class=\"suite\" viewBox=\"0 0 " +
          Px(kWidth) + " " + Px(bottom + 22) + "\" role=\"img\" aria-label=\"suite overview\">\n";
  const double step = NiceStep(scale, 8);
  for (double t = 0; t <= scale + step * 1e-9; t += step) {
    *out += "<path class=\"grid\" d=\"M" + Px(X(t)) + " " + Px(kTop) + "V" + Px(bottom) +
            "\"/><text x=\"" + Px(X(t)) + "\" y=\"" + Px(bottom + 14) +
            "\" text-anchor=\"middle\">" + FormatCompact(t) + "</text>";
  }
  *out += "<text x=\"" + Px(kLeft - 8) + "\" y=\"" + Px(bottom + 14) +
          "\" text-anchor=\"end\">seconds to recover</text>\n";
  double y = kTop;
  for (const Row& r : rows) {
    const ExperimentResult& e = run.experiments[r.exp];
    const RecoveryMetrics& m = r.v->overall;
    auto [text, bad] = RecoveryAgainstBudget(m, r.budget);
    const std::string hover = e.name + " / " + r.v->name + ": " + text;
    *out +=
        "<a href=\"#exp-" + std::to_string(r.exp) + "\"><text x=\"6\" y=\"" + Px(y + 14) + "\">";
    SvgTitle(out, hover);
    Esc(out, Truncate(e.name + " / " + r.v->name, 44));
    *out += "</text></a>";
    if (m.time_to_recover_s) {
      *out += std::string("<rect class=\"bar") + (bad ? " over" : "") + "\" x=\"" + Px(kLeft) +
              "\" y=\"" + Px(y + 4) + "\" width=\"" +
              Px(std::max(X(*m.time_to_recover_s) - kLeft, 1.0)) + "\" height=\"" + Px(kRow - 8) +
              "\">";
      SvgTitle(out, hover);
      *out += "</rect>";
    } else if (m.impact) {
      *out += "<rect class=\"bar over\" x=\"" + Px(kLeft) + "\" y=\"" + Px(y + 4) + "\" width=\"" +
              Px(plot) + "\" height=\"" + Px(kRow - 8) + "\" fill-opacity=\".35\">";
      SvgTitle(out, hover);
      *out += "</rect><text x=\"" + Px(kLeft + 6) + "\" y=\"" + Px(y + 14) + "\">";
      Esc(out, text);
      *out += "</text>";
    } else {
      *out += "<text class=\"neutral\" x=\"" + Px(kLeft + 6) + "\" y=\"" + Px(y + 14) + "\">";
      Esc(out, text);
      *out += "</text>";
    }
    if (r.budget) {
      *out += "<path class=\"budget\" d=\"M" + Px(X(*r.budget)) + " " + Px(y + 1) + "v" +
              Px(kRow - 2) + "\">";
      SvgTitle(out, "budget " + FormatCompact(*r.budget) + " s");
      *out += "</path>";
    }
    *out += "\n";
    y += kRow;
  }
  *out +=
      "</svg>\n<div class=\"legend\"><span><i style=\"background:var(--pass)\"></i>"
      "recovered within budget</span><span><i style=\"background:var(--fail)\"></i>over "
      "budget or not recovered</span><span>\u2506 budget</span></div>\n";
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
    const double f = std::floor((t - t0) / (t1 - t0) * kBuckets);
    if (!(f >= 0)) return 0;  // NaN too: a cast of it would be undefined
    if (f >= kBuckets) return kBuckets - 1;
    return static_cast<int>(f);
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
                        f.revert_status + (f.error.empty() ? "" : " \u2014 " + f.error) +
                        (f.revert_note.empty() ? "" : " \u2014 NOTE: " + f.revert_note);
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
  // The sample the hover read-out shows for each bucket: the first failing one, else the first
  // unknown one, else the last passing one; -1 when no sample was sent in the bucket.
  std::vector<int64_t> rep = std::vector<int64_t>(kBuckets, -1);
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
    static constexpr int kRank[] = {0, 2, 1};  // healthy < unknown < unhealthy
    int64_t& r = hb.rep[b];
    if (r < 0 || kRank[h] > kRank[HealthIndex(s[r].health)] ||
        (h == 0 && kRank[HealthIndex(s[r].health)] == 0)) {
      r = static_cast<int64_t>(i);
    }
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

// Appends `s` as a JSON string literal (the attribute escaping comes on top).
void JsonString(std::string* out, std::string_view s) {
  static const char kHex[] = "0123456789abcdef";
  *out += '"';
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      *out += '\\';
      *out += c;
    } else if (u < 0x20) {
      *out += "\\u00";
      *out += kHex[u >> 4];
      *out += kHex[u & 15];
    } else {
      *out += c;
    }
  }
  *out += '"';
}

// The hover read-out's data, as attributes of a band's <g>: for every bucket a sample covers,
// [bucket, t_send, health (0 passing, 1 failing, 2 unknown), latency ms, passing, failing,
// unknown, detail index or -1]. A bucket that no sample was sent in but an earlier one still
// covers repeats that sample with zero counts. Details are deduplicated into data-d.
void BandAttributes(std::string* out, const VerifierResult& v, const HealthBuckets& hb,
                    const Axis& ax) {
  constexpr size_t kMaxDetails = 200;
  const auto& s = v.samples;
  std::string data = "[";
  std::string details = "[";
  std::map<std::string_view, int> detail_index;
  size_t next = 0;    // first sample not yet assigned to a bucket
  int64_t last = -1;  // the last sample sent so far
  bool first = true;
  for (int b = 0; b < kBuckets; ++b) {
    while (next < s.size() && ax.Bucket(s[next].t_send) <= b) last = static_cast<int64_t>(next++);
    int64_t r = hb.rep[b];
    if (r < 0) {
      if (hb.mask[b] == 0 || last < 0) continue;
      r = last;
    }
    const Sample& x = s[r];
    int d = -1;
    if (!x.detail.empty()) {
      auto it = detail_index.find(x.detail);
      if (it != detail_index.end()) {
        d = it->second;
      } else if (detail_index.size() < kMaxDetails) {
        d = static_cast<int>(detail_index.size());
        detail_index.emplace(x.detail, d);
        if (d > 0) details += ',';
        JsonString(&details, Truncate(x.detail, 160));
      }
    }
    const bool sent = hb.rep[b] >= 0;
    if (!first) data += ',';
    first = false;
    data += '[';
    data += std::to_string(b);
    data += ',';
    data += std::isfinite(x.t_send) ? FormatFixed(x.t_send, 3) : "0";
    data += ',';
    data += std::to_string(HealthIndex(x.health));
    data += ',';
    data += std::isfinite(x.latency_ms) ? FormatFixed(x.latency_ms, 1) : "0";
    for (int k = 0; k < 3; ++k) {
      data += ',';
      data += sent ? std::to_string(hb.counts[b][k]) : "0";
    }
    data += ',';
    data += std::to_string(d);
    data += ']';
  }
  data += ']';
  details += ']';
  Attr(out, "data-name", v.name);
  *out += " data-x0=\"" + Px(kGutter) + "\" data-n=\"" + std::to_string(kBuckets) +
          "\" data-t0=\"" + FormatFixed(ax.t0, 6) + "\" data-t1=\"" + FormatFixed(ax.t1, 6) +
          "\" data-b=\"" + data + "\"";
  Attr(out, "data-d", details);
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
    // The engine measures per step (a step's faults go in together), so the window is named by
    // its step; older results name a fault id. The window starts at its first inject.
    const FaultResult* first = nullptr;
    for (const auto& f : e.faults) {
      if (f.revert_status == "not-injected" || (f.id != pf.fault_id && f.step != pf.fault_id)) {
        continue;
      }
      if (first == nullptr || f.t_inject < first->t_inject) first = &f;
    }
    if (first == nullptr) continue;
    windows.push_back({first->t_inject, first->kind + " on " + first->target, &pf.metrics});
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

// One row of event ticks. Kubernetes events get their own row, so pod and node changes line up
// with the verifier bands above them.
void EventTicks(std::string* out, const std::vector<const TimelineEvent*>& events,
                const std::string& label, const char* cls, const Axis& ax, double y) {
  SvgLabel(out, y + kEventRow - 3, label + " (" + std::to_string(events.size()) + ")",
           label + " on the experiment's time axis; hover a tick");
  for (const TimelineEvent* evp : events) {
    const TimelineEvent& ev = *evp;
    double x = ax.X(ev.t);
    *out += "<path class=\"";
    *out += cls;
    *out += "\" d=\"M" + Px(x) + " " + Px(y + 2) + "v" + Px(kEventRow - 4) + "\">";
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
    body += "<g class=\"band\"";
    BandAttributes(&body, v, hb, ax);
    body += "><rect class=\"hit\" x=\"" + Px(kGutter) + "\" y=\"" + Px(y) + "\" width=\"" +
            Px(kPlotWidth) + "\" height=\"" + Px(kBand) + "\"/>";
    HealthBand(&body, hb, ax, y);
    body += "</g>\n";
    RecoveryMarkers(&body, e, v, ax, y);
    y += kBand + 2;
    if (v.kind == "http") {
      LatencyLane(&body, v, hb, y);
      y += kLatency;
    }
    y += kGap;
  }
  std::vector<const TimelineEvent*> kube, other;
  for (const auto& ev : e.events) (ev.source == "kubernetes" ? kube : other).push_back(&ev);
  if (!kube.empty()) {
    EventTicks(&body, kube, "kubernetes", "event k8s", ax, y);
    y += kEventRow;
  }
  if (!other.empty() || kube.empty()) {
    EventTicks(&body, other, "events", "event", ax, y);
    y += kEventRow;
  }
  y += 4;
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
  *out += "</h2>";
  VerdictBadge(out, "experiment-verdict ", e);
  *out += "</div>\n";
  if (!e.description.empty()) {
    *out += "<p class=\"desc\">";
    Esc(out, e.description);
    *out += "</p>\n";
  }
  if (!e.labels.empty()) {
    *out += "<div class=\"labels\">";
    for (const auto& [k, v] : e.labels) {
      *out += "<span class=\"label\">";
      Esc(out, k);
      *out += '=';
      Esc(out, v);
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

// What the plan said about the failure it expects, and what actually failed: the failing
// objectives with their messages and the verifiers' last error text (an etcd timeout, ...).
void ExpectedFailure(std::string* out, const ExperimentResult& e) {
  const ExperimentOutcome outcome = OutcomeOf(e);
  *out += "<div class=\"expected-failure\"";
  Attr(out, "data-outcome", ExperimentOutcomeName(outcome));
  *out += "><p><b>Expected to fail:</b> <span class=\"xfail-reason\">";
  Esc(out, e.expected_failure);
  *out += "</span></p>\n";
  if (outcome == ExperimentOutcome::kExpectedFailure) {
    const FailureExplanation x = ExplainFailure(e);
    *out += "<p><b>Failed as expected</b>, so it does not fail the run. Why it failed:</p>";
    *out += "<ul class=\"xfail-why\">";
    for (const auto& o : x.objectives) {
      *out += "<li class=\"xfail-objective\">";
      Esc(out, o);
      *out += "</li>";
    }
    for (const auto& v : x.verifier_errors) {
      *out += "<li class=\"xfail-error\">";
      Esc(out, v);
      *out += "</li>";
    }
    for (const auto& r : x.other) {
      *out += "<li class=\"xfail-other\">";
      Esc(out, r);
      *out += "</li>";
    }
    *out += "</ul>\n";
  } else if (outcome == ExperimentOutcome::kUnexpectedPass) {
    *out +=
        "<p class=\"bad\">It was expected to fail but every objective held, so the run "
        "fails: the weakness this experiment documents may be fixed (remove expected_failure) "
        "or the experiment no longer reaches it.</p>\n";
  }
  *out += "</div>\n";
}

// Rounds of repeated steps, with the targets each round chose.
void Rounds(std::string* out, const ExperimentResult& e) {
  const std::vector<std::string> lines = RoundLines(e);
  if (lines.empty()) return;
  *out += "<h3>Rounds of repeated steps</h3>\n<ul class=\"rounds\">";
  for (const auto& l : lines) {
    *out += "<li class=\"round\">";
    Esc(out, l);
    *out += "</li>";
  }
  *out += "</ul>\n";
}

void Reasons(std::string* out, const ExperimentResult& e) {
  if (!e.expected_failure.empty()) ExpectedFailure(out, e);
  if (OutcomeOf(e) == ExperimentOutcome::kExpectedFailure) return;  // explained above
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

// (1 - availability) / (1 - SLO): the share of the SLO's error budget the window used. With an
// SLO of 100 % there is no budget, and any failure exceeds it.
std::string ErrorBudgetCell(const RecoveryMetrics& m, double slo) {
  if (m.samples == 0 || m.samples == m.unknown)
    return "<td class=\"num neutral budget-burned\">\u2014</td>";
  const double bad = 1 - m.availability;
  if (slo >= 1) {
    return bad > 0 ? "<td class=\"num bad budget-burned\">no budget (SLO 100 %)</td>"
                   : "<td class=\"num ok budget-burned\">0 %</td>";
  }
  const double burned = bad / (1 - slo);
  std::string out =
      std::string("<td class=\"num budget-burned ") + (burned > 1 ? "bad" : "ok") + "\"";
  Attr(&out, "data-ratio", FormatFixed(burned, 6));
  out += ">";
  Esc(&out, FormatPercent(burned));
  out += "</td>";
  return out;
}

void MetricCells(std::string* out, const RecoveryMetrics& m, double slo) {
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
  *out += "</td>" + ErrorBudgetCell(m, slo) + "<td class=\"num\">" + std::to_string(m.samples) +
          " / " + std::to_string(m.failing) + " / " + std::to_string(m.unknown) + "</td>";
}

void VerifierTable(std::string* out, const ExperimentResult& e) {
  *out +=
      "<h3>What the verifiers saw</h3>\n<div class=\"wide\"><table class=\"verifiers\"><thead><tr>"
      "<th>Verifier</th><th>Steady before</th><th>Time to detect</th>"
      "<th>Time to recover (bound)</th><th>Recovery after revert</th><th>Downtime</th>"
      "<th>Availability</th><th>Error budget burned</th><th>Samples / failing / unknown</th>"
      "<th>Steady after</th>"
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
    MetricCells(out, v.overall, v.slo_success_ratio);
    *out += SteadyCell(v.steady_after, v.slo_success_ratio);
    *out += "</tr>\n";
    for (const auto& pf : v.per_fault) {
      *out += "<tr class=\"sub\"";
      Attr(out, "data-fault", pf.fault_id);
      *out += "><td>";
      Esc(out, "\u21b3 " + pf.fault_id);
      *out += "</td><td></td>";
      MetricCells(out, pf.metrics, v.slo_success_ratio);
      *out += "<td></td></tr>\n";
    }
  }
  if (e.verifiers.empty()) *out += "<tr><td colspan=\"10\">No verifier.</td></tr>\n";
  *out += "</tbody></table></div>\n";
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

// One sentence that says whether anything is left behind, before the table that proves it.
void CleanupSummary(std::string* out, const ExperimentResult& e) {
  size_t reverted = 0, one_shot = 0, not_injected = 0;
  std::vector<const FaultResult*> failed, noted;
  std::optional<double> last;
  for (const auto& f : e.faults) {
    if (!f.revert_note.empty()) noted.push_back(&f);
    if (f.revert_status == "reverted") {
      ++reverted;
      if (f.t_revert) last = std::max(last.value_or(*f.t_revert), *f.t_revert);
    } else if (f.revert_status == "not-needed") {
      ++one_shot;
    } else if (f.revert_status == "not-injected") {
      ++not_injected;
    } else {
      failed.push_back(&f);
    }
  }
  if (e.faults.empty()) return;
  std::string text;
  if (failed.empty()) {
    text = "Nothing was left behind: " + std::to_string(reverted) + " reverted" +
           (last ? " (the last at " + Secs(*last) + ")" : std::string()) + ", " +
           std::to_string(one_shot) + " one-shot (nothing to revert), " +
           std::to_string(not_injected) + " not injected.";
  } else {
    text = std::to_string(failed.size()) +
           (failed.size() == 1 ? " fault was NOT reverted and may still be in effect: "
                               : " faults were NOT reverted and may still be in effect: ");
    for (size_t i = 0; i < failed.size(); ++i) {
      if (i > 0) text += "; ";
      text += failed[i]->kind + " on " + failed[i]->target +
              (failed[i]->error.empty() ? "" : " (" + failed[i]->error + ")");
    }
    text += ". Run `gameday recover` or revert by hand.";
  }
  // A revert that could not restore everything is not "nothing left behind" without a word.
  for (const FaultResult* f : noted) {
    text +=
        " Reverted with a caveat: " + f->kind + " on " + f->target + ": " + f->revert_note + ".";
  }
  *out += failed.empty() ? "<p class=\"cleanup ok\">" : "<p class=\"cleanup bad\">";
  Esc(out, text);
  *out += "</p>\n";
}

void FaultTable(std::string* out, const ExperimentResult& e) {
  *out += "<h3>Faults \u2014 proof of cleanup</h3>\n";
  CleanupSummary(out, e);
  *out +=
      "<table class=\"faults\"><thead><tr>"
      "<th>Fault</th><th>Kind</th><th>Target</th><th>Injected at</th><th>Reverted at</th>"
      "<th>Revert status</th><th>Error</th></tr></thead><tbody>\n";
  for (const auto& f : e.faults) {
    const std::string& rs = f.revert_status;
    const char* cls = rs == "reverted" && f.revert_note.empty() ? "ok"
                      : rs == "failed" || rs == "not-injected"  ? "bad"
                                                                : "neutral";
    *out += "<tr class=\"fault\"";
    Attr(out, "data-fault", f.id);
    *out += "><td>";
    Esc(out, f.id);
    *out += "<br><span class=\"neutral\">";
    Esc(out, f.round > 0 ? f.step + " \u00b7 round " + std::to_string(f.round) : f.step);
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
    if (!f.revert_note.empty()) {
      *out += "<br><span class=\"revert-note\">";
      Esc(out, f.revert_note);
      *out += "</span>";
    }
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

// ---------------------------------------------------------------------------------------------
// Trends (from the run history)

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

void ExperimentSection(std::string* out, const RunResult& run, const ExperimentResult& e,
                       size_t index, const RunHistory* history) {
  *out += "<section class=\"experiment\" id=\"exp-" + std::to_string(index) + "\"";
  Attr(out, "data-name", e.name);
  Attr(out, "data-status", ExperimentStatusName(e.status));
  *out += ">\n";
  ExperimentHeader(out, e);
  Reasons(out, e);
  *out += "<h3>Timeline</h3>\n";
  Timeline(out, e);
  if (history != nullptr && !e.verifiers.empty()) Trend(out, run, e, *history);
  VerifierTable(out, e);
  ObjectiveTable(out, e);
  FaultTable(out, e);
  Rounds(out, e);
  EventList(out, e);
  *out += "</section>\n";
}

}  // namespace

std::string RenderHtml(const RunResult& run, const RunHistory* history) {
  std::string out;
  out.reserve(size_t{64} * 1024 + run.experiments.size() * 48 * 1024);
  Head(&out, run);
  RunHeader(&out, run);
  out += "<main>\n";
  RunSummary(&out, run);
  if (run.experiments.size() > 1) SuiteOverview(&out, run);
  for (size_t i = 0; i < run.experiments.size(); ++i) {
    ExperimentSection(&out, run, run.experiments[i], i, history);
  }
  if (run.experiments.empty()) out += "<p>The run holds no experiment.</p>\n";
  out += "</main>\n<footer>Generated by gameday ";
  Esc(&out, run.gameday_version);
  out += " from run ";
  Esc(&out, run.run_id);
  out +=
      ". Times on the experiment axis are seconds since the experiment started.</footer>\n"
      "<div id=\"tip\" role=\"tooltip\"></div>\n<script>";
  out += kScript;
  out += "</script>\n</body>\n</html>\n";
  return out;
}

}  // namespace gameday
