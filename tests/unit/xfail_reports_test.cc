// Expected failures and repeated steps in every report: result.json (exact round trip, older
// documents, inconsistent outcomes), the HTML page, JUnit XML and the text summary.
#include <gtest/gtest.h>

#include "experiments/engine.h"
#include "reports/html_report.h"
#include "reports/json_report.h"
#include "reports/junit_report.h"
#include "reports/report_text.h"
#include "tests/unit/report_fixture.h"

namespace gameday {
namespace {

using testing::MakeSamples;
using testing::Us;
using testing::WallMs;

ObjectiveResult Objective(const std::string& name, const std::string& type, bool passed,
                          const std::string& message) {
  ObjectiveResult o;
  o.name = name;
  o.verifier = "etcd";
  o.type = type;
  o.passed = passed;
  o.measured = 4.5;
  o.limit = 2;
  o.message = message;
  return o;
}

ExperimentResult Base(const std::string& name) {
  ExperimentResult e;
  e.name = name;
  e.start_wall = WallMs(1714566897000);
  e.end_wall = WallMs(1714566957000);
  e.duration_s = 60;
  e.t_first_inject = 5;
  VerifierResult v;
  v.name = "etcd";
  v.kind = "etcd";
  v.interval_s = 0.02;
  v.samples = MakeSamples(400, 0, 20000, 5.0, 6.0);
  for (Sample& s : v.samples) {
    if (s.health == Health::kUnhealthy) s.detail = "context deadline exceeded (etcd timeout)";
  }
  v.overall.impact = true;
  v.overall.time_to_detect_s = 0;
  v.overall.downtime_s = 1;
  v.overall.availability = 0.8;
  e.verifiers.push_back(v);
  return e;
}

// An expected failure that failed, one that passed, and a passing experiment with a repeated
// step of two rounds.
RunResult XfailRun() {
  RunResult run;
  run.run_id = "run-xfail";
  run.plan_file = "a.yaml, b.yaml";
  run.plan_name = "a+b";
  run.gameday_version = "0.1.0";
  run.start_wall = WallMs(1714566896000);
  run.end_wall = WallMs(1714567000000);

  ExperimentResult x = Base("quorum-loss");
  x.status = ExperimentStatus::kPassed;
  x.outcome = ExperimentOutcome::kExpectedFailure;
  x.expected_failure = "etcd loses quorum when 2 of 3 members stop";
  x.objectives.push_back(Objective("etcd downtime at most 2.00 s", "max_downtime", false,
                                   "downtime 4.500 s, budget 2.00 s"));
  x.objectives.push_back(Objective("etcd detects the fault", "must_detect", true, "detected"));
  x.reasons = {"etcd downtime at most 2.00 s: downtime 4.500 s, budget 2.00 s"};
  run.experiments.push_back(x);

  ExperimentResult p = Base("fixed-bug");
  p.status = ExperimentStatus::kFailed;
  p.outcome = ExperimentOutcome::kUnexpectedPass;
  p.expected_failure = "bug 42: the leader never steps down";
  p.objectives.push_back(Objective("etcd downtime at most 2.00 s", "max_downtime", true, "ok"));
  p.reasons = {
      "expected to fail but passed: every objective held (expected failure: bug 42: the leader "
      "never steps down)"};
  run.experiments.push_back(p);

  ExperimentResult r = Base("kill-repeatedly");
  r.status = ExperimentStatus::kPassed;
  for (int round = 1; round <= 2; ++round) {
    FaultResult f;
    f.id = "kill-repeatedly/kill/" + std::to_string(round);
    f.step = "kill";
    f.kind = "pod-kill";
    f.target = "shop/web-" + std::to_string(round);
    f.target_id = f.target + "/uid";
    f.round = round;
    f.t_inject = Us(5000000 + (round - 1) * 10000000);
    f.revert = RevertState::kNotNeeded;
    r.faults.push_back(f);
  }
  run.experiments.push_back(r);
  return run;
}

TEST(XfailJsonTest, RoundTripIsExact) {
  const RunResult run = XfailRun();
  const std::string json = RenderJson(run);
  EXPECT_NE(json.find("\"outcome\": \"expected-failure\""), std::string::npos);
  EXPECT_NE(json.find("\"outcome\": \"unexpected-pass\""), std::string::npos);
  EXPECT_NE(json.find("\"outcome\": \"passed\""), std::string::npos);
  EXPECT_NE(json.find("\"expected_failure\": \"etcd loses quorum when 2 of 3 members stop\""),
            std::string::npos);
  EXPECT_NE(json.find("\"round\": 2"), std::string::npos);
  EXPECT_NE(json.find("\"status\": \"failed\""), std::string::npos);  // the unexpected pass
  Result<RunResult> parsed = ParseJsonResult(json);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  ASSERT_EQ(parsed->experiments.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    const ExperimentResult& a = run.experiments[i];
    const ExperimentResult& b = parsed->experiments[i];
    EXPECT_EQ(a.status, b.status) << i;
    EXPECT_EQ(a.outcome, b.outcome) << i;
    EXPECT_EQ(a.expected_failure, b.expected_failure) << i;
    ASSERT_EQ(a.faults.size(), b.faults.size()) << i;
    for (size_t k = 0; k < a.faults.size(); ++k) EXPECT_EQ(a.faults[k].round, b.faults[k].round);
  }
  EXPECT_EQ(RenderJson(*parsed), json);
  EXPECT_EQ(ExitCodeFor(*parsed), 1);  // the unexpected pass fails the run
}

TEST(XfailJsonTest, ResultsWithoutTheNewFieldsStillRead) {
  RunResult run = XfailRun();
  run.experiments.resize(1);
  run.experiments[0].outcome.reset();
  run.experiments[0].expected_failure.clear();
  std::string json = RenderJson(run);
  for (const char* key : {"    \"outcome\": \"passed\",\n", "    \"expected_failure\": \"\",\n"}) {
    const size_t at = json.find(key);
    ASSERT_NE(at, std::string::npos) << key;
    json.erase(at, std::string(key).size());
  }
  Result<RunResult> parsed = ParseJsonResult(json);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(OutcomeOf(parsed->experiments[0]), ExperimentOutcome::kPassed);
  EXPECT_FALSE(parsed->experiments[0].outcome.has_value());
}

TEST(XfailJsonTest, AnOutcomeThatContradictsTheStatusIsRejected) {
  RunResult run = XfailRun();
  std::string json = RenderJson(run);
  const std::string from = "\"outcome\": \"unexpected-pass\"";
  json.replace(json.find(from), from.size(), "\"outcome\": \"expected-failure\"");
  Result<RunResult> parsed = ParseJsonResult(json);
  ASSERT_FALSE(parsed.ok());
  EXPECT_NE(parsed.status().message().find("experiments[1].outcome"), std::string::npos)
      << parsed.status().message();

  std::string unknown = RenderJson(run);
  const std::string passed = "\"outcome\": \"passed\"";
  unknown.replace(unknown.find(passed), passed.size(), "\"outcome\": \"maybe\"");
  EXPECT_FALSE(ParseJsonResult(unknown).ok());
}

TEST(XfailHtmlTest, ShowsTheBadgeTheReasonAndWhyItFailed) {
  const std::string html = RenderHtml(XfailRun());
  const size_t section = html.find("<section class=\"experiment\" id=\"exp-0\"");
  ASSERT_NE(section, std::string::npos);
  const size_t next = html.find("<section class=\"experiment\" id=\"exp-1\"");
  const std::string x = html.substr(section, next - section);
  EXPECT_NE(x.find("<span class=\"experiment-verdict verdict xfail\" "
                   "data-outcome=\"expected-failure\">failed as expected</span>"),
            std::string::npos);
  EXPECT_NE(x.find("<span class=\"xfail-reason\">etcd loses quorum when 2 of 3 members "
                   "stop</span>"),
            std::string::npos);
  EXPECT_NE(x.find("<li class=\"xfail-objective\">etcd downtime at most 2.00 s: downtime "
                   "4.500 s, budget 2.00 s</li>"),
            std::string::npos);
  EXPECT_NE(x.find("<li class=\"xfail-error\">etcd: last error at 5.980 s: context deadline "
                   "exceeded (etcd timeout)</li>"),
            std::string::npos);
  EXPECT_EQ(x.find("class=\"failure-reason\""), std::string::npos);  // not shown as a failure

  const std::string p = html.substr(next, html.find("id=\"exp-2\"") - next);
  EXPECT_NE(p.find(">passed unexpectedly</span>"), std::string::npos);
  EXPECT_NE(p.find("<li class=\"failure-reason\">expected to fail but passed"), std::string::npos);
  EXPECT_NE(p.find("bug 42: the leader never steps down"), std::string::npos);

  // The summary counts them apart; the run itself failed (the unexpected pass).
  EXPECT_NE(html.find("3 experiments: 1 passed, 0 failed, 0 aborted, 0 in error, 1 failed as "
                      "expected, 1 passed unexpectedly"),
            std::string::npos);
  EXPECT_NE(html.find("<div id=\"run-verdict\" class=\"verdict failed\""), std::string::npos);
  // Every round of the repeated step with its target.
  EXPECT_NE(html.find("<li class=\"round\">kill round 1 at 5.000 s: shop/web-1</li>"),
            std::string::npos);
  EXPECT_NE(html.find("<li class=\"round\">kill round 2 at 15.000 s: shop/web-2</li>"),
            std::string::npos);
  EXPECT_NE(html.find("kill \u00b7 round 2"), std::string::npos);
}

TEST(XfailJunitTest, ExpectedFailurePassesAndSaysWhyUnexpectedPassFails) {
  const std::string xml = RenderJunit(XfailRun());
  const size_t s0 = xml.find("<testsuite name=\"quorum-loss\"");
  const size_t s1 = xml.find("<testsuite name=\"fixed-bug\"");
  const size_t s2 = xml.find("<testsuite name=\"kill-repeatedly\"");
  ASSERT_TRUE(s0 != std::string::npos && s1 != std::string::npos && s2 != std::string::npos);
  const std::string x = xml.substr(s0, s1 - s0);
  EXPECT_NE(x.find("failures=\"0\" errors=\"0\""), std::string::npos) << x.substr(0, 300);
  EXPECT_EQ(x.find("<failure"), std::string::npos);
  EXPECT_NE(x.find("<testcase name=\"fails as expected\" classname=\"gameday.quorum-loss\""),
            std::string::npos);
  EXPECT_NE(x.find("<system-out>failed as expected\nexpected failure: etcd loses quorum when 2 "
                   "of 3 members stop\nobjective failed: etcd downtime at most 2.00 s: downtime "
                   "4.500 s, budget 2.00 s\netcd: last error at 5.980 s: context deadline "
                   "exceeded (etcd timeout)\n</system-out>"),
            std::string::npos)
      << x;
  // The failing objective is a passing test case that says it failed as expected.
  EXPECT_NE(x.find("<system-out>failed as expected (etcd loses quorum when 2 of 3 members stop): "
                   "down for 4.50 s, budget 2 s"),
            std::string::npos);
  EXPECT_NE(x.find("<property name=\"outcome\" value=\"expected-failure\"/>"), std::string::npos);

  const std::string p = xml.substr(s1, s2 - s1);
  EXPECT_NE(p.find("failures=\"1\""), std::string::npos);
  EXPECT_NE(p.find("<failure type=\"unexpected-pass\" message=\"expected to fail but passed: "
                   "every objective held\">expected failure: bug 42: the leader never steps "
                   "down</failure>"),
            std::string::npos)
      << p;
  EXPECT_NE(xml.find("round: kill round 2 at 15.000 s: shop/web-2"), std::string::npos);
}

TEST(XfailTextTest, SummaryNamesTheOutcomeAndWhy) {
  const std::string text = RenderTextSummary(XfailRun());
  EXPECT_NE(text.find("XFAIL   quorum-loss (failed as expected; does not fail the run)\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("    expected to fail: etcd loses quorum when 2 of 3 members stop\n"),
            std::string::npos);
  EXPECT_NE(text.find("    failed as expected: etcd downtime at most 2.00 s: downtime 4.500 s, "
                      "budget 2.00 s\n"),
            std::string::npos);
  EXPECT_NE(text.find("    etcd: last error at 5.980 s: context deadline exceeded (etcd "
                      "timeout)\n"),
            std::string::npos);
  EXPECT_NE(text.find("XPASS   fixed-bug (expected to fail but passed)\n"), std::string::npos);
  EXPECT_NE(text.find("    why: expected to fail but passed"), std::string::npos);
  EXPECT_NE(text.find("PASSED  kill-repeatedly\n"), std::string::npos);
  EXPECT_NE(text.find("    kill round 1 at 5.000 s: shop/web-1\n"), std::string::npos);
}

}  // namespace
}  // namespace gameday
