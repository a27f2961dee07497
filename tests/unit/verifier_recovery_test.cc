#include "experiments/verifier_recovery.h"

#include <gtest/gtest.h>

#include <vector>

#include "tests/unit/sample_series.h"

namespace gameday {
namespace {

Disturbance Step(const char* name, double t_inject, std::optional<double> t_revert,
                 std::vector<double> rounds = {}) {
  Disturbance d;
  d.name = name;
  d.t_inject = t_inject;
  d.t_revert = t_revert;
  d.round_starts = std::move(rounds);
  d.last_action = t_revert.value_or(d.round_starts.empty() ? t_inject : d.round_starts.back());
  return d;
}

TEST(VerifierRecoveryTest, WithoutDisturbanceTheMetricsAreEmpty) {
  VerifierRecovery recovery({}, 1, 0.5);
  for (const Sample& s : Series(0, 10, 0.5, [](double) { return Health::kUnhealthy; })) {
    recovery.Add(s);
  }
  const RecoveryMetrics m = recovery.Overall();
  EXPECT_FALSE(m.impact);
  EXPECT_FALSE(m.recovered);
  EXPECT_EQ(m.samples, 0u);
  EXPECT_TRUE(recovery.PerStep().empty());
  EXPECT_FALSE(recovery.RecoveredAt());
}

TEST(VerifierRecoveryTest, EachStepIsMeasuredUntilTheNextOne) {
  // "a" at 10 (reverted at 14) causes [10, 13); "b" at 20 (reverted at 22) causes [21, 25).
  VerifierRecovery recovery({Step("b", 20, 22), Step("a", 10, 14)}, 2, 0.5);
  for (const Sample& s : Series(0, 40, 0.5, [](double t) {
         return (t >= 10 && t < 13) || (t >= 21 && t < 25) ? Health::kUnhealthy : Health::kHealthy;
       })) {
    recovery.Add(s);
  }
  const std::vector<FaultMetrics> steps = recovery.PerStep();
  ASSERT_EQ(steps.size(), 2u);
  EXPECT_EQ(steps[0].fault_id, "a");
  EXPECT_EQ(steps[0].metrics.time_to_recover_s, 3.0);
  EXPECT_EQ(steps[0].metrics.time_to_recover_after_revert_s, 0.0);
  EXPECT_EQ(steps[0].metrics.downtime_s, 3.0);
  EXPECT_EQ(steps[0].metrics.samples, 20u);  // [10, 20)
  EXPECT_EQ(steps[1].fault_id, "b");
  EXPECT_EQ(steps[1].metrics.time_to_detect_s, 1.0);
  EXPECT_EQ(steps[1].metrics.time_to_recover_s, 5.0);
  EXPECT_EQ(steps[1].metrics.time_to_recover_after_revert_s, 3.0);
  // Overall: from the first injection to the end, reverted at the last revert (22). Only repeated
  // steps move recovery past a later outage, so it is the first stable run, at 13.
  const RecoveryMetrics overall = recovery.Overall();
  EXPECT_EQ(overall.time_to_detect_s, 0.0);
  EXPECT_EQ(overall.time_to_recover_s, 3.0);
  EXPECT_EQ(overall.time_to_recover_after_revert_s, 0.0);
  EXPECT_EQ(overall.downtime_s, 7.0);
  EXPECT_EQ(recovery.RecoveredAt(), 13.0);
}

TEST(VerifierRecoveryTest, RepeatedStepRecoversAfterItsLastImpactedRound) {
  // Rounds of "kill" at 10, 20, 30 (one-shot), each causing 2 s of outage; "slow" at 50 none.
  VerifierRecovery recovery({Step("kill", 10, std::nullopt, {10, 20, 30}), Step("slow", 50, 55)}, 1,
                            0.5);
  for (const Sample& s : Series(0, 70, 0.5, [](double t) {
         const bool out = (t >= 10 && t < 12) || (t >= 20 && t < 22) || (t >= 30 && t < 32);
         return out ? Health::kUnhealthy : Health::kHealthy;
       })) {
    recovery.Add(s);
  }
  const std::vector<FaultMetrics> steps = recovery.PerStep();
  ASSERT_EQ(steps.size(), 2u);
  EXPECT_EQ(steps[0].metrics.time_to_recover_s, 22.0);              // 32 - 10
  EXPECT_EQ(steps[0].metrics.time_to_recover_after_revert_s, 2.0);  // from the last round, 30
  EXPECT_EQ(steps[0].metrics.downtime_s, 6.0);
  EXPECT_FALSE(steps[1].metrics.impact);
  EXPECT_TRUE(steps[1].metrics.recovered);
  const RecoveryMetrics overall = recovery.Overall();
  EXPECT_EQ(overall.time_to_recover_s, 22.0);
  EXPECT_EQ(overall.time_to_recover_after_revert_s, 2.0);  // from the repeated step's last action
  EXPECT_EQ(recovery.RecoveredAt(), 32.0);
}

}  // namespace
}  // namespace gameday
