#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "experiments/clock.h"
#include "experiments/plan.h"
#include "experiments/sample.h"
#include "experiments/status.h"

namespace gameday {

// One run of sampling for all verifiers of an experiment, each on its own drift-free schedule
// (next deadline = previous deadline + interval). Implemented by verifiers/probe/probe_loop.h.
class Sampling {
 public:
  virtual ~Sampling() = default;
  // Starts sampling; sample times are seconds since `epoch`.
  virtual void Start(MonoTime epoch) = 0;
  // Stops scheduling, waits for in-flight probes (bounded by their timeouts) and returns.
  virtual void Stop() = 0;
  // A copy of verifier `index`'s samples so far, sorted by send time.
  virtual std::vector<Sample> Snapshot(size_t index) const = 0;
  // Ok, or why sampling broke on its own thread (a verifier threw); the engine then reverts every
  // fault and ends the experiment in error. Thread-safe.
  virtual Status Failure() const { return Status::Ok(); }
};

using SamplingFactory =
    std::function<std::unique_ptr<Sampling>(const std::vector<VerifierSpec>& verifiers, Clock&)>;

}  // namespace gameday
