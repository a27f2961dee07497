#include <algorithm>

#include "reports/html_internal.h"
#include "reports/html_report.h"
#include "reports/report_text.h"

namespace gameday {
namespace html {
namespace {

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

// When the time a recover_within budget is held against starts, in seconds from the injection:
// the revert for a fault with a duration (as the objective counts it), else the injection.
double BudgetStart(const RecoveryMetrics& m) {
  if (!m.time_to_recover_s || !m.time_to_recover_after_revert_s) return 0;
  return std::max(0.0, *m.time_to_recover_s - *m.time_to_recover_after_revert_s);
}

// A recovery against its budget in words: "12.40 s, budget 10 s: over" ("35.00 s (5.00 s after
// the revert), budget 10 s ✓" for a fault with a duration) and whether it is bad.
std::pair<std::string, bool> RecoveryAgainstBudget(const RecoveryMetrics& m,
                                                   const std::optional<double>& budget) {
  std::string text;
  bool bad = false;
  if (m.time_to_recover_s) {
    text = FormatSeconds(*m.time_to_recover_s);
    if (m.time_to_recover_after_revert_s) {
      text += " (" + FormatSeconds(*m.time_to_recover_after_revert_s) + " after the revert)";
    }
    if (budget) {
      bad = *m.time_to_recover_s - BudgetStart(m) > *budget;
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
      if (r.budget) scale = std::max(scale, BudgetStart(v.overall) + *r.budget);
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
      // The budget counts from the revert for a fault with a duration: its mark sits there.
      *out += "<path class=\"budget\" d=\"M" + Px(X(BudgetStart(m) + *r.budget)) + " " + Px(y + 1) +
              "v" + Px(kRow - 2) + "\">";
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

void ExperimentSection(std::string* out, const RunResult& run, const ExperimentResult& e,
                       size_t index, const RunHistory* history, const TimelineData& timeline) {
  *out += "<section class=\"experiment\" id=\"exp-" + std::to_string(index) + "\"";
  Attr(out, "data-name", e.name);
  Attr(out, "data-status", ExperimentStatusName(e.status));
  *out += ">\n";
  ExperimentHeader(out, e);
  Reasons(out, e);
  *out += "<h3>Timeline</h3>\n";
  Timeline(out, e, timeline);
  SampleCommands(out, e, run.experiments.size() > 1);
  if (history != nullptr && !e.verifiers.empty()) Trend(out, run, e, *history);
  VerifierTable(out, e);
  ObjectiveTable(out, e);
  FaultTable(out, e);
  Rounds(out, e);
  EventList(out, e);
  *out += "</section>\n";
}

std::string Page(const RunResult& run, const RunHistory* history) {
  // The samples first, in one pass: the page is written from what it gathered.
  const std::vector<TimelineData> timelines = CollectTimelines(run);
  std::string out;
  out.reserve(size_t{64} * 1024 + run.experiments.size() * 48 * 1024);
  Head(&out, run);
  RunHeader(&out, run);
  out += "<main>\n";
  RunSummary(&out, run);
  if (run.experiments.size() > 1) SuiteOverview(&out, run);
  for (size_t i = 0; i < run.experiments.size(); ++i) {
    ExperimentSection(&out, run, run.experiments[i], i, history, timelines[i]);
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

}  // namespace
}  // namespace html

std::string RenderHtml(const RunResult& run, const RunHistory* history) {
  return html::Page(run, history);
}

}  // namespace gameday
