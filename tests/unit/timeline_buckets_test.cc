#include "reports/timeline_buckets.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

namespace gameday::html {
namespace {

Sample Make(double t_send, Health h, double latency_ms = 2, const std::string& detail = "") {
  Sample s;
  s.t_send = t_send;
  s.t_done = t_send + latency_ms / 1000;
  s.health = h;
  s.latency_ms = latency_ms;
  s.detail = detail;
  return s;
}

HealthBuckets Bucket(const Axis& axis, double interval, const std::vector<Sample>& samples) {
  HealthBucketer b(axis, interval);
  for (const Sample& s : samples) b.Add(s);
  return b.Finish();
}

constexpr uint8_t kPass = 1, kFail = 2, kUnk = 4;

TEST(TimelineBucketsTest, AxisMapsTimesToColumnsAndClampsTheRest) {
  const Axis axis{0, 816};  // one second per column
  EXPECT_EQ(axis.Bucket(0), 0);
  EXPECT_EQ(axis.Bucket(1.5), 1);
  EXPECT_EQ(axis.Bucket(815.9), 815);
  EXPECT_EQ(axis.Bucket(-3), 0);
  EXPECT_EQ(axis.Bucket(1e9), kBuckets - 1);
  EXPECT_EQ(axis.Bucket(std::nan("")), 0);
  EXPECT_EQ(axis.Bucket(std::numeric_limits<double>::infinity()), kBuckets - 1);
  EXPECT_DOUBLE_EQ(axis.BucketStart(10), 10);
  EXPECT_DOUBLE_EQ(axis.X(0), kGutter);
  EXPECT_DOUBLE_EQ(axis.X(816), kGutter + kPlotWidth);
  EXPECT_DOUBLE_EQ(axis.X(-1), kGutter);
}

// The guarantee the report's downsampling gives: among a million passing samples in 816
// columns (about 1,225 a column), the one failing sample still makes its column failing, and the
// hover read-out of that column shows it with its reason.
TEST(TimelineBucketsTest, OneFailingSampleAmongAMillionPaintsItsColumn) {
  constexpr size_t kSamples = 1000000;
  constexpr double kInterval = 0.01;
  const Axis axis{0, kSamples * kInterval};
  HealthBucketer b(axis, kInterval);
  const size_t failing = kSamples / 2 + 37;
  for (size_t i = 0; i < kSamples; ++i) {
    const double t = static_cast<double>(i) * kInterval;
    b.Add(i == failing ? Make(t, Health::kUnhealthy, 250, "connection refused")
                       : Make(t, Health::kHealthy));
  }
  const HealthBuckets hb = b.Finish();
  EXPECT_EQ(hb.samples, kSamples);
  const int col = axis.Bucket(static_cast<double>(failing) * kInterval);
  int failing_columns = 0;
  uint64_t total = 0, failed = 0;
  for (int k = 0; k < kBuckets; ++k) {
    if (hb.mask[k] & kFail) ++failing_columns;
    total += hb.counts[k][0] + hb.counts[k][1] + hb.counts[k][2];
    failed += hb.counts[k][1];
  }
  EXPECT_EQ(failing_columns, 1);
  EXPECT_TRUE(hb.mask[col] & kFail);
  EXPECT_EQ(hb.counts[col][1], 1u);
  EXPECT_EQ(total, kSamples);
  EXPECT_EQ(failed, 1u);
  ASSERT_EQ(hb.shown_kind[col], HealthBuckets::kSent);
  EXPECT_EQ(hb.shown[col].health, Health::kUnhealthy);
  EXPECT_DOUBLE_EQ(hb.shown[col].t_send, static_cast<double>(failing) * kInterval);
  EXPECT_EQ(hb.shown[col].detail, "connection refused");
  EXPECT_DOUBLE_EQ(hb.max_latency[col], 250);
  // Memory does not grow with the samples: one entry per column, whatever went in.
  EXPECT_EQ(hb.mask.size(), static_cast<size_t>(kBuckets));
  EXPECT_EQ(hb.shown.size(), static_cast<size_t>(kBuckets));
}

TEST(TimelineBucketsTest, ColumnShowsFirstFailingElseFirstUnknownElseLastPassing) {
  const Axis axis{0, 816};
  const HealthBuckets hb =
      Bucket(axis, 0.1,
             {Make(0.1, Health::kHealthy, 1), Make(0.2, Health::kUnknown, 2, "probe timeout"),
              Make(0.3, Health::kUnhealthy, 3, "first"), Make(0.4, Health::kUnhealthy, 4, "second"),
              Make(0.5, Health::kHealthy, 5),  // column 0 ends
              Make(1.1, Health::kHealthy, 6), Make(1.2, Health::kUnknown, 7, "a"),
              Make(1.3, Health::kUnknown, 8, "b"), Make(1.4, Health::kHealthy, 9),  // column 1
              Make(2.1, Health::kHealthy, 10), Make(2.2, Health::kHealthy, 11)});   // column 2
  EXPECT_EQ(hb.shown[0].detail, "first");
  EXPECT_EQ(hb.shown[1].detail, "a");
  EXPECT_DOUBLE_EQ(hb.shown[2].latency_ms, 11);
  EXPECT_EQ(hb.mask[0], kPass | kFail | kUnk);
  EXPECT_EQ(hb.mask[1], kPass | kUnk);
  EXPECT_EQ(hb.mask[2], kPass);
  EXPECT_EQ(hb.counts[0][0], 2u);
  EXPECT_EQ(hb.counts[0][1], 2u);
  EXPECT_EQ(hb.counts[0][2], 1u);
  EXPECT_DOUBLE_EQ(hb.max_latency[0], 5);
  EXPECT_DOUBLE_EQ(hb.max_latency[3], -1);  // nothing sent there
}

// A sample stands for the time until the next one is sent, at most one interval (or its own
// duration): known only once the next one arrives, and for the last one at the end.
TEST(TimelineBucketsTest, SampleCoversUntilTheNextOneIsSent) {
  const Axis axis{0, 816};
  // Every 3 s with a 5 s interval: each covers up to the next one, no gap, no overlap.
  std::vector<Sample> samples;
  for (int i = 0; i < 4; ++i) samples.push_back(Make(10 + 3 * i, Health::kHealthy));
  samples[1].health = Health::kUnhealthy;
  HealthBuckets hb = Bucket(axis, 5, samples);
  for (int k = 10; k <= 12; ++k) EXPECT_EQ(hb.mask[k], kPass) << k;
  for (int k = 13; k <= 15; ++k) EXPECT_EQ(hb.mask[k], kFail) << k;  // [13, 16)
  for (int k = 16; k <= 21; ++k) EXPECT_EQ(hb.mask[k], kPass) << k;
  // The last one covers its interval: [19, 24).
  for (int k = 22; k <= 23; ++k) EXPECT_EQ(hb.mask[k], kPass) << k;
  EXPECT_EQ(hb.mask[24], 0);
  EXPECT_EQ(hb.mask[9], 0);

  // Columns nothing was sent in show the sample that covers them, with no counts of their own.
  EXPECT_EQ(hb.shown_kind[14], HealthBuckets::kCarried);
  EXPECT_EQ(hb.shown[14].health, Health::kUnhealthy);
  EXPECT_DOUBLE_EQ(hb.shown[14].t_send, 13);
  EXPECT_EQ(hb.counts[14][1], 0u);
  EXPECT_EQ(hb.shown_kind[13], HealthBuckets::kSent);
  EXPECT_EQ(hb.shown_kind[9], HealthBuckets::kNone);

  // A probe slower than the interval covers its own duration; the next send still ends it.
  samples = {Make(100, Health::kUnhealthy, 4000), Make(200, Health::kHealthy)};
  hb = Bucket(axis, 1, samples);
  for (int k = 100; k <= 103; ++k) EXPECT_EQ(hb.mask[k], kFail) << k;
  EXPECT_EQ(hb.mask[104], 0);
  samples = {Make(100, Health::kUnhealthy, 4000), Make(102, Health::kHealthy)};
  hb = Bucket(axis, 1, samples);
  EXPECT_EQ(hb.mask[101], kFail);
  EXPECT_EQ(hb.mask[102], kPass);
}

TEST(TimelineBucketsTest, NoSamplesNoColumns) {
  const HealthBuckets hb = Bucket(Axis{0, 10}, 1, {});
  EXPECT_EQ(hb.samples, 0u);
  for (int k = 0; k < kBuckets; ++k) {
    EXPECT_EQ(hb.mask[k], 0);
    EXPECT_EQ(hb.shown_kind[k], HealthBuckets::kNone);
  }
}

// Hostile or damaged input: times off the axis or not numbers land in the edge columns, and
// samples out of order are still counted where they were sent.
TEST(TimelineBucketsTest, OddTimesLandInTheEdgeColumns) {
  const Axis axis{0, 816};
  const double nan = std::nan("");
  const HealthBuckets hb = Bucket(axis, 1,
                                  {Make(-50, Health::kUnhealthy), Make(5000, Health::kHealthy),
                                   Make(nan, Health::kUnknown), Make(400, Health::kUnhealthy)});
  EXPECT_TRUE(hb.mask[0] & kFail);
  EXPECT_TRUE(hb.mask[kBuckets - 1] & kPass);
  EXPECT_EQ(hb.counts[0][2], 1u);  // the NaN one
  EXPECT_EQ(hb.counts[400][1], 1u);
  EXPECT_TRUE(hb.mask[400] & kFail);
  EXPECT_EQ(hb.samples, 4u);
}

}  // namespace
}  // namespace gameday::html
