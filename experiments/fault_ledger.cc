#include "experiments/fault_ledger.h"

#include <algorithm>
#include <limits>

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

Status FaultLedger::Inject(size_t index, const InjectStep& inject, Injector& injector,
                           const FaultTarget& target) {
  InjectorEnv env;
  JournalRecord jr;
  {
    std::lock_guard lock(mu_);
    env = faults_[index].env;
    jr.fault_id = faults_[index].result.id;
  }
  auto record = Guarded(inject.name + ": preparing the revert of " + target.display,
                        [&] { return injector.RevertRecord(target, env); });
  if (!record.ok()) {
    std::lock_guard lock(mu_);
    faults_[index].result.error = record.status().message();
    return Status::Internal("cannot prepare the revert of " + target.display +
                            ", so it was not injected: " + record.status().message());
  }
  jr.run_id = run_id_;
  jr.kind = inject.kind;
  jr.target_id = target.id;
  jr.target_display = target.display;
  jr.revert = *record;
  jr.injected_unix_ms = UnixMillis(clock_.WallNow());
  if (inject.duration) {
    jr.expires_unix_ms =
        UnixMillis(clock_.WallNow() + std::chrono::duration_cast<WallTime::duration>(
                                          *inject.duration + kExpiryMargin));
  }
  if (Status journaled = journal_->Record(jr); !journaled.ok()) {
    return Status::Internal("cannot write the journal, so " + target.display +
                            " was not injected: " + journaled.message());
  }
  {
    std::lock_guard lock(mu_);
    faults_[index].record = jr;
    faults_[index].live = true;  // from here on it must be reverted, even if Inject fails
  }
  Status injected = Guarded(inject.name + ": injecting into " + target.display,
                            [&] { return injector.Inject(target, env); });
  const double t = hooks_.action_time();
  bool one_shot = false;
  {
    std::lock_guard lock(mu_);
    Fault& f = faults_[index];
    f.result.t_inject = t;
    f.result.revert = RevertState::kPending;
    if (!injected.ok()) {
      f.result.error = injected.message();
    } else if (!f.result.reversible) {
      one_shot = true;
      f.result.revert = RevertState::kNotNeeded;
      f.live = false;
    }
  }
  if (!injected.ok()) {
    return Status::Internal("injecting into " + target.display + " failed: " + injected.message());
  }
  if (one_shot) {
    if (Status cleared = journal_->Clear(jr.fault_id); !cleared.ok()) {
      hooks_.event("engine", "journal: " + cleared.message());
    }
  }
  hooks_.event("fault", "injected " + inject.name + ": " + DescribeFault(injector, target));
  return Status::Ok();
}

std::vector<std::string> FaultLedger::Revert(const std::vector<size_t>& indices) {
  std::vector<std::string> failures;
  for (size_t i : indices) {
    Fault* f;
    {
      std::lock_guard lock(mu_);
      f = &faults_[i];
      if (!f->live) continue;
    }
    Status st;
    std::string note;
    InjectorEnv env = f->env;
    env.revert_note = &note;
    for (int attempt = 1; attempt <= kRevertAttempts; ++attempt) {
      st = Guarded("reverting " + f->result.target,
                   [&] { return f->kind->Revert(f->record.revert, env); });
      if (st.ok()) break;
      clock_.SleepFor(std::chrono::milliseconds(200 * attempt), std::stop_token());
    }
    // Only a revert that worked is a fault action: recovery counts from the last one.
    const std::optional<double> t =
        st.ok() ? std::optional<double>(hooks_.action_time()) : std::nullopt;
    {
      std::lock_guard lock(mu_);
      if (st.ok()) {
        f->live = false;
        f->result.t_revert = t;
        f->result.revert = RevertState::kReverted;
        f->result.revert_note = note;
      } else {
        f->result.revert = RevertState::kFailed;
        f->result.error = st.message();
        revert_failed_ = true;
      }
    }
    if (st.ok()) {
      if (Status cleared = journal_->Clear(f->record.fault_id); !cleared.ok()) {
        hooks_.event("engine", "journal: " + cleared.message());
      }
      hooks_.event("fault", "reverted " + f->result.step + " on " + f->result.target +
                                (note.empty() ? "" : " (NOTE: " + note + ")"));
    } else {
      failures.push_back(
          "reverting " + f->result.target +
          " failed (it stays in the journal for `gameday recover`): " + st.message());
      hooks_.event("fault", "revert of " + f->result.step + " on " + f->result.target +
                                " FAILED: " + st.message());
    }
  }
  return failures;
}

std::vector<std::string> FaultLedger::RevertAll() {
  std::vector<size_t> live;
  {
    std::lock_guard lock(mu_);
    for (size_t i = 0; i < faults_.size(); ++i) {
      if (faults_[i].live) live.push_back(i);
    }
  }
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
