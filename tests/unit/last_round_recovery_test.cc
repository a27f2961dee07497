#include "experiments/last_round_recovery.h"

#include <gtest/gtest.h>

#include <limits>
#include <vector>

#include "tests/unit/sample_series.h"

namespace gameday {
namespace {

RecoveryWindow Window(double inject, double stable) {
  RecoveryWindow w;
  w.t_inject = inject;
  w.t_end = std::numeric_limits<double>::infinity();
  w.stable_for = stable;
  w.interval = 0.5;
  return w;
}

RecoveryMetrics Measure(const std::vector<Sample>& samples, const RecoveryWindow& w,
                        std::vector<double> starts, double last_action) {
  RecoveryMetrics m = ComputeRecovery(samples, w);
  LastRoundRecovery rounds(w, std::move(starts), last_action);
  for (const Sample& s : samples) rounds.Add(s);
  rounds.ApplyTo(&m);
  return m;
}

TEST(LastRoundRecoveryTest, RecoveryCountsFromTheLastRoundWithAnImpact) {
  // Rounds at 10, 20, 30: outages [10, 12) and [30, 33); round 2 at 20 had none.
  auto samples = Series(0, 60, 0.5, [](double t) {
    return (t >= 10 && t < 12) || (t >= 30 && t < 33) ? Health::kUnhealthy : Health::kHealthy;
  });
  const RecoveryMetrics m = Measure(samples, Window(10, 2), {10, 20, 30}, 30);
  EXPECT_TRUE(m.impact);
  EXPECT_EQ(m.time_to_detect_s, 0.0);  // detection still counts from the first round
  ASSERT_TRUE(m.recovered);
  EXPECT_EQ(m.time_to_recover_s, 23.0);  // 33 - 10
  ASSERT_TRUE(m.recover_bound_s);
  EXPECT_EQ(m.recover_bound_s->first, 22.5);
  EXPECT_NEAR(m.recover_bound_s->second, 23.001, 1e-9);
  EXPECT_EQ(m.time_to_recover_after_revert_s, 3.0);  // from the last action at 30
  EXPECT_EQ(m.downtime_s, 5.0);
}

TEST(LastRoundRecoveryTest, LaterRoundsWithoutImpactDoNotMoveRecovery) {
  auto samples = Series(0, 60, 0.5, [](double t) {
    return t >= 10 && t < 12 ? Health::kUnhealthy : Health::kHealthy;
  });
  const RecoveryMetrics m = Measure(samples, Window(10, 2), {30, 20, 10}, 30);
  ASSERT_TRUE(m.recovered);
  EXPECT_EQ(m.time_to_recover_s, 2.0);
  EXPECT_EQ(m.time_to_recover_after_revert_s, 0.0);  // recovered before the last action
}

TEST(LastRoundRecoveryTest, NotRecoveredWhenTheLastImpactedRoundNeverSettles) {
  auto samples = Series(0, 40, 0.5, [](double t) {
    return (t >= 10 && t < 12) || t >= 30 ? Health::kUnhealthy : Health::kHealthy;
  });
  const RecoveryMetrics whole = ComputeRecovery(samples, Window(10, 2));
  ASSERT_TRUE(whole.recovered);  // between rounds
  const RecoveryMetrics m = Measure(samples, Window(10, 2), {10, 20, 30}, 30);
  EXPECT_FALSE(m.recovered);
  EXPECT_FALSE(m.time_to_recover_s);
  EXPECT_FALSE(m.recover_bound_s);
  EXPECT_FALSE(m.time_to_recover_after_revert_s);
}

TEST(LastRoundRecoveryTest, LeavesAWindowWithoutImpactAlone) {
  auto samples = Series(0, 40, 0.5, [](double t) {
    return t >= 5 && t < 6 ? Health::kUnhealthy : Health::kHealthy;  // before the window
  });
  // A round start before the window is ignored too.
  const RecoveryMetrics m = Measure(samples, Window(10, 2), {5, 10, 20}, 20);
  EXPECT_FALSE(m.impact);
  EXPECT_TRUE(m.recovered);
  EXPECT_FALSE(m.time_to_recover_s);
}

}  // namespace
}  // namespace gameday
