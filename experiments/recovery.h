#pragma once

#include <optional>
#include <utility>
#include <vector>

#include "experiments/sample.h"

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

// `samples` sorted by t_send.
RecoveryMetrics ComputeRecovery(const std::vector<Sample>& samples, const RecoveryWindow& w);

// Passing ratio of samples with t_send in [from, to); unknown samples are ignored. Returns
// nullopt when there is no known sample in the window.
std::optional<double> SuccessRatio(const std::vector<Sample>& samples, double from, double to);

}  // namespace gameday
