#include "experiments/disturbance.h"

#include <gtest/gtest.h>

#include <vector>

namespace gameday {
namespace {

FaultTiming Fault(const char* step, int round, double t_inject, std::optional<double> t_revert,
                  bool has_duration, bool injected = true) {
  return FaultTiming{step, round, t_inject, t_revert, has_duration, injected};
}

TEST(RecoveryDisturbancesTest, OneDisturbancePerStepSortedByInjection) {
  const std::vector<Disturbance> d = DisturbancesOf({
      Fault("later", 0, 20, 25, true),
      Fault("first", 0, 10, 15, true),
      Fault("first", 0, 9, 16, true),
  });
  ASSERT_EQ(d.size(), 2u);
  EXPECT_EQ(d[0].name, "first");
  EXPECT_EQ(d[0].t_inject, 9);
  EXPECT_EQ(d[0].t_revert, 16);
  EXPECT_EQ(d[0].last_action, 16);
  EXPECT_TRUE(d[0].round_starts.empty());  // not repeated
  EXPECT_EQ(d[1].name, "later");
  EXPECT_EQ(d[1].t_inject, 20);
}

TEST(RecoveryDisturbancesTest, OneShotFaultsHaveNoRevertAndEndAtTheirInjection) {
  // A one-shot fault's revert time (nothing to undo) is not a revert of the disturbance.
  const std::vector<Disturbance> d = DisturbancesOf({
      Fault("kill", 0, 10, 10.2, false),
      Fault("kill", 0, 11, std::nullopt, false),
  });
  ASSERT_EQ(d.size(), 1u);
  EXPECT_FALSE(d[0].t_revert);
  EXPECT_EQ(d[0].last_action, 11);
}

TEST(RecoveryDisturbancesTest, RoundsStartAtTheirFirstInjectionInRoundOrder) {
  const std::vector<Disturbance> d = DisturbancesOf({
      Fault("kill", 2, 21, 24, true), Fault("kill", 1, 11, 14, true),
      Fault("kill", 2, 20, 23, true),
      Fault("kill", 3, 30, std::nullopt, true),  // its revert has not completed
  });
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].round_starts, (std::vector<double>{11, 20, 30}));
  EXPECT_EQ(d[0].t_inject, 11);
  EXPECT_EQ(d[0].t_revert, 24);
  EXPECT_EQ(d[0].last_action, 30);
}

TEST(RecoveryDisturbancesTest, FaultsThatWereNotInjectedDisturbNothing) {
  EXPECT_TRUE(DisturbancesOf({Fault("kill", 0, 10, std::nullopt, false, false)}).empty());
  const std::vector<Disturbance> d = DisturbancesOf({
      Fault("kill", 0, 5, std::nullopt, false, false),
      Fault("kill", 0, 10, std::nullopt, false),
  });
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].t_inject, 10);
}

TEST(RecoveryDisturbancesTest, StepsInjectedTogetherKeepTheOrderOfTheirFirstFault) {
  const std::vector<Disturbance> d = DisturbancesOf({
      Fault("b", 0, 10, std::nullopt, false),
      Fault("a", 0, 10, std::nullopt, false),
  });
  ASSERT_EQ(d.size(), 2u);
  EXPECT_EQ(d[0].name, "b");
  EXPECT_EQ(d[1].name, "a");
}

}  // namespace
}  // namespace gameday
