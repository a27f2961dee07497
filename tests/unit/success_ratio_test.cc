#include "experiments/success_ratio.h"

#include <gtest/gtest.h>

#include "tests/unit/sample_series.h"

namespace gameday {
namespace {

TEST(SuccessRatioTest, CountsDecidedSamplesInWindow) {
  auto samples = Series(0, 2, 0.1, [](double t) {
    if (t < 0.45) return Health::kHealthy;
    if (t < 0.75) return Health::kUnknown;
    return t < 0.95 ? Health::kUnhealthy : Health::kHealthy;
  });
  auto r = SuccessRatio(samples, 0, 1.0);
  ASSERT_TRUE(r);
  EXPECT_NEAR(*r, 5.0 / 7.0, 1e-9);
  EXPECT_FALSE(SuccessRatio(samples, 5, 6));
}

TEST(RatioCounterTest, CountsKnownSamplesSentInTheHalfOpenWindow) {
  RatioCounter counter(1.0, 2.0);
  EXPECT_FALSE(counter.Ratio());
  counter.Add({0.9, 0.9, Health::kUnhealthy, 1, {}, "x"});  // before: ignored
  counter.Add({1.0, 1.0, Health::kHealthy, 1, {}, ""});
  counter.Add({1.5, 1.5, Health::kUnknown, 1, {}, ""});  // the probe could not tell: ignored
  EXPECT_EQ(counter.Ratio(), 1.0);
  counter.Add({1.9, 1.9, Health::kUnhealthy, 1, {}, "x"});
  counter.Add({2.0, 2.0, Health::kUnhealthy, 1, {}, "x"});  // `to` is excluded
  EXPECT_EQ(counter.Ratio(), 0.5);
}

TEST(RatioCounterTest, OpenEndedByDefault) {
  RatioCounter counter(0);
  counter.Add({1e9, 1e9, Health::kHealthy, 1, {}, ""});
  counter.Add({2e9, 2e9, Health::kUnhealthy, 1, {}, "x"});
  counter.Add({3e9, 3e9, Health::kUnhealthy, 1, {}, "x"});
  counter.Add({4e9, 4e9, Health::kHealthy, 1, {}, ""});
  EXPECT_EQ(counter.Ratio(), 0.5);
}

}  // namespace
}  // namespace gameday
