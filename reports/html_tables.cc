#include <algorithm>
#include <cctype>
#include <cstring>

#include "reports/html_internal.h"
#include "reports/report_text.h"

namespace gameday::html {
namespace {

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

// One sentence that says whether anything is left behind, before the table that proves it.
void CleanupSummary(std::string* out, const ExperimentResult& e) {
  size_t reverted = 0, one_shot = 0, not_injected = 0;
  std::vector<const FaultResult*> failed, noted;
  std::optional<double> last;
  for (const auto& f : e.faults) {
    if (!f.revert_note.empty()) noted.push_back(&f);
    if (f.revert == RevertState::kReverted) {
      ++reverted;
      if (f.t_revert) last = std::max(last.value_or(*f.t_revert), *f.t_revert);
    } else if (f.revert == RevertState::kNotNeeded) {
      ++one_shot;
    } else if (f.revert == RevertState::kNotInjected) {
      ++not_injected;
    } else {
      failed.push_back(&f);
    }
  }
  if (e.faults.empty()) return;
  std::string text;
  if (failed.empty()) {
    text = "Nothing was left behind: " + std::to_string(reverted) + " reverted" +
           (last ? " (the last at " + FormatTimeOffset(*last) + ")" : std::string()) + ", " +
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

// `s` as one word for a POSIX shell: as it is when it holds nothing the shell would read, else in
// single quotes.
std::string ShellWord(const std::string& s) {
  const bool plain = !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) ||
           (c != '\0' && std::strchr("._-/:@%+=,", c) != nullptr);
  });
  if (plain) return s;
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

}  // namespace

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

namespace {

// How long each round took to put its faults in, under the faults: a slow injection changes what
// the recovery figures mean.
void InjectionTable(std::string* out, const ExperimentResult& e) {
  if (e.injections.empty()) return;
  *out +=
      "<table class=\"injections\"><thead><tr><th>Injection</th><th>Kind</th>"
      "<th>Started at</th><th>Injected</th><th>Took</th><th>Journal</th></tr></thead><tbody>\n";
  for (const InjectionResult& i : e.injections) {
    *out += "<tr class=\"injection\"><td>";
    Esc(out, i.round > 0 ? i.step + " \u00b7 round " + std::to_string(i.round) : i.step);
    *out += "</td><td>";
    Esc(out, i.kind);
    *out += "</td><td class=\"num\">";
    Esc(out, FormatTimeOffset(i.t_start));
    *out += "</td><td class=\"num";
    *out += i.injected < i.targets ? " bad\">" : "\">";
    Esc(out, std::to_string(i.injected) + " of " + std::to_string(i.targets));
    *out += "</td><td class=\"num\">";
    Esc(out, FormatSeconds(i.inject_span_s));
    *out += "</td><td class=\"num\">";
    Esc(out, FormatSeconds(i.journal_s));
    *out += "</td></tr>\n";
  }
  *out += "</tbody></table>\n";
}

}  // namespace

void FaultTable(std::string* out, const ExperimentResult& e) {
  *out += "<h3>Faults \u2014 proof of cleanup</h3>\n";
  CleanupSummary(out, e);
  *out +=
      "<table class=\"faults\"><thead><tr>"
      "<th>Fault</th><th>Kind</th><th>Target</th><th>Injected at</th><th>Reverted at</th>"
      "<th>Revert status</th><th>Error</th></tr></thead><tbody>\n";
  for (const auto& f : e.faults) {
    const RevertState rs = f.revert;
    const char* cls = rs == RevertState::kReverted && f.revert_note.empty()           ? "ok"
                      : rs == RevertState::kFailed || rs == RevertState::kNotInjected ? "bad"
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
    Esc(out, FormatTimeOffset(f.t_inject));
    *out += "</td><td class=\"num\">";
    Esc(out, f.t_revert ? FormatTimeOffset(*f.t_revert)
                        : std::string(f.reversible ? "\u2014" : "\u2014 (one-shot)"));
    *out += "</td><td class=\"revert-status ";
    *out += cls;
    *out += "\">";
    Esc(out, RevertStateName(rs));
    if (!f.revert_note.empty()) {
      *out += "<br><span class=\"revert-note\">";
      Esc(out, f.revert_note);
      *out += "</span>";
    }
    if (!f.observed.empty()) {
      *out += "<br><span class=\"observed\">Observed: ";
      Esc(out, f.observed);
      *out += "</span>";
    }
    *out += "</td><td>";
    Esc(out, f.error);
    *out += "</td></tr>\n";
  }
  if (e.faults.empty()) *out += "<tr><td colspan=\"7\">No fault was injected.</td></tr>\n";
  *out += "</tbody></table>\n";
  InjectionTable(out, e);
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
    Esc(out, FormatTimeOffset(ev.t));
    *out += "</td><td>";
    Esc(out, ev.source);
    *out += "</td><td>";
    Esc(out, ev.message);
    *out += "</td></tr>\n";
  }
  *out += "</tbody></table></details>\n";
}

// The timeline draws pixel columns, not samples; every sample of a verifier is one command away.
void SampleCommands(std::string* out, const ExperimentResult& e, bool name_experiment) {
  if (e.verifiers.empty()) return;
  *out += e.verifiers.size() <= 20 ? "<details class=\"sample-commands\" open>"
                                   : "<details class=\"sample-commands\">";
  *out +=
      "<summary>Every sample, one command away</summary>\n<p>The timeline draws one column per "
      "pixel: a column with any failing sample is failing, so no failure is hidden, but not "
      "every sample is drawn. Every sample of a verifier, from the folder of the run's "
      "result.json:</p>\n<ul>";
  for (const auto& v : e.verifiers) {
    *out += "<li class=\"sample-command\"";
    Attr(out, "data-verifier", v.name);
    *out += "><code>";
    Esc(out, "gameday report samples result.json " +
                 (name_experiment ? "--experiment " + ShellWord(e.name) + " " : std::string()) +
                 "--verifier " + ShellWord(v.name));
    *out += "</code> <span class=\"neutral\">";
    Esc(out, std::to_string(SampleCount(v)) + (SampleCount(v) == 1 ? " sample" : " samples"));
    *out += "</span></li>";
  }
  *out += "</ul></details>\n";
}

}  // namespace gameday::html
