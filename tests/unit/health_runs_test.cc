#include "experiments/health_runs.h"

#include <gtest/gtest.h>

namespace gameday {
namespace {

Sample At(double t, Health h) {
  Sample s;
  s.t_send = t;
  s.t_done = t + 0.005;
  s.health = h;
  return s;
}

constexpr Health kOk = Health::kHealthy;
constexpr Health kBad = Health::kUnhealthy;
constexpr Health kUnknown = Health::kUnknown;

TEST(StableRunTest, HoldsOncePassingRunSpansStableFor) {
  StableRun run;
  EXPECT_FALSE(run.Holds(0));  // no sample: nothing has held yet
  run.Add(At(1.0, kOk));
  EXPECT_TRUE(run.Holds(0));
  EXPECT_FALSE(run.Holds(0.5));
  run.Add(At(1.4, kOk));
  EXPECT_FALSE(run.Holds(0.5));
  run.Add(At(1.5, kOk));
  EXPECT_TRUE(run.Holds(0.5));
}

TEST(StableRunTest, FailingSampleBreaksTheRunAndUnknownDoesNot) {
  StableRun run;
  run.Add(At(1.0, kOk));
  run.Add(At(1.2, kBad));
  EXPECT_FALSE(run.Holds(0));
  run.Add(At(1.3, kOk));
  run.Add(At(1.5, kUnknown));
  run.Add(At(1.8, kOk));
  EXPECT_TRUE(run.Holds(0.5));
  EXPECT_FALSE(run.Holds(0.6));
  ASSERT_TRUE(run.start());
  EXPECT_EQ(run.start()->t_send, 1.3);
  EXPECT_EQ(run.start()->t_done, 1.305);
  EXPECT_EQ(run.start()->after_failure_sent, 1.2);
}

TEST(StableRunTest, IgnoresSamplesSentBeforeSince) {
  StableRun run(2.0);
  run.Add(At(1.0, kOk));
  run.Add(At(1.9, kBad));
  EXPECT_FALSE(run.Holds(0));
  run.Add(At(2.0, kOk));
  run.Add(At(3.0, kOk));
  EXPECT_TRUE(run.Holds(1.0));
  EXPECT_FALSE(run.start()->after_failure_sent);  // the failure came before `since`
}

TEST(StableRunTest, RestartForgetsTheRun) {
  StableRun run;
  run.Add(At(1.0, kBad));
  run.Add(At(1.1, kOk));
  run.Add(At(3.0, kOk));
  EXPECT_TRUE(run.Holds(1.0));
  run.Restart(3.5);  // a fault action completed at 3.5
  EXPECT_FALSE(run.Holds(0));
  EXPECT_FALSE(run.start());
  run.Add(At(3.5, kOk));
  run.Add(At(4.0, kOk));
  EXPECT_TRUE(run.Holds(0.5));
  EXPECT_FALSE(run.Holds(0.6));
}

TEST(FailingRunTest, TrailingFailuresSpanFailingForUntilNow) {
  FailingRun run;
  EXPECT_FALSE(run.Holds(10, 0));
  run.Add(At(1.0, kBad));
  EXPECT_TRUE(run.Holds(1.0, 0));
  EXPECT_FALSE(run.Holds(1.9, 1.0));
  run.Add(At(1.5, kUnknown));  // the probe could not tell: the run goes on
  run.Add(At(1.8, kBad));
  EXPECT_TRUE(run.Holds(2.0, 1.0));
}

TEST(FailingRunTest, PassingSampleEndsTheRun) {
  FailingRun run;
  run.Add(At(1.0, kBad));
  run.Add(At(2.0, kOk));
  EXPECT_FALSE(run.Holds(5.0, 0));
  run.Add(At(3.0, kBad));
  EXPECT_FALSE(run.Holds(3.9, 1.0));  // counted from the new run's start, 3.0
  EXPECT_TRUE(run.Holds(4.0, 1.0));
}

}  // namespace
}  // namespace gameday
