#include "experiments/recovery.h"

#include <gtest/gtest.h>

#include <string>

#include "tests/unit/sample_series.h"

namespace gameday {
namespace {

RecoveryWindow Window(double inject, double stable = 0.5, double interval = 0.02) {
  RecoveryWindow w;
  w.t_inject = inject;
  w.t_end = 1e9;
  w.stable_for = stable;
  w.interval = interval;
  return w;
}

TEST(RecoveryTest, OutageDetectedAndRecoveredWithBounds) {
  // Outage [2.005, 3.505): samples at 2.00 pass, 2.02 fails; 3.50 fails, 3.52 passes.
  auto samples = Series(0, 6, 0.02, [](double t) {
    return t >= 2.005 && t < 3.505 ? Health::kUnhealthy : Health::kHealthy;
  });
  RecoveryMetrics m = ComputeRecovery(samples, Window(2.0));
  ASSERT_TRUE(m.impact);
  EXPECT_NEAR(*m.time_to_detect_s, 0.02, 1e-9);
  EXPECT_NEAR(m.detect_bound_s->first, 0.0, 1e-9);
  EXPECT_NEAR(m.detect_bound_s->second, 0.021, 1e-9);
  ASSERT_TRUE(m.recovered);
  EXPECT_NEAR(*m.time_to_recover_s, 1.52, 1e-9);
  EXPECT_NEAR(m.recover_bound_s->first, 1.50, 1e-9);
  EXPECT_NEAR(m.recover_bound_s->second, 1.521, 1e-9);
  // Truth (0.005 and 1.505 after injection) lies inside both bounds.
  EXPECT_LE(m.detect_bound_s->first, 0.005);
  EXPECT_GE(m.detect_bound_s->second, 0.005);
  EXPECT_LE(m.recover_bound_s->first, 1.505);
  EXPECT_GE(m.recover_bound_s->second, 1.505);
  EXPECT_NEAR(m.downtime_s, 1.50, 0.021);
  EXPECT_EQ(m.failing, 75u);
  EXPECT_NEAR(m.availability, 1.0 - 75.0 / 200.0, 1e-9);
}

TEST(RecoveryTest, NoImpactIsReportable) {
  auto samples = Series(0, 5, 0.02, [](double) { return Health::kHealthy; });
  RecoveryMetrics m = ComputeRecovery(samples, Window(1.0));
  EXPECT_FALSE(m.impact);
  EXPECT_TRUE(m.recovered);
  EXPECT_FALSE(m.time_to_detect_s);
  EXPECT_FALSE(m.time_to_recover_s);
  EXPECT_EQ(m.downtime_s, 0);
  EXPECT_EQ(m.availability, 1);
}

TEST(RecoveryTest, FlappingRecoveryNeedsAStableRun) {
  // Fails 1.0-2.0, passes 2.0-2.2 (shorter than stable_for), fails 2.2-2.4, then stays up.
  auto samples = Series(0, 6, 0.02, [](double t) {
    if (t >= 1.0 && t < 2.0) return Health::kUnhealthy;
    if (t >= 2.2 && t < 2.4) return Health::kUnhealthy;
    return Health::kHealthy;
  });
  RecoveryMetrics m = ComputeRecovery(samples, Window(1.0));
  ASSERT_TRUE(m.recovered);
  EXPECT_NEAR(*m.time_to_recover_s, 1.4, 1e-6);
}

TEST(RecoveryTest, NotRecoveredWhenDataEndsBeforeStableRun) {
  auto samples = Series(0, 3, 0.02, [](double t) {
    return t >= 1.0 && t < 2.9 ? Health::kUnhealthy : Health::kHealthy;
  });
  RecoveryMetrics m = ComputeRecovery(samples, Window(1.0));
  EXPECT_TRUE(m.impact);
  EXPECT_FALSE(m.recovered);
  EXPECT_FALSE(m.time_to_recover_s);
}

TEST(RecoveryTest, UnknownSamplesAreNeitherPassingNorFailing) {
  // The monitoring path is down 1.0-1.5 (unknown), the service is fine throughout.
  auto samples = Series(0, 4, 0.02, [](double t) {
    return t >= 1.0 && t < 1.5 ? Health::kUnknown : Health::kHealthy;
  });
  RecoveryMetrics m = ComputeRecovery(samples, Window(1.0));
  EXPECT_FALSE(m.impact);
  EXPECT_EQ(m.unknown, 25u);
  EXPECT_EQ(m.availability, 1);
  EXPECT_EQ(m.downtime_s, 0);
}

TEST(RecoveryTest, RecoveryAfterRevertForTimedFaults) {
  auto samples = Series(0, 8, 0.02, [](double t) {
    return t >= 1.0 && t < 4.3 ? Health::kUnhealthy : Health::kHealthy;
  });
  RecoveryWindow w = Window(1.0);
  w.t_revert = 4.0;
  RecoveryMetrics m = ComputeRecovery(samples, w);
  ASSERT_TRUE(m.recovered);
  EXPECT_NEAR(*m.time_to_recover_s, 3.3, 1e-6);
  EXPECT_NEAR(*m.time_to_recover_after_revert_s, 0.3, 1e-6);
}

TEST(RecoveryTest, WindowEndLimitsDetectionAndDowntime) {
  auto samples = Series(0, 8, 0.02, [](double t) {
    return t >= 5.0 && t < 6.0 ? Health::kUnhealthy : Health::kHealthy;
  });
  RecoveryWindow w = Window(1.0);
  w.t_end = 4.0;  // the next fault starts at 4.0; the outage at 5.0 belongs to it
  RecoveryMetrics m = ComputeRecovery(samples, w);
  EXPECT_FALSE(m.impact);
  EXPECT_EQ(m.downtime_s, 0);
}

TEST(RecoveryTest, FailingSampleCoversUntilTheNextSample) {
  // A failing sample followed by a gap (skipped slots) and then passing samples: the gap was not
  // observed, and the failing sample stands for it; the last sample stands for one interval.
  std::vector<Sample> samples;
  for (double t : {0.0, 0.02, 0.04}) samples.push_back({t, t, Health::kHealthy, 1, {}, ""});
  samples.push_back({0.06, 0.06, Health::kUnhealthy, 1, {}, "x"});
  for (double t : {0.16, 0.18}) samples.push_back({t, t, Health::kHealthy, 1, {}, ""});
  samples.push_back({0.20, 0.20, Health::kUnhealthy, 1, {}, "x"});
  RecoveryMetrics m = ComputeRecovery(samples, Window(0.05, 0.01));
  EXPECT_NEAR(m.downtime_s, 0.10 + 0.02, 1e-9);
}

TEST(RecoveryAccumulatorTest, FinishMidStreamTakesTheLastFailureForOneInterval) {
  // Fed one sample at a time, the last failing sample stands for one interval until the next
  // decided sample arrives; unknown samples in between do not end it.
  RecoveryAccumulator acc(Window(1.0, 0.0, 0.1));
  acc.Add({0.9, 0.91, Health::kHealthy, 1, {}, ""});
  acc.Add({1.0, 1.01, Health::kUnhealthy, 1, {}, "x"});
  RecoveryMetrics m = acc.Finish();
  EXPECT_TRUE(m.impact);
  EXPECT_FALSE(m.recovered);
  EXPECT_EQ(m.downtime_s, (1.0 + 0.1) - 1.0);
  EXPECT_EQ(m.detect_bound_s, std::make_pair(0.0, 1.01 - 1.0));  // 0.9 is before the injection
  acc.Add({1.2, 1.21, Health::kUnknown, 1, {}, ""});
  acc.Add({1.5, 1.51, Health::kHealthy, 1, {}, ""});
  m = acc.Finish();
  EXPECT_EQ(m.downtime_s, 1.5 - 1.0);
  ASSERT_TRUE(m.recovered);  // stable_for 0: the first passing sample after the failure
  EXPECT_EQ(m.time_to_recover_s, 1.5 - 1.0);
  EXPECT_EQ(m.recover_bound_s, std::make_pair(1.0 - 1.0, 1.51 - 1.0));
  EXPECT_EQ(m.samples, 3u);  // 1.0, 1.2 (unknown), 1.5
  EXPECT_EQ(m.unknown, 1u);
  EXPECT_EQ(m.availability, 0.5);
}

TEST(RecoveryAccumulatorTest, SamplesAfterTheWindowEndDowntimeAndConfirmRecovery) {
  RecoveryWindow w = Window(1.0, 0.5, 0.1);
  w.t_end = 2.0;
  RecoveryAccumulator acc(w);
  acc.Add({1.8, 1.8, Health::kUnhealthy, 1, {}, "x"});
  acc.Add({1.9, 1.9, Health::kHealthy, 1, {}, ""});     // the run begins inside the window
  acc.Add({2.3, 2.3, Health::kUnhealthy, 1, {}, "x"});  // after the window: not counted
  EXPECT_FALSE(acc.Finish().recovered);
  acc.Add({2.5, 2.5, Health::kHealthy, 1, {}, ""});  // begins after the window: never recovery
  acc.Add({3.5, 3.5, Health::kHealthy, 1, {}, ""});
  RecoveryMetrics m = acc.Finish();
  EXPECT_FALSE(m.recovered);
  EXPECT_EQ(m.failing, 1u);
  EXPECT_EQ(m.samples, 2u);
  EXPECT_EQ(m.downtime_s, 1.9 - 1.8);

  RecoveryAccumulator stable(w);
  stable.Add({1.8, 1.8, Health::kUnhealthy, 1, {}, "x"});
  stable.Add({1.9, 1.9, Health::kHealthy, 1, {}, ""});
  stable.Add({2.5, 2.5, Health::kHealthy, 1, {}, ""});  // after the window, yet completes the run
  m = stable.Finish();
  ASSERT_TRUE(m.recovered);
  EXPECT_EQ(m.time_to_recover_s, 1.9 - 1.0);
}

TEST(RecoveryAccumulatorTest, NoSampleMeansNoImpact) {
  RecoveryMetrics m = RecoveryAccumulator(Window(1.0)).Finish();
  EXPECT_FALSE(m.impact);
  EXPECT_TRUE(m.recovered);
  EXPECT_EQ(m.availability, 1);
  EXPECT_EQ(m.samples, 0u);
}

}  // namespace
}  // namespace gameday
