#include "experiments/edit_distance.h"

#include <gtest/gtest.h>

namespace gameday {
namespace {

TEST(EditDistanceTest, CountsInsertionsDeletionsAndSubstitutions) {
  EXPECT_EQ(EditDistance("", ""), 0u);
  EXPECT_EQ(EditDistance("", "abc"), 3u);
  EXPECT_EQ(EditDistance("abc", ""), 3u);
  EXPECT_EQ(EditDistance("port", "port"), 0u);
  EXPECT_EQ(EditDistance("prt", "port"), 1u);
  EXPECT_EQ(EditDistance("ports", "port"), 1u);
  EXPECT_EQ(EditDistance("pirt", "port"), 1u);
  EXPECT_EQ(EditDistance("kitten", "sitting"), 3u);
}

TEST(EditDistanceTest, ASwapOfNeighboursIsOneEdit) {
  EXPECT_EQ(EditDistance("wbe", "web"), 1u);
  EXPECT_EQ(EditDistance("stabel_for", "stable_for"), 1u);
  EXPECT_EQ(EditDistance("ab", "ba"), 1u);
  // Restricted: a swapped pair is not edited again ("ca" -> "abc" takes three edits).
  EXPECT_EQ(EditDistance("ca", "abc"), 3u);
}

TEST(EditDistanceTest, IsSymmetric) {
  for (auto [a, b] : {std::pair{"experimnets", "experiments"}, std::pair{"htp", "http"},
                      std::pair{"signall", "signal"}, std::pair{"xyz", "timeout"}}) {
    EXPECT_EQ(EditDistance(a, b), EditDistance(b, a)) << a << " " << b;
  }
}

TEST(EditDistanceTest, SuggestsTheFirstClosestWithinTwoEdits) {
  const std::vector<std::string> known = {"timeout", "url", "method", "headers"};
  EXPECT_EQ(ClosestMatch("timout", known), "timeout");
  EXPECT_EQ(ClosestMatch("methdo", known), "method");
  EXPECT_EQ(ClosestMatch("uri", known), "url");
  EXPECT_EQ(ClosestMatch("somethingelse", known), "");
  EXPECT_EQ(ClosestMatch("abc", {}), "");
  // Ties go to the first one listed.
  EXPECT_EQ(ClosestMatch("ab", {"xb", "ax"}), "xb");
  // Three edits away is too far.
  EXPECT_EQ(ClosestMatch("tmeo", {"timeout"}), "");
}

TEST(EditDistanceTest, DidYouMeanWritesTheHint) {
  EXPECT_EQ(DidYouMean("htp", {"http", "tcp"}), " (did you mean 'http'?)");
  EXPECT_EQ(DidYouMean("zzzzzz", {"http", "tcp"}), "");
}

}  // namespace
}  // namespace gameday
