#pragma once

#include <memory>
#include <string>
#include <vector>

#include "experiments/clock.h"
#include "experiments/plugins/api_access.h"
#include "experiments/result.h"
#include "experiments/spec_reader.h"
#include "experiments/status.h"
#include "experiments/target.h"

namespace gameday {

// Records what the system under test did during an experiment ("pod deleted", "replacement
// created", "node NotReady") as timeline events, so a report can show them next to the samples.
// A watch never decides pass or fail.
class Watch {
 public:
  virtual ~Watch() = default;
  // Starts recording; event times are seconds since `epoch`. Failures become events.
  virtual void Start(MonoTime epoch) = 0;
  // Stops recording (bounded, about a second) and returns everything recorded.
  virtual std::vector<TimelineEvent> Stop() = 0;
  // Ok, or why the watch broke on its own thread (something in it threw, or the API server
  // refused it: the rights are missing); the engine then
  // reverts every fault and ends the experiment in error. Thread-safe.
  virtual Status Failure() const { return Status::Ok(); }
  // The Kubernetes API requests the watch makes.
  virtual std::vector<ApiAccess> ApiAccesses() const { return {}; }
};

// A watch kind: parses its plan `spec` into a Watch.
class WatchKind {
 public:
  virtual ~WatchKind() = default;
  virtual std::string Name() const = 0;
  // Reports every field problem into spec's diagnostics and calls spec.Finish().
  virtual std::unique_ptr<Watch> Parse(SpecNode& spec, const TargetSpec& target) const = 0;
};

}  // namespace gameday
