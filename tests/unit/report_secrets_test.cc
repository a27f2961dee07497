// What the reports say beyond the numbers: a revert that could not restore everything carries a
// note through JSON (round trip), HTML and JUnit; and no renderer prints a secret, even one that
// reached the result model unredacted (a result written by an older version).

#include <gtest/gtest.h>

#include <string>

#include "reports/html_report.h"
#include "reports/json_report.h"
#include "reports/junit_report.h"
#include "reports/report_text.h"
#include "tests/unit/report_fixture.h"

namespace gameday {
namespace {

constexpr char kNote[] =
    "restarted without some of its environment variables: DB_PASSWORD (secret-looking, never "
    "written to the journal)";

RunResult RunWithNote() {
  RunResult run = testing::RichRun(20);
  FaultResult& f = run.experiments[0].faults[1];
  f.revert = RevertState::kReverted;
  f.error.clear();
  f.kind = "process";
  f.target = "pid 4242 /usr/bin/api --port 80";
  f.revert_note = kNote;
  return run;
}

TEST(ReportSecretsTest, RevertNoteRoundTripsThroughJson) {
  const RunResult run = RunWithNote();
  const std::string json = RenderJson(run);
  EXPECT_NE(json.find("\"revert_note\": \"restarted without"), std::string::npos);
  auto parsed = ParseJsonResult(json);
  ASSERT_TRUE(parsed.ok()) << parsed.status().message();
  EXPECT_EQ(parsed->experiments[0].faults[1].revert_note, kNote);
  EXPECT_EQ(parsed->experiments[0].faults[0].revert_note, "");
  EXPECT_EQ(RenderJson(*parsed), json);

  // Only added: a fault without a note is written exactly as before, and a result without the
  // field reads as no note.
  const std::string plain = RenderJson(testing::RichRun(20));
  EXPECT_EQ(plain.find("revert_note"), std::string::npos);
  auto old = ParseJsonResult(plain);
  ASSERT_TRUE(old.ok());
  for (const auto& f : old->experiments[0].faults) EXPECT_EQ(f.revert_note, "");

  std::string bad = json;
  bad.replace(bad.find("\"revert_note\": \""), 16, "\"revert_note\": 7, \"x\": \"");
  auto refused = ParseJsonResult(bad);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("faults[1].revert_note: expected a string"),
            std::string::npos)
      << refused.status().message();
}

TEST(ReportSecretsTest, RevertNoteIsShownInHtmlAndJunit) {
  const RunResult run = RunWithNote();
  const std::string html = RenderHtml(run);
  EXPECT_NE(html.find("<span class=\"revert-note\">restarted without some of its environment"),
            std::string::npos);
  EXPECT_NE(html.find("Reverted with a caveat: process on pid 4242"), std::string::npos);
  // Not painted green like a clean revert.
  EXPECT_EQ(html.find("revert-status ok\">reverted<br><span class=\"revert-note\""),
            std::string::npos);
  const std::string junit = RenderJunit(run);
  EXPECT_NE(junit.find("reverted (NOTE: restarted without some of its environment variables"),
            std::string::npos)
      << junit;
}

// What a revert saw (the stages of a node failure, a container's restart) is information, not a
// caveat: its own field, shown as "Observed:", with the revert still painted as clean.
TEST(ReportSecretsTest, ObservedRoundTripsAndIsNotACaveat) {
  RunResult run = testing::RichRun(20);
  FaultResult& f = run.experiments[0].faults[1];
  f.revert = RevertState::kReverted;
  f.error.clear();
  f.kind = "container-kill";
  f.target = "pod shop/web-1";
  f.observed = "container app of pod shop/web-1: restartCount 0 -> 1";
  const std::string json = RenderJson(run);
  EXPECT_NE(json.find("\"observed\": \"container app of pod shop/web-1: restartCount 0 -> 1\""),
            std::string::npos);
  EXPECT_EQ(json.find("revert_note"), std::string::npos);
  auto parsed = ParseJsonResult(json);
  ASSERT_TRUE(parsed.ok()) << parsed.status().message();
  EXPECT_EQ(parsed->experiments[0].faults[1].observed, f.observed);
  EXPECT_EQ(parsed->experiments[0].faults[0].observed, "");
  EXPECT_EQ(RenderJson(*parsed), json);
  std::string bad = json;
  bad.replace(bad.find("\"observed\": \""), 13, "\"observed\": 7, \"x\": \"");
  auto refused = ParseJsonResult(bad);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("faults[1].observed: expected a string"),
            std::string::npos)
      << refused.status().message();

  const std::string html = RenderHtml(run);
  EXPECT_NE(html.find("revert-status ok\">reverted<br><span class=\"observed\">Observed: "
                      "container app of pod shop/web-1: restartCount 0 -&gt; 1</span>"),
            std::string::npos);
  EXPECT_EQ(html.find("caveat"), std::string::npos);
  EXPECT_NE(RenderJunit(run).find("\n  observed: container app of pod shop/web-1: restartCount 0 "),
            std::string::npos);
}

TEST(ReportSecretsTest, NoRendererPrintsASecretThatReachedTheModel) {
  RunResult run = testing::RichRun(20);
  run.plan_file = "plans/x.yaml";
  ExperimentResult& e = run.experiments[0];
  e.description = "GET https://ci:hunter2@127.0.0.1:8443/health?access_token=hunter2";
  e.faults[0].target = "pid 7 /usr/bin/api --password=hunter2 --token hunter2";
  e.faults[1].error = "restart failed: Authorization: Bearer hunter2";
  e.faults[1].observed = "node w1: the lease could not be read (http://u:hunter2@127.0.0.1/)";
  e.reasons.push_back("pushgateway: cannot push to http://ci:hunter2@127.0.0.1:9091");
  e.events.push_back({1.0, "fault", "injected freeze: pid 7 (api DB_PASSWORD=hunter2)"});
  e.verifiers[0].description = "PromQL up at http://u:hunter2@127.0.0.1:9090";
  e.verifiers[0].samples[3].detail = "redirected to http://u:hunter2@127.0.0.1/";
  e.objectives[0].message = "token=hunter2";

  for (const auto& [name, text] : {std::pair<std::string, std::string>{"json", RenderJson(run)},
                                   {"html", RenderHtml(run)},
                                   {"junit", RenderJunit(run)},
                                   {"text", RenderTextSummary(run)}}) {
    EXPECT_EQ(text.find("hunter2"), std::string::npos) << name;
  }
  const std::string json = RenderJson(run);
  EXPECT_NE(json.find("https://ci:***@127.0.0.1:8443/health?access_token=***"), std::string::npos);
  EXPECT_NE(json.find("--password=*** --token ***"), std::string::npos);
}

}  // namespace
}  // namespace gameday
