#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "experiments/sample.h"

namespace gameday::html {

// The timeline's horizontal layout: labels on the left, then one bucket per pixel column.
constexpr double kSvgWidth = 1000;
constexpr double kGutter = 170;
constexpr double kRightPad = 14;
constexpr double kPlotWidth = kSvgWidth - kGutter - kRightPad;
constexpr int kBuckets = static_cast<int>(kPlotWidth);

// The experiment's time axis [t0, t1] on the plot.
struct Axis {
  double t0 = 0, t1 = 1;
  double X(double t) const;
  // The pixel column of `t`; times off the axis (and NaN) fall into the edge columns.
  int Bucket(double t) const;
  double BucketStart(int b) const { return t0 + (t1 - t0) * b / kBuckets; }
};

// 0 passing, 1 failing, 2 unknown: the order of the hover read-out's names.
int HealthIndex(Health h);

// The sample the hover read-out shows for a bucket: what of it the page prints.
struct ShownSample {
  double t_send = 0;
  double latency_ms = 0;
  Health health = Health::kUnknown;
  std::string detail;
};

// One verifier's samples downsampled to the pixel columns. A bucket is failing if any sample
// covering it failed, so an outage of a single sample among millions still paints its column and
// is in the hover data; else passing if any passed, else unknown.
struct HealthBuckets {
  std::vector<uint8_t> mask = std::vector<uint8_t>(kBuckets, 0);  // bit per HealthIndex
  std::vector<std::array<uint32_t, 3>> counts =                   // samples sent, by HealthIndex
      std::vector<std::array<uint32_t, 3>>(kBuckets, {0, 0, 0});
  std::vector<double> max_latency = std::vector<double>(kBuckets, -1);  // -1: no sample sent
  // What the hover read-out shows per bucket: a sample sent in it (kSent: the first failing one,
  // else the first unknown one, else the last passing one), or for a bucket only covered by an
  // earlier sample the last sample sent before it (kCarried).
  enum Shown : uint8_t { kNone, kSent, kCarried };
  std::vector<uint8_t> shown_kind = std::vector<uint8_t>(kBuckets, kNone);
  std::vector<ShownSample> shown = std::vector<ShownSample>(kBuckets);
  uint64_t samples = 0;  // how many were added
};

// Builds HealthBuckets in one forward pass over a verifier's samples in send order, in memory
// that does not depend on their number. A sample stands for the time until the next one is sent
// (at most one interval or its own duration), so it is placed once the next one is seen: Add()
// places the previous sample, Finish() the last one.
class HealthBucketer {
 public:
  HealthBucketer(const Axis& axis, double interval_s) : axis_(axis), interval_s_(interval_s) {}
  void Add(const Sample& s);
  // The buckets; call once, after the last Add().
  HealthBuckets Finish();

 private:
  // Marks the buckets `pending_` covers until `next_send` (none for the last sample), and lets
  // it stand for the buckets up to `next_first` that no sample was sent in.
  void Place(const double* next_send, int next_first);

  Axis axis_;
  double interval_s_;
  HealthBuckets hb_;
  bool has_pending_ = false;
  Sample pending_;
  int pending_bucket_ = 0;  // the bucket pending_ was sent in
  int pending_first_ = 0;   // the highest bucket any sample so far was sent in
};

}  // namespace gameday::html
