#pragma once

#include <set>
#include <string>
#include <vector>

#include "experiments/plan.h"
#include "experiments/result.h"

namespace gameday {

// What the objective evaluation needs besides the objectives and the measured verifiers.
struct ObjectiveContext {
  bool injected = false;  // at least one fault took effect (objectives need measurements)
  bool dry_run = false;   // nothing was measured, and nothing is judged
  std::set<std::string> repeated_steps;  // steps that ran with `repeat`, for the messages
};

// Judges every objective against the verifiers' measurements, each with a message that puts the
// measured value next to its budget in plain words.
std::vector<ObjectiveResult> EvaluateObjectives(const std::vector<ObjectiveSpec>& objectives,
                                                const std::vector<VerifierResult>& verifiers,
                                                const ObjectiveContext& context);

}  // namespace gameday
