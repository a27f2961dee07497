#include "experiments/selection.h"

#include <gtest/gtest.h>

#include <set>

namespace gameday {
namespace {

SelectSpec Spec(SelectMode mode, double value = 0, int max = 0) {
  SelectSpec s;
  s.mode = mode;
  s.value = value;
  s.max = max;
  return s;
}

TEST(SelectionTest, EmptyCandidatesAreAnErrorInEveryMode) {
  std::mt19937_64 rng(1);
  for (auto mode : {SelectMode::kOne, SelectMode::kAll, SelectMode::kFixed,
                    SelectMode::kFixedPercent, SelectMode::kRandomMaxPercent}) {
    auto r = SelectTargets(0, Spec(mode, 50), rng);
    EXPECT_FALSE(r.ok());
    EXPECT_NE(r.status().message().find("empty"), std::string::npos);
  }
}

TEST(SelectionTest, Sizes) {
  EXPECT_EQ(SelectionSize(10, Spec(SelectMode::kOne)), 1u);
  EXPECT_EQ(SelectionSize(10, Spec(SelectMode::kAll)), 10u);
  EXPECT_EQ(SelectionSize(10, Spec(SelectMode::kFixed, 3)), 3u);
  EXPECT_EQ(SelectionSize(2, Spec(SelectMode::kFixed, 3)), 2u);
  EXPECT_EQ(SelectionSize(6, Spec(SelectMode::kFixedPercent, 50)), 3u);
  EXPECT_EQ(SelectionSize(3, Spec(SelectMode::kFixedPercent, 10)), 1u);  // at least one
  EXPECT_EQ(SelectionSize(10, Spec(SelectMode::kAll, 0, 4)), 4u);        // max caps
}

TEST(SelectionTest, ChoicesAreDistinctSortedAndReplayable) {
  std::mt19937_64 a(42), b(42);
  auto x = SelectTargets(100, Spec(SelectMode::kFixed, 10), a);
  auto y = SelectTargets(100, Spec(SelectMode::kFixed, 10), b);
  ASSERT_TRUE(x.ok());
  EXPECT_EQ(*x, *y);
  std::set<size_t> distinct(x->begin(), x->end());
  EXPECT_EQ(distinct.size(), 10u);
  EXPECT_TRUE(std::is_sorted(x->begin(), x->end()));
  EXPECT_LT(*x->rbegin(), 100u);
}

TEST(SelectionTest, OneIsRoughlyUniform) {
  std::mt19937_64 rng(7);
  std::vector<int> hits(4);
  for (int i = 0; i < 4000; ++i) hits[SelectTargets(4, Spec(SelectMode::kOne), rng)->at(0)]++;
  for (int h : hits) EXPECT_NEAR(h, 1000, 150);
}

TEST(SelectionTest, RandomMaxPercentStaysWithinBound) {
  std::mt19937_64 rng(3);
  std::set<size_t> sizes;
  for (int i = 0; i < 500; ++i) {
    auto r = SelectTargets(20, Spec(SelectMode::kRandomMaxPercent, 25), rng);
    ASSERT_TRUE(r.ok());
    EXPECT_GE(r->size(), 1u);
    EXPECT_LE(r->size(), 5u);
    sizes.insert(r->size());
  }
  EXPECT_EQ(sizes.size(), 5u);
}

}  // namespace
}  // namespace gameday
