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
//
// A round of a step goes Plan -> Prepare (each target, in parallel) -> Commit (the whole round,
// one journal write and one fsync: group commit) -> Inject (each target, in parallel) -> Settle
// (one journal write clearing the one-shot faults and the committed faults that were never
// injected). A fault is only injected once its record is durable, so `recover` sees every fault
// that went in; a committed fault that never went in is cleared without its Revert, and if
// gameday dies first, `recover` reverts it, which is harmless (reverts are idempotent).
class FaultLedger {
 public:
  struct Hooks {
    // A line on the experiment's timeline (source "fault" or "engine").
    std::function<void(const std::string& source, const std::string& message)> event;
    // The time of a fault action that just completed, on the experiment's axis. The engine's
    // sample feed supplies it, so that "since the last fault action" is exact for its checks.
    std::function<double()> action_time;
  };

  // Reverts in flight at once: reverting dozens of hosts one by one is slow, thousands at once
  // would swamp what they talk to.
  static constexpr size_t kMaxParallelReverts = 32;
  // One-shot faults that went in are cleared from the journal in batches of at most this many
  // (the rest at Settle).
  static constexpr size_t kClearBatch = 256;

  FaultLedger(std::string experiment, std::string run_id, Journal* journal, Clock& clock,
              Hooks hooks);
  FaultLedger(const FaultLedger&) = delete;
  FaultLedger& operator=(const FaultLedger&) = delete;

  // Adds one not-yet-injected fault per target of a step's round; returns their indices.
  std::vector<size_t> Plan(const InjectStep& inject, const InjectorKind* kind,
                           const std::vector<const FaultTarget*>& targets, const InjectorEnv& env,
                           int round, bool reversible);
  // Asks the injector for the revert record of the fault at `index` (it may do I/O; call it for
  // many targets at once). An error says why; that fault is then never journaled nor injected.
  Status Prepare(size_t index, const InjectStep& inject, Injector& injector,
                 const FaultTarget& target);
  // Journals every prepared fault of `indices` with one write and one fsync; returns once they
  // are durable. On an error none of them is journaled, and none may be injected.
  Status Commit(const std::vector<size_t>& indices, const InjectStep& inject);
  // Injects the committed fault at `index` (once; never one that was not committed or was
  // withdrawn). An error says why; the fault stays in the ledger (and the journal) either way.
  Status Inject(size_t index, const InjectStep& inject, Injector& injector,
                const FaultTarget& target);
  // Call when no Inject of `indices` is running any more (the workers joined): withdraws the
  // committed faults of `indices` that were never injected and clears them from the journal
  // without reverting them, together with the one-shot faults whose clear is still due, in one
  // journal write.
  void Settle(const std::vector<size_t>& indices);
  // Reverts those of `indices` that are in effect, up to kMaxParallelReverts at once, each with
  // retries; withdraws those never injected like Settle. The reverted ones are cleared from the
  // journal in one write. Returns why each failed revert failed (they stay in the journal for
  // `gameday recover`).
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
  // Where a fault is on its way in.
  enum class Stage {
    kPlanned,
    kPrepared,   // its revert record is known
    kCommitted,  // journaled; may be injected
    kClaimed,    // Inject was called (or is running): it may be in effect
    kWithdrawn,  // committed but never injected, and now never will be
    kDropped,    // preparing or journaling failed: never injected
  };
  struct Fault {
    FaultResult result;
    const InjectorKind* kind = nullptr;
    JournalRecord record;
    InjectorEnv env;
    Stage stage = Stage::kPlanned;
    bool live = false;       // possibly in effect; must be reverted
    bool journaled = false;  // the journal holds its record, not cleared yet
    bool has_duration = false;
  };

  // Withdraws the committed, never-claimed faults of `indices`; takes (under mu_) the fault ids
  // to clear: those and the one-shot faults due.
  std::vector<std::string> TakeClears(const std::vector<size_t>& indices);
  // Clears `ids` from the journal in one write; a failure is an event (they stay for recover).
  void ClearJournaled(const std::vector<std::string>& ids);

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
  std::vector<size_t> clears_due_;  // one-shot faults that went in, to clear from the journal
};

}  // namespace gameday
