#include "reports/timeline_buckets.h"

#include <algorithm>
#include <cmath>

namespace gameday::html {

double Axis::X(double t) const {
  double f = (t - t0) / (t1 - t0);
  return kGutter + std::clamp(f, 0.0, 1.0) * kPlotWidth;
}

int Axis::Bucket(double t) const {
  const double f = std::floor((t - t0) / (t1 - t0) * kBuckets);
  if (!(f >= 0)) return 0;  // NaN too: a cast of it would be undefined
  if (f >= kBuckets) return kBuckets - 1;
  return static_cast<int>(f);
}

int HealthIndex(Health h) {
  switch (h) {
    case Health::kHealthy:
      return 0;
    case Health::kUnhealthy:
      return 1;
    case Health::kUnknown:
      return 2;
  }
  return 2;
}

namespace {

void Show(const Sample& s, ShownSample* out) {
  out->t_send = s.t_send;
  out->latency_ms = s.latency_ms;
  out->health = s.health;
  out->detail = s.detail;
}

}  // namespace

void HealthBucketer::Add(const Sample& s) {
  const int h = HealthIndex(s.health);
  const int b = axis_.Bucket(s.t_send);
  ++hb_.samples;
  hb_.counts[b][h]++;
  hb_.max_latency[b] = std::max(hb_.max_latency[b], s.latency_ms);
  static constexpr int kRank[] = {0, 2, 1};  // healthy < unknown < unhealthy
  if (hb_.shown_kind[b] != HealthBuckets::kSent) {
    hb_.shown_kind[b] = HealthBuckets::kSent;
    Show(s, &hb_.shown[b]);
  } else {
    const int shown = kRank[HealthIndex(hb_.shown[b].health)];
    if (kRank[h] > shown || (h == 0 && shown == 0)) Show(s, &hb_.shown[b]);
  }
  // Samples come in send order, so the buckets they are sent in only grow; should the input
  // not be sorted, the highest so far is what counts (as for a reader walking both in step).
  const int first = has_pending_ ? std::max(pending_first_, b) : b;
  if (has_pending_) Place(&s.t_send, first);
  pending_ = s;
  pending_bucket_ = b;
  pending_first_ = first;
  has_pending_ = true;
}

void HealthBucketer::Place(const double* next_send, int next_first) {
  const Sample& s = pending_;
  const int b = pending_bucket_;
  double end = s.t_send + std::max(interval_s_, s.t_done - s.t_send);
  if (next_send != nullptr && *next_send > s.t_send) end = std::min(end, *next_send);
  const int be = std::max(b, axis_.Bucket(end - 1e-9));
  for (int k = b; k <= be; ++k) hb_.mask[k] |= static_cast<uint8_t>(1 << HealthIndex(s.health));
  // The buckets after the last one a sample was sent in, up to the next such bucket, show this
  // sample when it (or an earlier one) covers them.
  const int last = next_send != nullptr ? next_first - 1 : kBuckets - 1;
  for (int k = pending_first_ + 1; k <= last; ++k) {
    if (hb_.shown_kind[k] != HealthBuckets::kNone) continue;
    hb_.shown_kind[k] = HealthBuckets::kCarried;
    Show(s, &hb_.shown[k]);
  }
}

HealthBuckets HealthBucketer::Finish() {
  if (has_pending_) Place(nullptr, 0);
  has_pending_ = false;
  return std::move(hb_);
}

}  // namespace gameday::html
