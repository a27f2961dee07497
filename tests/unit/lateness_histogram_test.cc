// The probe loop's lateness histogram: exact below 1.024 ms, within 1.6 % above.

#include <gtest/gtest.h>

#include "verifiers/probe/probe_loop.h"

namespace gameday {
namespace {

TEST(LatenessHistogramTest, EmptyIsZero) {
  LatenessHistogram h;
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.Quantile(0.5), 0);
  EXPECT_EQ(h.Quantile(0.99), 0);
}

TEST(LatenessHistogramTest, ExactBelowOneMillisecond) {
  LatenessHistogram h;
  for (int us = 1; us <= 1000; ++us) h.Record(us);  // 1..1000 us, once each
  EXPECT_EQ(h.count(), 1000u);
  EXPECT_EQ(h.max(), 1000);
  EXPECT_EQ(h.Quantile(0.50), 500);
  EXPECT_EQ(h.Quantile(0.99), 990);
  EXPECT_EQ(h.Quantile(1.0), 1000);
  EXPECT_EQ(h.Quantile(0.0), 1);
}

TEST(LatenessHistogramTest, LogBucketsStayWithinTwoPercent) {
  for (int64_t us : {1024LL, 1500LL, 4999LL, 20000LL, 123456LL, 7654321LL, 3600LL * 1000000}) {
    LatenessHistogram h;
    h.Record(us);
    h.Record(0);
    // The top record's bucket value is capped by the exact max; the median is its own bucket.
    EXPECT_EQ(h.Quantile(1.0), static_cast<double>(us));
    LatenessHistogram one;
    for (int i = 0; i < 3; ++i) one.Record(us);
    EXPECT_NEAR(one.Quantile(0.5), static_cast<double>(us), static_cast<double>(us) * 0.016) << us;
  }
}

TEST(LatenessHistogramTest, NegativeCountsAsZeroAndHugeIsClamped) {
  LatenessHistogram h;
  h.Record(-50);
  EXPECT_EQ(h.Quantile(1.0), 0);
  h.Record(int64_t{1} << 60);
  EXPECT_EQ(h.count(), 2u);
  EXPECT_EQ(h.max(), int64_t{1} << 60);
  EXPECT_GT(h.Quantile(1.0), 1e12);
}

TEST(LatenessHistogramTest, TailQuantiles) {
  LatenessHistogram h;
  for (int i = 0; i < 990; ++i) h.Record(100);
  for (int i = 0; i < 10; ++i) h.Record(7000);
  EXPECT_EQ(h.Quantile(0.50), 100);
  EXPECT_EQ(h.Quantile(0.99), 100);  // the 990th of 1000
  EXPECT_NEAR(h.Quantile(0.995), 7000, 7000 * 0.016);
  EXPECT_EQ(h.max(), 7000);
}

}  // namespace
}  // namespace gameday
