// The verdict gameday writes to Kubernetes' termination message: the first line says the run's
// verdict, plan and run id; one line per experiment with its recovery and first reason; never
// more than the 4096 bytes the kubelet keeps, cut on line and character boundaries.

#include "reports/termination_message.h"

#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

#include "reports/report_text.h"

namespace gameday {
namespace {

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

FaultResult Injected() {
  FaultResult f;
  f.id = "e/kill/1";
  f.kind = "pod-kill";
  f.revert = RevertState::kNotNeeded;
  return f;
}

VerifierResult Recovered(const std::string& name, double seconds) {
  VerifierResult v;
  v.name = name;
  v.overall.impact = true;
  v.overall.recovered = true;
  v.overall.time_to_recover_s = seconds;
  v.overall.recover_bound_s = std::make_pair(seconds - 0.02, seconds + 0.02);
  return v;
}

RunResult ShopRun() {
  RunResult run;
  run.run_id = "20250315T093012Z-0123456789abcdef0123456789abcdef";
  run.plan_file = "/plans/shop.yaml";
  run.plan_name = "shop-ha";

  ExperimentResult kill;
  kill.name = "pod-kill";
  kill.status = ExperimentStatus::kPassed;
  kill.faults.push_back(Injected());
  kill.verifiers.push_back(Recovered("frontend", 2.34));
  kill.verifiers.push_back(Recovered("checkout", 1.5));
  VerifierResult calm;
  calm.name = "catalog";
  kill.verifiers.push_back(calm);
  run.experiments.push_back(kill);

  ExperimentResult drain;
  drain.name = "node-drain";
  drain.status = ExperimentStatus::kFailed;
  drain.faults.push_back(Injected());
  VerifierResult down = Recovered("frontend", 0);
  down.overall.recovered = false;
  down.overall.time_to_recover_s.reset();
  down.overall.recover_bound_s.reset();
  drain.verifiers.push_back(down);
  drain.reasons = {"frontend recovers within 10s: did not recover", "second reason"};
  run.experiments.push_back(drain);

  ExperimentResult calm_run;
  calm_run.name = "etcd-follower";
  calm_run.status = ExperimentStatus::kPassed;
  calm_run.faults.push_back(Injected());
  calm_run.verifiers.push_back(calm);
  run.experiments.push_back(calm_run);
  return run;
}

TEST(TerminationMessageTest, FirstLineIsTheVerdictThenOneLinePerExperiment) {
  const std::string text = RenderTerminationMessage(ShopRun(), 1);
  const std::vector<std::string> lines = Lines(text);
  ASSERT_EQ(lines.size(), 4u) << text;
  EXPECT_EQ(lines[0],
            "failed: plan shop-ha, run 20250315T093012Z-0123456789abcdef0123456789abcdef, 1 of 3 "
            "experiment(s) not passed, exit 1");
  // The slowest verifier's recovery, with the error bar the reports print.
  EXPECT_EQ(lines[1], "passed pod-kill: frontend recovered in " +
                          FormatSecondsWithBound(2.34, std::make_pair(2.32, 2.36)));
  EXPECT_EQ(lines[2],
            "failed node-drain: frontend not recovered; why: frontend recovers within 10s: did "
            "not recover");
  EXPECT_EQ(lines[3], "passed etcd-follower: no impact");
  EXPECT_EQ(text.back(), '\n');
}

TEST(TerminationMessageTest, VerdictFollowsTheExitCode) {
  RunResult run = ShopRun();
  EXPECT_EQ(Lines(RenderTerminationMessage(run, 0))[0].rfind("passed: plan shop-ha", 0), 0u);
  EXPECT_EQ(Lines(RenderTerminationMessage(run, 3))[0].rfind("aborted: plan shop-ha", 0), 0u);
  // A signal, or a report that could not be written, shows as a note under the verdict.
  const std::vector<std::string> lines =
      Lines(RenderTerminationMessage(run, 3, {"interrupted by SIGTERM", "report: disk full"}));
  ASSERT_GE(lines.size(), 3u);
  EXPECT_EQ(lines[1], "note: interrupted by SIGTERM");
  EXPECT_EQ(lines[2], "note: report: disk full");
  // Without a plan name, the plan's file.
  run.plan_name.clear();
  EXPECT_NE(RenderTerminationMessage(run, 1).find("plan /plans/shop.yaml,"), std::string::npos);
}

// A run refused before it started (another run holds the lock) has no experiments, only a note.
TEST(TerminationMessageTest, ARunRefusedBeforeItStartedSaysWhy) {
  RunResult run = ShopRun();
  run.experiments.clear();
  const std::string text =
      RenderTerminationMessage(run, 3, {"lock: cannot lock namespace shop: held by run X"});
  EXPECT_EQ(text,
            "aborted: plan shop-ha, run 20250315T093012Z-0123456789abcdef0123456789abcdef, 0 of 0 "
            "experiment(s) not passed, exit 3\nnote: lock: cannot lock namespace shop: held by run "
            "X\n");
}

TEST(TerminationMessageTest, NothingInjectedAndDryRunsSaySo) {
  RunResult run = ShopRun();
  run.experiments[0].faults[0].revert = RevertState::kNotInjected;
  EXPECT_EQ(Lines(RenderTerminationMessage(run, 1))[1], "passed pod-kill: no faults");
  run.dry_run = true;
  const std::vector<std::string> lines = Lines(RenderTerminationMessage(run, 0));
  EXPECT_NE(lines[0].find(", dry run"), std::string::npos) << lines[0];
  EXPECT_EQ(lines[3], "passed etcd-follower: dry run");
}

TEST(TerminationMessageTest, ExpectedFailuresUseTheirOutcome) {
  RunResult run = ShopRun();
  run.experiments[1].status = ExperimentStatus::kPassed;
  run.experiments[1].outcome = ExperimentOutcome::kExpectedFailure;
  EXPECT_EQ(Lines(RenderTerminationMessage(run, 0))[2].rfind("failed as expected node-drain:", 0),
            0u);
}

TEST(TerminationMessageTest, ReasonsBecomeOneSafeLine) {
  RunResult run = ShopRun();
  // An HTTP body with newlines, a token, a control character and a broken UTF-8 sequence.
  run.experiments[1].reasons[0] =
      "probe: HTTP 500\n<html>\r\nAuthorization: Bearer abcdefghijklmnop\x01 \xC3 end";
  const std::string text = RenderTerminationMessage(run, 1);
  const std::vector<std::string> lines = Lines(text);
  ASSERT_EQ(lines.size(), 4u) << text;
  EXPECT_TRUE(IsValidUtf8(text));
  EXPECT_EQ(text.find("abcdefghijklmnop"), std::string::npos) << text;
  EXPECT_EQ(text.find('\r'), std::string::npos);
  EXPECT_EQ(text.find('\x01'), std::string::npos);
  EXPECT_NE(lines[2].find("probe: HTTP 500 <html>"), std::string::npos) << lines[2];
}

TEST(TerminationMessageTest, NeverLongerThanTheKubeletKeepsAndCutsCleanly) {
  RunResult run = ShopRun();
  const ExperimentResult failed = run.experiments[1];
  run.experiments.clear();
  for (int i = 0; i < 200; ++i) {
    ExperimentResult e = failed;
    e.name = "experiment-" + std::to_string(i);
    // Multi-byte characters everywhere, so a byte cut would split one.
    e.reasons[0] = "objective failed: ";
    for (int k = 0; k < 300; ++k) e.reasons[0] += "é€";
    run.experiments.push_back(e);
  }
  run.plan_name = std::string(5000, 'p');
  const std::string text =
      RenderTerminationMessage(run, 1, {std::string(3000, 'n'), "a second note"});
  EXPECT_LE(text.size(), kTerminationMessageLimit);
  EXPECT_GT(text.size(), kTerminationMessageLimit - 450);  // the room is used
  EXPECT_TRUE(IsValidUtf8(text));
  const std::vector<std::string> lines = Lines(text);
  ASSERT_GE(lines.size(), 4u);
  EXPECT_EQ(lines[0].rfind("failed: plan ppp", 0), 0u);
  EXPECT_LE(lines[0].size(), 400u);
  EXPECT_NE(lines[0].find("…"), std::string::npos);
  // Every experiment line is cut with a mark, and whole; the last line counts what is left out.
  size_t experiments = 0;
  for (const std::string& l : lines) {
    if (l.rfind("failed experiment-", 0) != 0) continue;
    ++experiments;
    EXPECT_LE(l.size(), 400u);
    EXPECT_EQ(l.substr(l.size() - 3), "…");
  }
  EXPECT_GT(experiments, 0u);
  EXPECT_EQ(lines.back(),
            "… and " + std::to_string(200 - experiments) + " more experiment(s): see result.json");
  EXPECT_EQ(text.back(), '\n');

  // A smaller limit is honoured the same way.
  const std::string small = RenderTerminationMessage(run, 1, {}, 1024);
  EXPECT_LE(small.size(), 1024u);
  EXPECT_TRUE(IsValidUtf8(small));
  EXPECT_NE(small.find("more experiment(s)"), std::string::npos);
}

TEST(TerminationMessageTest, ExactFitNeedsNoMoreLine) {
  RunResult run = ShopRun();
  const std::string whole = RenderTerminationMessage(run, 1);
  ASSERT_GT(whole.size(), 257u);  // above the smallest limit the builder accepts
  // Exactly as long as the whole text: everything is there, and no "more" line.
  EXPECT_EQ(RenderTerminationMessage(run, 1, {}, whole.size()), whole);
  const std::string shorter = RenderTerminationMessage(run, 1, {}, whole.size() - 1);
  EXPECT_LE(shorter.size(), whole.size() - 1);
  EXPECT_NE(shorter.find("more experiment(s)"), std::string::npos) << shorter;
}

}  // namespace
}  // namespace gameday
