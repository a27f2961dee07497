#pragma once

#include <optional>
#include <vector>

#include "experiments/disturbance.h"
#include "experiments/last_round_recovery.h"
#include "experiments/recovery.h"
#include "experiments/result.h"
#include "experiments/sample.h"

namespace gameday {

// One verifier's recovery metrics over the disturbances of a run, fed its samples one at a time in
// t_send order, in memory that does not grow with the samples:
// - overall: from the first disturbance to the end of observation, reverted at the last revert;
// - per step: from the step's injection to the next step's (the last one to the end), each
//   repeated step recovering after its last round with an impact, and overall likewise after the
//   last such round of every repeated step.
class VerifierRecovery {
 public:
  VerifierRecovery(std::vector<Disturbance> steps, double stable_for, double interval);

  void Add(const Sample& s);
  // Default metrics when there was no disturbance.
  RecoveryMetrics Overall() const;
  // One entry per disturbance, sorted by t_inject, named after its step.
  std::vector<FaultMetrics> PerStep() const;
  // When the verifier recovered overall, on the experiment's axis.
  std::optional<double> RecoveredAt() const;

 private:
  struct Step {
    std::string name;
    RecoveryAccumulator metrics;
    std::optional<LastRoundRecovery> rounds;  // repeated steps only
  };

  std::optional<RecoveryWindow> window_;  // overall; none without a disturbance
  std::optional<RecoveryAccumulator> overall_;
  std::optional<LastRoundRecovery> overall_rounds_;
  std::vector<Step> steps_;
};

}  // namespace gameday
