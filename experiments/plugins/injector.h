#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "experiments/clock.h"
#include "experiments/plugins/api_access.h"
#include "experiments/spec_reader.h"
#include "experiments/status.h"
#include "experiments/target.h"

namespace gameday {

// One thing a fault can act on: a process, a pod, a node, a host.
struct FaultTarget {
  std::string id;       // stable identity (pid:starttime, namespace/name/uid, host name)
  std::string display;  // what a person reads in dry runs and reports
  std::map<std::string, std::string> attributes;
};

// What injectors may use besides their spec. Clients for the outside world hang off this as they
// are added (Kubernetes, SSH), so a recover run can rebuild them from a journal record.
struct InjectorEnv {
  Clock* clock = &Clock::Real();
  std::string run_id;
  TargetSpec target;
  // The fault's duration when it has one (for on-host expiries); zero for one-shot faults.
  Duration duration{0};
  // Where a successful Revert leaves one sentence a person must read along with "reverted": it
  // undid the fault but could not put everything back as it was (a process restarted without
  // some of its environment). Null when nobody listens; Revert leaves it alone when all is well.
  std::string* revert_note = nullptr;
  // Where a successful Revert leaves what it saw of the fault's course, for the result: measured
  // stages and what was expected of them (a node's NotReady and evictions, a container's
  // restart). Information, not a caveat. Null when nobody listens.
  std::string* revert_observed = nullptr;
  // For every random choice the injector makes itself ("random N of GROUP"): derived from the
  // run's --seed, the step and the round, so the same seed replays the same choices. Never the
  // run id, which is random on every run.
  uint64_t seed = 0;
};

// One configured fault of a plan. The engine selects targets; an injector acts on one at a time.
class Injector {
 public:
  virtual ~Injector() = default;
  // Every target this fault could act on, before selection. Has no side effects.
  virtual Result<std::vector<FaultTarget>> Discover(const InjectorEnv& env) = 0;
  // Everything Revert needs, as a JSON object text. Written to the journal (fsync'd) before
  // Inject is called, so it must not depend on anything Inject does.
  virtual Result<std::string> RevertRecord(const FaultTarget& target, const InjectorEnv& env) = 0;
  // Puts the fault in effect on one target and returns once it is confirmed.
  virtual Status Inject(const FaultTarget& target, const InjectorEnv& env) = 0;
  // False for one-shot faults (a kill) whose "revert" has nothing to undo.
  virtual bool Reversible() const = 0;
  // One line for dry runs: what Inject would do to `target`.
  virtual std::string DescribeAction(const FaultTarget& target) const = 0;
  // The Kubernetes API requests that Discover, RevertRecord, Inject and the kind's Revert make
  // for this fault (none for faults that never call the API).
  virtual std::vector<ApiAccess> ApiAccesses() const { return {}; }
};

// An injector kind: parses its plan `spec`, and reverts from a journal record alone (possibly in
// a later process, after a crash).
class InjectorKind {
 public:
  virtual ~InjectorKind() = default;
  virtual std::string Name() const = 0;
  // Reports every field problem into spec's diagnostics and calls spec.Finish().
  virtual std::unique_ptr<Injector> Parse(SpecNode& spec, const TargetSpec& target) const = 0;
  // Undoes the fault described by `record` (from RevertRecord). Idempotent: reverting a fault
  // that was already reverted, or never injected, succeeds.
  virtual Status Revert(const std::string& record, const InjectorEnv& env) const = 0;
};

}  // namespace gameday
