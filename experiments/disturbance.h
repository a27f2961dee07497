#pragma once

#include <optional>
#include <string>
#include <vector>

namespace gameday {

// What the recovery metrics need to know of one fault.
struct FaultTiming {
  std::string step;  // the step's name
  int round = 0;     // 1-based round of a repeated step; 0 when the step does not repeat
  double t_inject = 0;
  std::optional<double> t_revert;  // when its revert completed
  bool has_duration = false;       // reverted after a duration (not a one-shot fault)
  bool injected = false;           // false when the injection failed: it disturbed nothing
};

// One step's faults, which start together and are measured together.
struct Disturbance {
  std::string name;  // the step's name
  double t_inject = 0;
  std::optional<double> t_revert;    // the last revert of a fault with a duration
  std::vector<double> round_starts;  // each round's first injection, by round (repeated steps)
  double last_action = 0;            // the last revert, else the last injection
};

// The disturbances of the injected faults, one per step, sorted by t_inject (steps injected at
// the same time keep the order of their first fault).
std::vector<Disturbance> DisturbancesOf(const std::vector<FaultTiming>& faults);

}  // namespace gameday
