#include "experiments/format.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace gameday {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
const double kNaN = std::nan("");

TEST(FormatTest, FixedIsPrintfWithoutNegativeZero) {
  EXPECT_EQ(FormatFixed(1.23456, 3), "1.235");
  EXPECT_EQ(FormatFixed(2.5, 0), "2");  // round half to even, as printf does
  EXPECT_EQ(FormatFixed(-1.5, 2), "-1.50");
  EXPECT_EQ(FormatFixed(-0.0001, 2), "0.00");
  EXPECT_EQ(FormatFixed(-0.0, 1), "0.0");
  EXPECT_EQ(FormatFixed(12345.678, 1), "12345.7");
  EXPECT_EQ(FormatFixed(1e20, 1), "100000000000000000000.0");
  EXPECT_EQ(FormatFixed(std::numeric_limits<double>::max(), 3).size(), 309u + 4u);
}

TEST(FormatTest, CompactDropsTrailingZeros) {
  EXPECT_EQ(FormatCompact(10), "10");
  EXPECT_EQ(FormatCompact(2.5), "2.5");
  EXPECT_EQ(FormatCompact(0.999), "0.999");
  EXPECT_EQ(FormatCompact(1234567), "1.23457e+06");
  EXPECT_EQ(FormatCompact(-0.0), "0");
  EXPECT_EQ(FormatCompact(kNaN), "n/a");
  EXPECT_EQ(FormatCompact(kInf), "∞");
  EXPECT_EQ(FormatCompact(-kInf), "-∞");
}

TEST(FormatTest, ReportSecondsHaveThreeDecimalsBelowOneSecond) {
  EXPECT_EQ(FormatSeconds(0.1234), "0.123 s");
  EXPECT_EQ(FormatSeconds(0.9994), "0.999 s");
  EXPECT_EQ(FormatSeconds(1), "1.00 s");
  EXPECT_EQ(FormatSeconds(12.4), "12.40 s");
  EXPECT_EQ(FormatSeconds(-0.5), "-0.500 s");
  EXPECT_EQ(FormatSeconds(kNaN), "n/a");
  EXPECT_EQ(FormatSeconds(kInf), "n/a");
}

TEST(FormatTest, SecondsWithBoundUseOnePrecision) {
  EXPECT_EQ(FormatSecondsWithBound(2.34, std::pair{2.321, 2.359}), "2.34 s (2.32\u20132.36)");
  EXPECT_EQ(FormatSecondsWithBound(0.5, std::pair{0.4, 0.6}), "0.500 s (0.400\u20130.600)");
  EXPECT_EQ(FormatSecondsWithBound(0.5, std::nullopt), "0.500 s");
  EXPECT_EQ(FormatSecondsWithBound(kNaN, std::pair{0.0, 1.0}), "n/a");
}

TEST(FormatTest, ReportPercentHasASpace) {
  EXPECT_EQ(FormatPercent(0.99951), "99.95 %");
  EXPECT_EQ(FormatPercent(1), "100.00 %");
  EXPECT_EQ(FormatPercent(0), "0.00 %");
  EXPECT_EQ(FormatPercent(kNaN), "n/a");
}

TEST(FormatTest, TimeOffsetIsMilliseconds) {
  EXPECT_EQ(FormatTimeOffset(12.3456), "12.346 s");
  EXPECT_EQ(FormatTimeOffset(0), "0.000 s");
  EXPECT_EQ(FormatTimeOffset(1234.5), "1234.500 s");
}

TEST(FormatTest, MessageSecondsHaveThreeDecimalsBelowTenSeconds) {
  EXPECT_EQ(FormatMessageSeconds(2.5), "2.500 s");
  EXPECT_EQ(FormatMessageSeconds(9.9994), "9.999 s");
  EXPECT_EQ(FormatMessageSeconds(10), "10.00 s");
  EXPECT_EQ(FormatMessageSeconds(30), "30.00 s");
  EXPECT_EQ(FormatMessageSeconds(0), "0.000 s");
}

TEST(FormatTest, MessagePercentHasNoSpace) {
  EXPECT_EQ(FormatMessagePercent(0.995), "99.50%");
  EXPECT_EQ(FormatMessagePercent(0.99), "99.00%");
  EXPECT_EQ(FormatMessagePercent(1), "100.00%");
}

}  // namespace
}  // namespace gameday
