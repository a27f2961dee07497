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
  // Moves verifier `index`'s samples decided since the last call to the end of `out`, in send
  // order: a sample is released once every probe of that verifier sent before it was decided, so
  // successive calls yield one sequence sorted by t_send. After Stop() everything is released.
  // Holds the sampler's lock only for a swap; the sampler keeps nothing it has released.
  virtual void Drain(size_t index, std::vector<Sample>* out) = 0;
  // Ok, or why sampling broke on its own thread (a verifier threw); the engine then reverts every
  // fault and ends the experiment in error. Thread-safe.
  virtual Status Failure() const { return Status::Ok(); }
};

using SamplingFactory =
    std::function<std::unique_ptr<Sampling>(const std::vector<VerifierSpec>& verifiers, Clock&)>;

}  // namespace gameday
