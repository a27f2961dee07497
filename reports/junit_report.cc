#include "reports/junit_report.h"

#include <cmath>

#include "reports/report_text.h"

namespace gameday {
namespace {

// A steady-state ratio that equals the SLO passes; this absorbs the error of ratio arithmetic.
constexpr double kRatioEpsilon = 1e-12;

enum class Outcome { kPass, kFailure, kError, kSkipped };

struct TestCase {
  std::string name;
  double time_s = 0;
  Outcome outcome = Outcome::kPass;
  std::string type;     // failure/error/skipped type attribute
  std::string message;  // one line: the measured value against the budget
  std::string body;     // details, several lines
  std::string out;      // the test case's own <system-out>, when it has something to say
};

struct Counts {
  int tests = 0, failures = 0, errors = 0, skipped = 0;
  void Add(const TestCase& t) {
    ++tests;
    if (t.outcome == Outcome::kFailure) ++failures;
    if (t.outcome == Outcome::kError) ++errors;
    if (t.outcome == Outcome::kSkipped) ++skipped;
  }
};

// ---------------------------------------------------------------------------------------------
// What each test case says

// The measured value against the budget, phrased for the objective type (see ObjectiveTypeName).
std::string ObjectivePhrase(const ObjectiveResult& o) {
  const std::string& t = o.type;
  std::string limit = o.limit ? FormatCompact(*o.limit) : "";
  if (t == "recover_within") {
    std::string m = o.measured ? "recovered in " + FormatSeconds(*o.measured) : "did not recover";
    return o.limit ? m + ", budget " + limit + " s" : m;
  }
  if (t == "max_downtime") {
    std::string m = o.measured ? "down for " + FormatSeconds(*o.measured) : "downtime not measured";
    return o.limit ? m + ", budget " + limit + " s" : m;
  }
  if (t == "min_availability") {
    std::string m =
        o.measured ? "availability " + FormatPercent(*o.measured) : "availability not measured";
    return o.limit ? m + ", minimum " + FormatPercent(*o.limit) : m;
  }
  if (t == "must_detect") {
    std::string m =
        o.measured ? "impact detected after " + FormatSeconds(*o.measured) : "no impact detected";
    return o.limit ? m + ", required within " + limit + " s" : m + ", impact required";
  }
  if (t == "expect_no_impact") {
    return o.measured ? "impact detected after " + FormatSeconds(*o.measured) + ", none allowed"
                      : "no impact detected, none allowed";
  }
  if (o.measured && o.limit) return "measured " + FormatCompact(*o.measured) + ", limit " + limit;
  if (o.measured) return "measured " + FormatCompact(*o.measured);
  if (o.limit) return "not measured, limit " + limit;
  return "";
}

TestCase ObjectiveCase(const RunResult& run, const ObjectiveResult& o) {
  TestCase tc;
  tc.name = o.name;
  std::string phrase = ObjectivePhrase(o);
  tc.body = "objective: " + o.type + " on verifier " + o.verifier;
  if (o.measured) tc.body += "\nmeasured: " + FormatCompact(*o.measured);
  if (o.limit) tc.body += "\nlimit: " + FormatCompact(*o.limit);
  if (!o.message.empty()) tc.body += "\n" + o.message;
  if (run.dry_run) {
    tc.outcome = Outcome::kSkipped;
    tc.type = "dry-run";
    tc.message = "dry run: nothing was injected or measured";
  } else if (!o.passed) {
    tc.outcome = Outcome::kFailure;
    tc.type = o.type.empty() ? "objective" : o.type;
    // The composed phrase always carries the numbers; the engine's own wording goes in the body.
    tc.message = phrase.empty() ? o.message : phrase;
  }
  return tc;
}

// Steady state held in a window when every verifier that measured it met its SLO.
TestCase SteadyStateCase(const RunResult& run, const ExperimentResult& e, bool before) {
  TestCase tc;
  tc.name = before ? "steady state before" : "steady state after";
  tc.type = "steady-state";
  std::string failing;
  size_t measured = 0;
  for (const auto& v : e.verifiers) {
    const std::optional<double>& ratio = before ? v.steady_before : v.steady_after;
    std::string line = v.name + ": ";
    if (!ratio) {
      line += "not measured";
    } else {
      ++measured;
      line += FormatPercent(*ratio) + " passing, SLO " + FormatPercent(v.slo_success_ratio);
      if (*ratio + kRatioEpsilon < v.slo_success_ratio) {
        if (!failing.empty()) failing += "; ";
        failing += v.name + " " + FormatPercent(*ratio) + " passing, SLO " +
                   FormatPercent(v.slo_success_ratio);
      }
    }
    if (!tc.body.empty()) tc.body += '\n';
    tc.body += line;
  }
  if (run.dry_run) {
    tc.outcome = Outcome::kSkipped;
    tc.type = "dry-run";
    tc.message = "dry run: nothing was measured";
  } else if (!failing.empty()) {
    tc.outcome = Outcome::kFailure;
    tc.message = failing;
  } else if (measured == 0) {
    tc.outcome = Outcome::kSkipped;
    tc.type = "not-measured";
    tc.message =
        e.verifiers.empty() ? "the experiment has no verifier" : "no verifier measured this window";
  }
  return tc;
}

TestCase RevertCase(const RunResult& run, const ExperimentResult& e) {
  TestCase tc;
  tc.name = "every fault reverted";
  tc.type = "revert";
  std::string failed;
  size_t injected = 0;
  for (const auto& f : e.faults) {
    if (f.revert != RevertState::kNotInjected) ++injected;
    std::string line = f.id + " (" + f.kind + " on " + f.target + "): " + RevertStateName(f.revert);
    if (!f.error.empty()) line += ": " + f.error;
    if (!f.revert_note.empty()) line += " (NOTE: " + f.revert_note + ")";
    if (!f.observed.empty()) line += " (observed: " + f.observed + ")";
    if (!tc.body.empty()) tc.body += '\n';
    tc.body += line;
    if (f.revert == RevertState::kFailed) {
      if (!failed.empty()) failed += "; ";
      failed += "revert of " + f.kind + " on " + f.target + " failed";
      if (!f.error.empty()) failed += ": " + f.error;
    }
  }
  if (!failed.empty()) {
    tc.outcome = Outcome::kFailure;
    tc.message = failed;
  } else if (run.dry_run || injected == 0) {
    tc.outcome = Outcome::kSkipped;
    tc.type = run.dry_run ? "dry-run" : "no-fault";
    tc.message = run.dry_run ? "dry run: nothing was injected" : "no fault was injected";
  }
  return tc;
}

TestCase CompletionCase(const ExperimentResult& e) {
  TestCase tc;
  tc.name = "experiment ran to completion";
  tc.time_s = e.duration_s;
  if (e.status == ExperimentStatus::kAborted || e.status == ExperimentStatus::kError) {
    tc.outcome = Outcome::kError;
    tc.type = ExperimentStatusName(e.status);
    // The engine's first reason already says what happened ("aborted: ...").
    tc.message = !e.reasons.empty()                       ? e.reasons.front()
                 : e.status == ExperimentStatus::kAborted ? "aborted"
                                                          : "the experiment ended in error";
    for (const auto& r : e.reasons) {
      if (!tc.body.empty()) tc.body += '\n';
      tc.body += r;
    }
  }
  return tc;
}

// The experiment-level verdict on an expected failure: a passing case when it failed as expected
// (its system-out says why it was expected to and how it failed), a failure when it passed.
std::optional<TestCase> ExpectedFailureCase(const RunResult& run, const ExperimentResult& e) {
  if (e.expected_failure.empty()) return std::nullopt;
  TestCase tc;
  tc.name = "fails as expected";
  const ExperimentOutcome outcome = OutcomeOf(e);
  if (run.dry_run) {
    tc.outcome = Outcome::kSkipped;
    tc.type = "dry-run";
    tc.message = "dry run: nothing was injected or measured";
  } else if (outcome == ExperimentOutcome::kExpectedFailure) {
    const FailureExplanation x = ExplainFailure(e);
    tc.out = "failed as expected\nexpected failure: " + x.expected + "\n";
    for (const auto& o : x.objectives) tc.out += "objective failed: " + o + "\n";
    for (const auto& v : x.verifier_errors) tc.out += v + "\n";
    for (const auto& r : x.other) tc.out += "also: " + r + "\n";
  } else if (outcome == ExperimentOutcome::kUnexpectedPass) {
    tc.outcome = Outcome::kFailure;
    tc.type = "unexpected-pass";
    tc.message = "expected to fail but passed: every objective held";
    tc.body = "expected failure: " + e.expected_failure;
  } else if (e.status == ExperimentStatus::kFailed) {
    tc.outcome = Outcome::kFailure;
    tc.type = "expected-failure-not-judged";
    tc.message = "the expected failure could not be judged: no objective was measured to fail";
    tc.body = "expected failure: " + e.expected_failure;
    for (const auto& r : e.reasons) tc.body += "\n" + r;
  } else {
    // Aborted or in error: the completion case reports it.
    tc.outcome = Outcome::kSkipped;
    tc.type = ExperimentStatusName(e.status);
    tc.message = "not judged: the experiment was " + std::string(ExperimentStatusName(e.status));
  }
  return tc;
}

// In an experiment that failed as expected, the failures are the expected ones: they pass, and
// say in their own system-out that they failed and why that was expected.
void AcceptExpectedFailures(const ExperimentResult& e, std::vector<TestCase>* cases) {
  if (OutcomeOf(e) != ExperimentOutcome::kExpectedFailure) return;
  for (TestCase& tc : *cases) {
    if (tc.outcome != Outcome::kFailure) continue;
    tc.out = "failed as expected (" + e.expected_failure + "): " + tc.message + "\n" + tc.body;
    tc.outcome = Outcome::kPass;
    tc.type.clear();
    tc.message.clear();
    tc.body.clear();
  }
}

// Plain-text summary for the CI log: the numbers a person looks for first.
std::string SystemOut(const ExperimentResult& e) {
  std::string out = "experiment " + e.name + ": " + ExperimentStatusName(e.status) + "\n";
  const ExperimentOutcome outcome = OutcomeOf(e);
  if (outcome != OutcomeOfStatus(e.status)) {
    out += "outcome: " + std::string(OutcomeText(outcome)) + "\n";
  }
  if (!e.expected_failure.empty()) out += "expected failure: " + e.expected_failure + "\n";
  for (const auto& r : e.reasons) out += "  reason: " + r + "\n";
  if (outcome == ExperimentOutcome::kExpectedFailure) {
    for (const auto& v : ExplainFailure(e).verifier_errors) out += "  " + v + "\n";
  }
  for (const auto& line : RoundLines(e)) out += "round: " + line + "\n";
  for (const auto& v : e.verifiers) {
    const RecoveryMetrics& m = v.overall;
    out += "verifier " + v.name + " (" + v.kind + "): ";
    out += "detect " + (m.time_to_detect_s
                            ? FormatSecondsWithBound(*m.time_to_detect_s, m.detect_bound_s)
                            : std::string(m.impact ? "n/a" : "no impact"));
    out += ", recover " + (m.time_to_recover_s
                               ? FormatSecondsWithBound(*m.time_to_recover_s, m.recover_bound_s)
                               : std::string(m.impact ? "not recovered" : "no impact"));
    out += ", downtime " + FormatSeconds(m.downtime_s);
    out += ", availability " + FormatPercent(m.availability);
    out += ", samples " + std::to_string(m.samples) + " (" + std::to_string(m.failing) +
           " failing, " + std::to_string(m.unknown) + " unknown)\n";
  }
  for (const auto& f : e.faults) {
    out += "fault " + f.id + ": " + f.kind + " on " + f.target + ", injected at " +
           FormatTimeOffset(f.t_inject) + ", reverted " +
           (f.t_revert ? "at " + FormatTimeOffset(*f.t_revert) : std::string("-")) + ", " +
           RevertStateName(f.revert) + (f.error.empty() ? "" : " (" + f.error + ")") +
           (f.revert_note.empty() ? "" : " (NOTE: " + f.revert_note + ")") +
           (f.observed.empty() ? "" : "\n  observed: " + f.observed) + "\n";
  }
  for (const auto& ev : e.events) {
    out += FormatTimeOffset(ev.t) + "  " + ev.source + ": " + ev.message + "\n";
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// XML

void Attr(std::string* out, const char* name, std::string_view value) {
  *out += ' ';
  *out += name;
  *out += "=\"";
  AppendMarkupEscaped(out, value, /*attribute=*/true);
  *out += '"';
}

// junit-10.xsd's SUREFIRE_TIME: digits with an optional fraction, never negative.
std::string JunitTime(double s) {
  if (!std::isfinite(s) || s < 0) s = 0;
  return FormatFixed(s, 3);
}

void WriteTestCase(std::string* out, const std::string& classname, const TestCase& tc) {
  *out += "    <testcase";
  Attr(out, "name", tc.name.empty() ? "(unnamed)" : tc.name);
  Attr(out, "classname", classname);
  Attr(out, "time", JunitTime(tc.time_s));
  const char* element = nullptr;
  switch (tc.outcome) {
    case Outcome::kPass:
      break;
    case Outcome::kFailure:
      element = "failure";
      break;
    case Outcome::kError:
      element = "error";
      break;
    case Outcome::kSkipped:
      element = "skipped";
      break;
  }
  if (!element && tc.out.empty()) {
    *out += "/>\n";
    return;
  }
  *out += ">\n";
  if (element) {
    *out += "      <";
    *out += element;
    Attr(out, "type", tc.type);
    Attr(out, "message", tc.message);
    *out += '>';
    AppendMarkupEscaped(out, tc.body);
    *out += "</";
    *out += element;
    *out += ">\n";
  }
  if (!tc.out.empty()) {
    *out += "      <system-out>";
    AppendMarkupEscaped(out, tc.out);
    *out += "</system-out>\n";
  }
  *out += "    </testcase>\n";
}

void Property(std::string* out, const char* name, std::string_view value) {
  *out += "      <property";
  Attr(out, "name", name);
  Attr(out, "value", value);
  *out += "/>\n";
}

std::string RenderSuite(const RunResult& run, const ExperimentResult& e, size_t index,
                        Counts* totals) {
  std::vector<TestCase> cases;
  cases.push_back(SteadyStateCase(run, e, /*before=*/true));
  for (const auto& o : e.objectives) cases.push_back(ObjectiveCase(run, o));
  cases.push_back(SteadyStateCase(run, e, /*before=*/false));
  cases.push_back(RevertCase(run, e));
  cases.push_back(CompletionCase(e));
  AcceptExpectedFailures(e, &cases);
  if (auto xf = ExpectedFailureCase(run, e)) cases.push_back(std::move(*xf));
  Counts c;
  for (const auto& tc : cases) {
    c.Add(tc);
    totals->Add(tc);
  }
  std::string classname = "gameday." + e.name;
  std::string out = "  <testsuite";
  Attr(&out, "name", e.name.empty() ? "(unnamed)" : e.name);
  Attr(&out, "tests", std::to_string(c.tests));
  Attr(&out, "failures", std::to_string(c.failures));
  Attr(&out, "errors", std::to_string(c.errors));
  Attr(&out, "skipped", std::to_string(c.skipped));
  Attr(&out, "time", JunitTime(e.duration_s));
  Attr(&out, "timestamp", FormatIsoSecondsUtc(e.start_wall));
  Attr(&out, "id", std::to_string(index));
  Attr(&out, "package", "gameday");
  out += ">\n    <properties>\n";
  Property(&out, "run_id", run.run_id);
  Property(&out, "plan_name", run.plan_name);
  Property(&out, "plan_file", run.plan_file);
  Property(&out, "seed", std::to_string(run.seed));
  Property(&out, "dry_run", run.dry_run ? "true" : "false");
  Property(&out, "status", ExperimentStatusName(e.status));
  Property(&out, "outcome", ExperimentOutcomeName(OutcomeOf(e)));
  if (!e.expected_failure.empty()) Property(&out, "expected_failure", e.expected_failure);
  for (const auto& [k, v] : e.labels) Property(&out, ("label." + k).c_str(), v);
  out += "    </properties>\n";
  for (const auto& tc : cases) WriteTestCase(&out, classname, tc);
  out += "    <system-out>";
  AppendMarkupEscaped(&out, SystemOut(e));
  out += "</system-out>\n  </testsuite>\n";
  return out;
}

}  // namespace

std::string RenderJunit(const RunResult& run) {
  Counts totals;
  std::string suites;
  double time_s = 0;
  for (size_t i = 0; i < run.experiments.size(); ++i) {
    suites += RenderSuite(run, run.experiments[i], i, &totals);
    if (std::isfinite(run.experiments[i].duration_s) && run.experiments[i].duration_s > 0) {
      time_s += run.experiments[i].duration_s;
    }
  }
  std::string out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites";
  Attr(&out, "name", "gameday: " + (run.plan_name.empty() ? run.plan_file : run.plan_name));
  Attr(&out, "tests", std::to_string(totals.tests));
  Attr(&out, "failures", std::to_string(totals.failures));
  Attr(&out, "errors", std::to_string(totals.errors));
  Attr(&out, "time", JunitTime(time_s));
  out += ">\n";
  out += suites;
  out += "</testsuites>\n";
  return out;
}

}  // namespace gameday
