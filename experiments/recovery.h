#pragma once

#include <optional>
#include <utility>
#include <vector>

#include "experiments/health_runs.h"
#include "experiments/sample.h"
// SuccessRatio lived here; the engine still finds it through this header.
#include "experiments/success_ratio.h"

namespace gameday {

// The numbers DESIGN.md defines for one verifier over one disturbance window.
struct RecoveryMetrics {
  bool impact = false;  // any failing sample in the window
  std::optional<double> time_to_detect_s;
  // The true start of the impact lies between the send of the last passing sample before the
  // first failing one and the completion of that failing sample: [lo, hi] relative to t_inject.
  std::optional<std::pair<double, double>> detect_bound_s;
  bool recovered = false;
  std::optional<double> time_to_recover_s;
  // The true recovery lies between the send of the last failing sample and the completion of the
  // first passing one (the point estimate is that passing sample's send).
  std::optional<std::pair<double, double>> recover_bound_s;
  // Recovery measured from the revert, for faults with a duration.
  std::optional<double> time_to_recover_after_revert_s;
  double downtime_s = 0;
  double availability = 1;  // passing / (passing + failing) in the window
  size_t samples = 0;
  size_t failing = 0;
  size_t unknown = 0;
};

struct RecoveryWindow {
  double t_inject = 0;
  std::optional<double> t_revert;  // when the fault was reverted, if it had a duration
  double t_end = 0;                // end of the window (next disturbance or end of observation)
  double stable_for = 1;
  double interval = 0.1;  // the probe interval (bounds a sample's coverage)
};

// The metrics of one window, computed from samples fed one at a time in t_send order (samples of
// every time: it ignores those outside the window, but uses the decided sample just before it and
// the one just after a failing sample). Constant memory.
class RecoveryAccumulator {
 public:
  explicit RecoveryAccumulator(const RecoveryWindow& w) : w_(w) {}

  void Add(const Sample& s);
  // The metrics of the samples added so far, as if no more were to come.
  RecoveryMetrics Finish() const;
  bool impact() const { return m_.impact; }

 private:
  // Where the decided samples have got to relative to [t_inject, t_end).
  enum class Phase { kBefore, kIn, kAfter };

  RecoveryWindow w_;
  RecoveryMetrics m_;  // counts, downtime, detection and recovery so far
  Phase phase_ = Phase::kBefore;
  size_t pass_ = 0;
  std::optional<double> previous_sent_;  // the latest decided sample's send time
  // A failing sample in the window stands until the next decided sample: its send time, until then.
  std::optional<double> failure_pending_;
  // The passing run being timed once there was an impact: the same run the engine waits for.
  StableRun run_;
};

// RecoveryAccumulator over `samples` sorted by t_send.
RecoveryMetrics ComputeRecovery(const std::vector<Sample>& samples, const RecoveryWindow& w);

}  // namespace gameday
