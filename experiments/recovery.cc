#include "experiments/recovery.h"

#include <algorithm>

namespace gameday {

// Unknown samples (the probe itself could not tell) are neither passing nor failing: they are
// counted, then left out of every computation.
void RecoveryAccumulator::Add(const Sample& s) {
  // Past the window with nothing left open: no later sample (sorted by t_send) changes anything.
  if (phase_ == Phase::kAfter && !failure_pending_ && (!m_.impact || m_.recovered)) return;
  if (s.health == Health::kUnknown) {
    if (s.t_send >= w_.t_inject && s.t_send < w_.t_end) ++m_.unknown;
    return;
  }
  if (failure_pending_) {
    // A failing sample stands for the time until the next decided sample (the last one for one
    // interval), clipped to the window: with outage edges uniformly placed between samples this
    // is unbiased, whereas capping each sample at one interval undercounts whenever the schedule
    // had to skip slots.
    m_.downtime_s += std::max(0.0, std::min(s.t_send, w_.t_end) - *failure_pending_);
    failure_pending_.reset();
  }
  if (phase_ == Phase::kBefore && s.t_send >= w_.t_inject) phase_ = Phase::kIn;
  if (phase_ == Phase::kIn && !(s.t_send < w_.t_end)) phase_ = Phase::kAfter;
  if (phase_ == Phase::kIn) {
    ++m_.samples;
    if (s.health == Health::kHealthy) {
      ++pass_;
    } else {
      ++m_.failing;
      failure_pending_ = s.t_send;
      if (!m_.impact) {
        // Detection: the first failing sample at or after the injection. The server judged each
        // probe somewhere between its send and its completion, so the change happened after the
        // previous passing probe was sent and before the failing one completed.
        m_.impact = true;
        const double before = std::max(w_.t_inject, previous_sent_.value_or(w_.t_inject));
        m_.time_to_detect_s = s.t_send - w_.t_inject;
        m_.detect_bound_s = std::make_pair(before - w_.t_inject, s.t_done - w_.t_inject);
      }
    }
  }
  previous_sent_ = s.t_send;
  if (!m_.impact || m_.recovered) return;
  // Recovery: the first passing sample after the first failure that begins a passing run lasting
  // at least stable_for. The run may extend past the window's end; it must begin inside it.
  run_.Add(s);
  if (s.health != Health::kHealthy || !run_.Holds(w_.stable_for)) return;
  const StableRun::Start& start = *run_.start();
  if (!(start.t_send < w_.t_end)) return;
  m_.recovered = true;
  m_.time_to_recover_s = start.t_send - w_.t_inject;
  // The true recovery lies between the send of the last failing sample and the completion of the
  // first passing one; the first failure went into the run, so a failure precedes every start.
  m_.recover_bound_s = std::make_pair(start.after_failure_sent.value_or(start.t_send) - w_.t_inject,
                                      start.t_done - w_.t_inject);
  if (w_.t_revert) m_.time_to_recover_after_revert_s = std::max(0.0, start.t_send - *w_.t_revert);
}

RecoveryMetrics RecoveryAccumulator::Finish() const {
  RecoveryMetrics m = m_;
  if (failure_pending_) {
    m.downtime_s +=
        std::max(0.0, std::min(*failure_pending_ + w_.interval, w_.t_end) - *failure_pending_);
  }
  m.samples += m.unknown;
  const size_t decided = pass_ + m.failing;
  m.availability = decided ? static_cast<double>(pass_) / decided : 1.0;
  if (!m.impact) m.recovered = true;  // no impact: nothing to recover from
  return m;
}

RecoveryMetrics ComputeRecovery(const std::vector<Sample>& samples, const RecoveryWindow& w) {
  RecoveryAccumulator accumulator(w);
  for (const Sample& s : samples) accumulator.Add(s);
  return accumulator.Finish();
}

}  // namespace gameday
