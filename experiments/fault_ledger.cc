#include "experiments/fault_ledger.h"

#include <algorithm>
#include <atomic>
#include <limits>
#include <optional>
#include <thread>

#include "experiments/guarded.h"

namespace gameday {
namespace {

// Margin after a fault's duration for expiries that heal a fault if everything else is lost.
constexpr Duration kExpiryMargin = std::chrono::seconds(30);
constexpr int kRevertAttempts = 3;

int64_t UnixMillis(WallTime t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

}  // namespace

std::string DescribeFault(const Injector& injector, const FaultTarget& target) {
  std::string error;
  return GuardedOr(
      "describe", [&] { return injector.DescribeAction(target); }, target.display, &error);
}

FaultLedger::FaultLedger(std::string experiment, std::string run_id, Journal* journal, Clock& clock,
                         Hooks hooks)
    : experiment_(std::move(experiment)),
      run_id_(std::move(run_id)),
      journal_(journal),
      clock_(clock),
      hooks_(std::move(hooks)) {}

FaultLedger::Guard::~Guard() {
  try {
    ledger_.RevertAll();
  } catch (...) {
    // Reverting itself threw (out of memory): what is left stays in the journal for `recover`.
  }
}

std::vector<size_t> FaultLedger::Plan(const InjectStep& inject, const InjectorKind* kind,
                                      const std::vector<const FaultTarget*>& targets,
                                      const InjectorEnv& env, int round, bool reversible) {
  std::lock_guard lock(mu_);
  std::vector<size_t> indices;
  for (const FaultTarget* target : targets) {
    Fault f;
    f.kind = kind;
    f.env = env;
    f.has_duration = inject.duration.has_value();
    f.result.id = experiment_ + "/" + inject.name + "/" + std::to_string(++counter_[inject.name]);
    f.result.step = inject.name;
    f.result.round = round;
    f.result.kind = inject.kind;
    f.result.target = target->display;
    f.result.target_id = target->id;
    f.result.reversible = reversible;
    f.result.revert = RevertState::kNotInjected;
    indices.push_back(faults_.size());
    faults_.push_back(std::move(f));
  }
  return indices;
}

Status FaultLedger::Prepare(size_t index, const InjectStep& inject, Injector& injector,
                            const FaultTarget& target) {
  InjectorEnv env;
  {
    std::lock_guard lock(mu_);
    env = faults_[index].env;
  }
  auto record = Guarded(inject.name + ": preparing the revert of " + target.display,
                        [&] { return injector.RevertRecord(target, env); });
  std::lock_guard lock(mu_);
  Fault& f = faults_[index];
  if (!record.ok()) {
    f.stage = Stage::kDropped;
    f.result.error = record.status().message();
    return Status::Internal("cannot prepare the revert of " + target.display +
                            ", so it was not injected: " + record.status().message());
  }
  f.record.fault_id = f.result.id;
  f.record.run_id = run_id_;
  f.record.kind = inject.kind;
  f.record.target_id = target.id;
  f.record.target_display = target.display;
  f.record.revert = std::move(*record);
  f.stage = Stage::kPrepared;
  return Status::Ok();
}

Status FaultLedger::Commit(const std::vector<size_t>& indices, const InjectStep& inject) {
  const WallTime now = clock_.WallNow();
  const int64_t injected_ms = UnixMillis(now);
  const int64_t expires_ms = inject.duration
                                 ? UnixMillis(now + std::chrono::duration_cast<WallTime::duration>(
                                                        *inject.duration + kExpiryMargin))
                                 : 0;
  std::vector<size_t> batch;
  std::vector<JournalRecord> records;
  {
    std::lock_guard lock(mu_);
    for (size_t i : indices) {
      Fault& f = faults_[i];
      if (f.stage != Stage::kPrepared) continue;
      f.record.injected_unix_ms = injected_ms;
      f.record.expires_unix_ms = expires_ms;
      batch.push_back(i);
      records.push_back(f.record);
    }
  }
  if (records.empty()) return Status::Ok();
  const Status journaled = journal_->Record(records);
  std::lock_guard lock(mu_);
  for (size_t i : batch) {
    Fault& f = faults_[i];
    if (journaled.ok()) {
      f.stage = Stage::kCommitted;
      f.journaled = true;
    } else {
      f.stage = Stage::kDropped;
      f.result.error = "cannot write the journal, so it was not injected: " + journaled.message();
    }
  }
  if (!journaled.ok()) {
    return Status::Internal("cannot write the journal, so none of the " +
                            std::to_string(batch.size()) + " target(s) of " + inject.name +
                            " was injected: " + journaled.message());
  }
  return Status::Ok();
}

Status FaultLedger::Inject(size_t index, const InjectStep& inject, Injector& injector,
                           const FaultTarget& target) {
  InjectorEnv env;
  {
    std::lock_guard lock(mu_);
    Fault& f = faults_[index];
    // Claimed under the lock, so Settle and Revert know for certain which faults never went in.
    if (f.stage != Stage::kCommitted) {
      return Status::FailedPrecondition(target.display + " was not injected: " +
                                        (f.stage == Stage::kClaimed ? "it was injected already"
                                         : f.stage == Stage::kWithdrawn
                                             ? "the round was settled first"
                                             : "its revert is not in the journal"));
    }
    f.stage = Stage::kClaimed;
    f.live = true;  // from here on it must be reverted, even if Inject fails
    env = f.env;
  }
  Status injected = Guarded(inject.name + ": injecting into " + target.display,
                            [&] { return injector.Inject(target, env); });
  const double t = hooks_.action_time();
  std::vector<std::string> clears;
  {
    std::lock_guard lock(mu_);
    Fault& f = faults_[index];
    f.result.t_inject = t;
    f.result.revert = RevertState::kPending;
    if (!injected.ok()) {
      f.result.error = injected.message();
    } else if (!f.result.reversible) {
      f.result.revert = RevertState::kNotNeeded;
      f.live = false;
      clears_due_.push_back(index);
      // Cleared in batches: the record is harmless until then (`recover` would revert a fault
      // that needs no revert, which does nothing).
      if (clears_due_.size() >= kClearBatch) clears = TakeClears({});
    }
  }
  ClearJournaled(clears);
  if (!injected.ok()) {
    return Status::Internal("injecting into " + target.display + " failed: " + injected.message());
  }
  hooks_.event("fault", "injected " + inject.name + ": " + DescribeFault(injector, target));
  return Status::Ok();
}

std::vector<std::string> FaultLedger::TakeClears(const std::vector<size_t>& indices) {
  std::vector<std::string> ids;
  for (size_t i : indices) {
    Fault& f = faults_[i];
    if (f.stage != Stage::kCommitted) continue;
    f.stage = Stage::kWithdrawn;
    if (f.journaled) ids.push_back(f.record.fault_id);
    f.journaled = false;
  }
  for (size_t i : clears_due_) {
    if (faults_[i].journaled) ids.push_back(faults_[i].record.fault_id);
    faults_[i].journaled = false;
  }
  clears_due_.clear();
  return ids;
}

void FaultLedger::ClearJournaled(const std::vector<std::string>& ids) {
  if (ids.empty()) return;
  if (Status cleared = journal_->Clear(ids); !cleared.ok()) {
    hooks_.event("engine", "journal: " + cleared.message());
  }
}

void FaultLedger::Settle(const std::vector<size_t>& indices) {
  std::vector<std::string> ids;
  {
    std::lock_guard lock(mu_);
    ids = TakeClears(indices);
  }
  ClearJournaled(ids);
}

std::vector<std::string> FaultLedger::Revert(const std::vector<size_t>& indices) {
  // What one revert came to; filled by the workers, read after they joined.
  struct Outcome {
    Fault* fault = nullptr;
    Status status;
    std::string note;
    std::string observed;
    std::optional<double> t;
  };
  std::vector<Outcome> work;
  std::vector<std::string> withdrawn;
  {
    std::lock_guard lock(mu_);
    withdrawn = TakeClears(indices);
    for (size_t i : indices) {
      if (faults_[i].live) work.push_back(Outcome{&faults_[i], Status::Ok(), "", "", std::nullopt});
    }
  }
  ClearJournaled(withdrawn);

  auto revert_one = [&](Outcome& o) {
    Fault* f = o.fault;
    InjectorEnv env = f->env;
    env.revert_note = &o.note;
    env.revert_observed = &o.observed;
    for (int attempt = 1; attempt <= kRevertAttempts; ++attempt) {
      o.status = Guarded("reverting " + f->result.target,
                         [&] { return f->kind->Revert(f->record.revert, env); });
      if (o.status.ok()) break;
      clock_.SleepFor(std::chrono::milliseconds(200 * attempt), std::stop_token());
    }
    // Only a revert that worked is a fault action: recovery counts from the last one.
    if (o.status.ok()) o.t = hooks_.action_time();
  };
  std::atomic<size_t> next{0};
  auto worker = [&] {
    for (size_t k = next++; k < work.size(); k = next++) {
      try {
        revert_one(work[k]);
      } catch (...) {
        work[k].status =
            Status::Internal("reverting " + work[k].fault->result.target +
                             " stopped: " + DescribeException(std::current_exception()));
      }
    }
  };
  {
    std::vector<std::jthread> threads;
    const size_t n_threads = std::min(kMaxParallelReverts, work.size());
    for (size_t w = 1; w < n_threads; ++w) {
      try {
        threads.emplace_back(worker);
      } catch (...) {
        break;  // out of threads: those that started, and this one, take every revert
      }
    }
    worker();
  }  // joins

  std::vector<std::string> cleared;
  {
    std::lock_guard lock(mu_);
    for (Outcome& o : work) {
      Fault* f = o.fault;
      if (o.status.ok()) {
        f->live = false;
        f->result.t_revert = o.t;
        f->result.revert = RevertState::kReverted;
        f->result.revert_note = o.note;
        f->result.observed = o.observed;
        if (f->journaled) cleared.push_back(f->record.fault_id);
        f->journaled = false;
      } else {
        f->result.revert = RevertState::kFailed;
        f->result.error = o.status.message();
        revert_failed_ = true;
      }
    }
  }
  ClearJournaled(cleared);
  std::vector<std::string> failures;
  for (const Outcome& o : work) {
    const FaultResult& r = o.fault->result;
    if (o.status.ok()) {
      hooks_.event("fault", "reverted " + r.step + " on " + r.target +
                                (o.note.empty() ? "" : " (NOTE: " + o.note + ")") +
                                (o.observed.empty() ? "" : "; observed: " + o.observed));
    } else {
      failures.push_back(
          "reverting " + r.target +
          " failed (it stays in the journal for `gameday recover`): " + o.status.message());
      hooks_.event("fault",
                   "revert of " + r.step + " on " + r.target + " FAILED: " + o.status.message());
    }
  }
  return failures;
}

std::vector<std::string> FaultLedger::RevertAll() {
  std::vector<size_t> all, live;
  {
    std::lock_guard lock(mu_);
    for (size_t i = 0; i < faults_.size(); ++i) {
      all.push_back(i);
      if (faults_[i].live) live.push_back(i);
    }
  }
  // Committed faults a halt left uninjected, and one-shot clears still due.
  Settle(all);
  if (live.empty()) return {};
  hooks_.event("engine", "reverting " + std::to_string(live.size()) + " live fault(s)");
  return Revert(live);
}

double FaultLedger::FirstInjected(const std::vector<size_t>& indices) const {
  double first = std::numeric_limits<double>::infinity();
  std::lock_guard lock(mu_);
  for (size_t i : indices) {
    if (faults_[i].live) first = std::min(first, faults_[i].result.t_inject);
  }
  return first;
}

bool FaultLedger::AnyInjected() const {
  std::lock_guard lock(mu_);
  return std::any_of(faults_.begin(), faults_.end(),
                     [](const Fault& f) { return f.result.revert != RevertState::kNotInjected; });
}

bool FaultLedger::RevertFailed() const {
  std::lock_guard lock(mu_);
  return revert_failed_;
}

std::vector<FaultResult> FaultLedger::Results() const {
  std::lock_guard lock(mu_);
  std::vector<FaultResult> out;
  out.reserve(faults_.size());
  for (const Fault& f : faults_) out.push_back(f.result);
  return out;
}

std::vector<FaultTiming> FaultLedger::Timings() const {
  std::lock_guard lock(mu_);
  std::vector<FaultTiming> out;
  for (const Fault& f : faults_) {
    FaultTiming t;
    t.step = f.result.step;
    t.round = f.result.round;
    t.t_inject = f.result.t_inject;
    t.t_revert = f.result.t_revert;
    t.has_duration = f.has_duration;
    t.injected = f.result.revert != RevertState::kNotInjected;
    out.push_back(std::move(t));
  }
  return out;
}

std::set<std::string> FaultLedger::RepeatedSteps() const {
  std::lock_guard lock(mu_);
  return repeated_;
}

void FaultLedger::MarkRepeated(const std::string& step) {
  std::lock_guard lock(mu_);
  repeated_.insert(step);
}

}  // namespace gameday
