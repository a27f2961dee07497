#pragma once

#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "experiments/disturbance.h"
#include "experiments/health_runs.h"
#include "experiments/journal.h"
#include "experiments/plan.h"
#include "experiments/recovery.h"
#include "experiments/result.h"
#include "experiments/status.h"

namespace gameday {

// An injector's one-line description of its action on `target`; one that throws is not worth
// stopping for (the action itself is guarded separately), so the target's name stands in.
std::string DescribeFault(const Injector& injector, const FaultTarget& target);

// Every fault of one experiment, from the moment targets are chosen until it is reverted: the
// journal is written before anything is injected, a revert is retried, and whatever is still in
// effect is reverted on every path out (RevertAll, also from Guard's destructor). Thread-safe:
// parallel steps inject and revert through one ledger.
class FaultLedger {
 public:
  struct Hooks {
    // A line on the experiment's timeline (source "fault" or "engine").
    std::function<void(const std::string& source, const std::string& message)> event;
    // The time of a fault action that just completed, on the experiment's axis. The engine's
    // sample feed supplies it, so that "since the last fault action" is exact for its checks.
    std::function<double()> action_time;
  };

  FaultLedger(std::string experiment, std::string run_id, Journal* journal, Clock& clock,
              Hooks hooks);
  FaultLedger(const FaultLedger&) = delete;
  FaultLedger& operator=(const FaultLedger&) = delete;

  // Adds one not-yet-injected fault per target of a step's round; returns their indices.
  std::vector<size_t> Plan(const InjectStep& inject, const InjectorKind* kind,
                           const std::vector<const FaultTarget*>& targets, const InjectorEnv& env,
                           int round, bool reversible);
  // Journals the fault at `index`, then injects it. An error says why (and that nothing was
  // injected when it failed before the inject call); the fault stays in the ledger either way.
  Status Inject(size_t index, const InjectStep& inject, Injector& injector,
                const FaultTarget& target);
  // Reverts those of `indices` that are in effect, each with retries. Returns why each failed
  // revert failed (they stay in the journal for `gameday recover`).
  std::vector<std::string> Revert(const std::vector<size_t>& indices);
  // Reverts everything still in effect.
  std::vector<std::string> RevertAll();

  // Reverts everything still in effect when it goes out of scope, whatever the path out.
  class Guard {
   public:
    explicit Guard(FaultLedger& ledger) : ledger_(ledger) {}
    ~Guard();
    Guard(const Guard&) = delete;
    Guard& operator=(const Guard&) = delete;

   private:
    FaultLedger& ledger_;
  };

  // The earliest injection among `indices` that took effect; +infinity when none did.
  double FirstInjected(const std::vector<size_t>& indices) const;
  bool AnyInjected() const;
  bool RevertFailed() const;
  std::vector<FaultResult> Results() const;
  // What the recovery measurement needs of every fault (experiments/recovery.h).
  std::vector<FaultTiming> Timings() const;
  // Names of the steps that ran with `repeat`.
  std::set<std::string> RepeatedSteps() const;
  void MarkRepeated(const std::string& step);

 private:
  struct Fault {
    FaultResult result;
    const InjectorKind* kind = nullptr;
    JournalRecord record;
    InjectorEnv env;
    bool live = false;  // journaled and possibly in effect; must be reverted
    bool has_duration = false;
  };

  const std::string experiment_;
  const std::string run_id_;
  Journal* journal_;
  Clock& clock_;
  Hooks hooks_;

  mutable std::mutex mu_;                  // guards everything below
  std::deque<Fault> faults_;               // a deque: references stay valid while others are added
  std::map<std::string, size_t> counter_;  // faults so far per step, for fault ids
  std::set<std::string> repeated_;
  bool revert_failed_ = false;
};

}  // namespace gameday
