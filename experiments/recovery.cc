#include "experiments/recovery.h"

#include <algorithm>

namespace gameday {
namespace {

bool Known(const Sample& s) { return s.health != Health::kUnknown; }

}  // namespace

std::optional<double> SuccessRatio(const std::vector<Sample>& samples, double from, double to) {
  size_t pass = 0, known = 0;
  for (const Sample& s : samples) {
    if (s.t_send < from || s.t_send >= to || !Known(s)) continue;
    ++known;
    pass += s.health == Health::kHealthy;
  }
  if (known == 0) return std::nullopt;
  return static_cast<double>(pass) / known;
}

RecoveryMetrics ComputeRecovery(const std::vector<Sample>& samples, const RecoveryWindow& w) {
  RecoveryMetrics m;
  // Unknown samples (the probe itself could not tell) are neither passing nor failing: they are
  // counted, then left out of every computation.
  std::vector<const Sample*> known;
  size_t first_in_window = SIZE_MAX;
  for (const Sample& s : samples) {
    if (!Known(s)) {
      if (s.t_send >= w.t_inject && s.t_send < w.t_end) ++m.unknown;
      continue;
    }
    if (first_in_window == SIZE_MAX && s.t_send >= w.t_inject) first_in_window = known.size();
    known.push_back(&s);
  }

  size_t pass = 0;
  for (size_t i = first_in_window; i < known.size() && known[i]->t_send < w.t_end; ++i) {
    const Sample& s = *known[i];
    ++m.samples;
    if (s.health == Health::kHealthy) {
      ++pass;
      continue;
    }
    ++m.failing;
    // A failing sample stands for the time until the next decided sample (the last one for one
    // interval), clipped to the window: with outage edges uniformly placed between samples this
    // is unbiased, whereas capping each sample at one interval undercounts whenever the schedule
    // had to skip slots.
    double next = i + 1 < known.size() ? known[i + 1]->t_send : s.t_send + w.interval;
    m.downtime_s += std::max(0.0, std::min(next, w.t_end) - s.t_send);
  }
  m.samples += m.unknown;
  const size_t decided = pass + m.failing;
  m.availability = decided ? static_cast<double>(pass) / decided : 1.0;

  // Detection: the first failing sample at or after the injection.
  size_t first_fail = SIZE_MAX;
  for (size_t i = first_in_window; i < known.size() && known[i]->t_send < w.t_end; ++i) {
    if (known[i]->health == Health::kUnhealthy) {
      first_fail = i;
      break;
    }
  }
  if (first_fail == SIZE_MAX) {
    m.recovered = true;  // no impact: nothing to recover from
    return m;
  }
  m.impact = true;
  const double detect = known[first_fail]->t_send;
  double before = w.t_inject;
  if (first_fail > 0) before = std::max(before, known[first_fail - 1]->t_send);
  m.time_to_detect_s = detect - w.t_inject;
  // The server judged each probe somewhere between its send and its completion, so the change
  // happened after the previous passing probe was sent and before the failing one completed.
  m.detect_bound_s = std::make_pair(before - w.t_inject, known[first_fail]->t_done - w.t_inject);

  // Recovery: the first passing sample that begins a passing run lasting at least stable_for.
  // The run may extend past the window's end; it must begin inside it.
  for (size_t i = first_fail + 1; i < known.size() && known[i]->t_send < w.t_end; ++i) {
    if (known[i]->health != Health::kHealthy) continue;
    const double start = known[i]->t_send;
    size_t j = i;
    bool stable = false;
    while (j < known.size() && known[j]->health == Health::kHealthy) {
      if (known[j]->t_send - start >= w.stable_for) {
        stable = true;
        break;
      }
      ++j;
    }
    if (!stable) {
      i = j;  // the run broke (or data ended) at j; continue after it
      continue;
    }
    const double last_fail = known[i - 1]->t_send;  // known[i-1] is failing by construction
    m.recovered = true;
    m.time_to_recover_s = start - w.t_inject;
    m.recover_bound_s = std::make_pair(last_fail - w.t_inject, known[i]->t_done - w.t_inject);
    if (w.t_revert) m.time_to_recover_after_revert_s = std::max(0.0, start - *w.t_revert);
    break;
  }
  return m;
}

}  // namespace gameday
