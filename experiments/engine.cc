#include "experiments/engine.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <deque>
#include <limits>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "experiments/guarded.h"
#include "experiments/journal.h"
#include "experiments/recovery.h"
#include "experiments/run_id.h"
#include "experiments/selection.h"

namespace gameday {
namespace {

constexpr double kForever = std::numeric_limits<double>::infinity();
// Margin after a fault's duration for expiries that heal a fault if everything else is lost.
constexpr Duration kExpiryMargin = std::chrono::seconds(30);
constexpr int kRevertAttempts = 3;
constexpr size_t kMaxParallelInjects = 16;

std::string Fixed(double v, int digits) {
  std::ostringstream out;
  out.setf(std::ios::fixed);
  out.precision(digits);
  out << v;
  return out.str();
}

std::string Seconds(double s) { return Fixed(s, s < 10 ? 3 : 2) + " s"; }
std::string Percent(double r) { return Fixed(r * 100, 2) + "%"; }
std::string RoundsText(size_t n) { return std::to_string(n) + (n == 1 ? " round" : " rounds"); }

// A repeated step is one disturbance: detection and downtime count from its first round, but
// recovery is what follows its last round that had an impact (recovering between rounds only to
// fail again is not recovery). Rewrites the recovery fields of `m`, which was computed over the
// whole window `w`; times stay relative to w.t_inject. `last_action` is the step's last revert,
// or its last round's injection for one-shot faults: time_to_recover_after_revert_s counts from
// there.
void RecoverAfterLastRound(const std::vector<Sample>& samples, const RecoveryWindow& w,
                           std::vector<double> round_starts, double last_action,
                           RecoveryMetrics* m) {
  if (!m->impact) return;
  std::sort(round_starts.begin(), round_starts.end());
  for (auto it = round_starts.rbegin(); it != round_starts.rend(); ++it) {
    if (*it < w.t_inject) continue;
    RecoveryWindow rw = w;
    rw.t_inject = *it;
    rw.t_revert.reset();
    const RecoveryMetrics after = ComputeRecovery(samples, rw);
    if (!after.impact) continue;
    const double shift = *it - w.t_inject;
    m->recovered = after.recovered;
    m->time_to_recover_s.reset();
    m->recover_bound_s.reset();
    m->time_to_recover_after_revert_s.reset();
    if (after.time_to_recover_s) {
      m->time_to_recover_s = *after.time_to_recover_s + shift;
      m->recover_bound_s = std::make_pair(after.recover_bound_s->first + shift,
                                          after.recover_bound_s->second + shift);
      m->time_to_recover_after_revert_s =
          std::max(0.0, *it + *after.time_to_recover_s - last_action);
    }
    return;
  }
}

// An injector's one-line description of its action; a description that throws is not worth
// stopping for (the action itself is guarded separately).
std::string Describe(const Injector& injector, const FaultTarget& target) {
  std::string error;
  return GuardedOr(
      "describe", [&] { return injector.DescribeAction(target); }, target.display, &error);
}

// The seed an injector draws its own choices from (InjectorEnv::seed): a function of the
// experiment's seed, the step's place in the plan and the round only, so parallel steps and the
// order threads run in cannot change it, and a dry run shows what the real run will pick.
uint64_t StepSeed(uint64_t experiment_seed, const std::string& step_path, int round) {
  uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a over the path, then the round
  for (unsigned char c : step_path) h = (h ^ c) * 0x100000001b3ull;
  h = (h ^ static_cast<uint64_t>(round)) * 0x100000001b3ull;
  uint64_t z = experiment_seed ^ h;  // SplitMix64's finaliser spreads every input bit
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

std::string WatchName(const WatchSpec& w) { return "the " + w.kind + " watch at " + w.path; }

// Why the method stopped early; the first cause wins.
enum class Halt { kNone, kFailed, kError, kAbortCondition, kSignal };

struct FaultState {
  FaultResult result;
  const InjectorKind* kind = nullptr;
  JournalRecord record;
  InjectorEnv env;
  bool live = false;  // journaled and possibly in effect; must be reverted
  bool has_duration = false;
};

class ExperimentRun {
 public:
  ExperimentRun(const ExperimentSpec& spec, const Registries& registries,
                const SamplingFactory& sampling, Clock& clock, const EngineOptions& options,
                Journal* journal, uint64_t seed)
      : spec_(spec),
        registries_(registries),
        sampling_factory_(sampling),
        clock_(clock),
        options_(options),
        journal_(journal),
        seed_(seed),
        rng_(seed),
        external_stop_(options.stop, [this] {
          HaltWith(Halt::kSignal,
                   options_.stop_reason ? options_.stop_reason() : "interrupted by a signal");
        }) {}

  ExperimentResult Run();
  // Last resort when Run() itself threw: reverts whatever is still live and reports the run as
  // an error. Whatever cannot be reverted stays in the journal.
  ExperimentResult Salvage(const std::string& why);

 private:
  double Now() const { return ToSeconds(clock_.Now() - epoch_); }
  void Event(const std::string& source, const std::string& message);
  void HaltWith(Halt cause, const std::string& reason);
  bool Halted() const { return halt_.stop_requested(); }

  void DryRun();
  void DryRunSteps(const std::vector<Step>& steps);
  bool WarmUp();
  void RunSteps(const std::vector<Step>& steps);
  void RunStep(const Step& step);
  // RunStep for a thread of its own: anything thrown halts the experiment with an error.
  void RunStepOnThread(const Step& step);
  // The samples of verifier `i`; a sampling that throws halts the experiment with an error.
  std::vector<Sample> Samples(size_t i);
  // Starts sampling and the watches; an error when one of them threw (nothing may be injected).
  Status StartObserving();
  void StopObserving();
  // Plugins that broke on a thread of their own (the probe loop, a watch) halt the experiment.
  void CheckObservers();
  void RunInject(const Step& step, const InjectStep& inject);
  // One round of an inject step (round 0: the step does not repeat). False when the method must
  // stop (halted, or nothing could be injected).
  bool RunRound(const Step& step, const InjectStep& inject, int round);
  void InjectOne(const InjectStep& inject, Injector& injector, const FaultTarget& target,
                 size_t index);
  void Revert(const std::vector<size_t>& indices);
  void RevertAll();
  void WaitForRecovery();
  void CoolDown();
  void Monitor(std::stop_token stop);
  bool AbortConditionHolds(const AbortSpec& abort, const std::vector<Sample>& samples, double now);
  void Finalize();
  void EvaluateObjectives();

  const ExperimentSpec& spec_;
  const Registries& registries_;
  const SamplingFactory& sampling_factory_;
  Clock& clock_;
  const EngineOptions& options_;
  Journal* journal_;
  const uint64_t seed_;
  std::mt19937_64 rng_;

  MonoTime epoch_;
  ExperimentResult result_;
  std::unique_ptr<Sampling> sampling_;
  std::stop_source halt_;  // stops the method early; see cause_

  std::mutex mu_;  // guards everything below
  Halt cause_ = Halt::kNone;
  std::vector<std::string> reasons_;
  std::deque<FaultState> faults_;
  std::map<std::string, size_t> inject_counter_;  // faults so far per step, for fault ids
  std::set<std::string> repeated_steps_;          // steps that ran with `repeat`
  bool injecting_ = false;
  bool revert_failed_ = false;
  bool steady_before_ok_ = true;
  // Last: its callback may run during construction and needs every member above.
  std::stop_callback<std::function<void()>> external_stop_;
};

void ExperimentRun::Event(const std::string& source, const std::string& message) {
  TimelineEvent e{Now(), source, message};
  {
    std::lock_guard lock(mu_);
    result_.events.push_back(e);
  }
  if (options_.observer) options_.observer->OnEvent(spec_.name, e);
}

void ExperimentRun::HaltWith(Halt cause, const std::string& reason) {
  {
    std::lock_guard lock(mu_);
    if (cause_ == Halt::kNone) cause_ = cause;
    // The monitor sees a broken plugin on every tick; once is enough.
    if (!reason.empty() && std::find(reasons_.begin(), reasons_.end(), reason) == reasons_.end()) {
      reasons_.push_back(reason);
    }
  }
  halt_.request_stop();
}

ExperimentResult ExperimentRun::Run() {
  epoch_ = clock_.Now();
  result_.name = spec_.name;
  result_.description = spec_.description;
  result_.labels = spec_.labels;
  result_.start_wall = clock_.WallNow();

  if (options_.dry_run) {
    try {
      DryRun();
    } catch (...) {
      HaltWith(Halt::kError, "the dry run stopped: " + DescribeException(std::current_exception()));
    }
  } else {
    if (Status started = StartObserving(); !started.ok()) {
      HaltWith(Halt::kError, "nothing was injected: " + started.message());
    }
    Event("engine", "sampling " + std::to_string(spec_.verifiers.size()) +
                        " verifier(s); warm-up " + FormatDuration(spec_.warmup));
    std::jthread monitor([this](std::stop_token st) {
      try {
        Monitor(st);
      } catch (...) {
        // Without the monitor no abort condition is watched: stop the method and revert.
        HaltWith(Halt::kError,
                 "monitoring stopped: " + DescribeException(std::current_exception()));
      }
    });
    // Whatever the method throws (a plugin, a thread that could not start, memory), the faults
    // it put in go out below before anything else happens.
    try {
      if (!Halted() && WarmUp() && !Halted()) {
        {
          std::lock_guard lock(mu_);
          injecting_ = true;
        }
        RunSteps(spec_.method);
      }
    } catch (...) {
      HaltWith(Halt::kError, "the method stopped: " + DescribeException(std::current_exception()));
    }
    RevertAll();
    bool any_injected;
    {
      std::lock_guard lock(mu_);
      any_injected = !faults_.empty();
    }
    Halt cause;
    {
      std::lock_guard lock(mu_);
      cause = cause_;
    }
    if (any_injected && cause != Halt::kSignal) WaitForRecovery();
    if (steady_before_ok_ && any_injected && !options_.stop.stop_requested()) CoolDown();
    monitor.request_stop();
    monitor.join();
    CheckObservers();  // a plugin that broke after the monitor's last look
    StopObserving();
    std::stable_sort(result_.events.begin(), result_.events.end(),
                     [](const TimelineEvent& a, const TimelineEvent& b) { return a.t < b.t; });
    Event("engine", "sampling stopped");
  }
  result_.end_wall = clock_.WallNow();
  result_.duration_s = Now();
  Finalize();
  return std::move(result_);
}

ExperimentResult ExperimentRun::Salvage(const std::string& why) {
  HaltWith(Halt::kError, why);
  try {
    RevertAll();
  } catch (...) {
    std::lock_guard lock(mu_);
    reasons_.push_back("reverting stopped: " + DescribeException(std::current_exception()) +
                       "; what was not reverted stays in the journal for `gameday recover`");
  }
  ExperimentResult out;
  out.name = spec_.name;
  out.status = ExperimentStatus::kError;
  std::lock_guard lock(mu_);
  out.reasons = reasons_;
  for (const FaultState& f : faults_) out.faults.push_back(f.result);
  return out;
}

Status ExperimentRun::StartObserving() {
  Status st = Guarded("starting the probes", [&]() -> Status {
    sampling_ = sampling_factory_(spec_.verifiers, clock_);
    if (!sampling_) return Status::Internal("no sampling");
    sampling_->Start(epoch_);
    return Status::Ok();
  });
  if (!st.ok()) return st;
  for (const WatchSpec& w : spec_.watches) {
    st = Guarded(WatchName(w), [&] {
      w.watch->Start(epoch_);
      return Status::Ok();
    });
    if (!st.ok()) return st;
  }
  return Status::Ok();
}

void ExperimentRun::StopObserving() {
  if (sampling_) {
    Status st = Guarded("stopping the probes", [&] {
      sampling_->Stop();
      return Status::Ok();
    });
    if (!st.ok()) HaltWith(Halt::kError, st.message());
  }
  for (const WatchSpec& w : spec_.watches) {
    Result<std::vector<TimelineEvent>> seen = Guarded(
        WatchName(w), [&]() -> Result<std::vector<TimelineEvent>> { return w.watch->Stop(); });
    if (!seen.ok()) {
      HaltWith(Halt::kError, seen.status().message());
      continue;
    }
    std::lock_guard lock(mu_);
    result_.events.insert(result_.events.end(), seen->begin(), seen->end());
  }
}

void ExperimentRun::CheckObservers() {
  if (sampling_) {
    Status st = Guarded("the probes", [&] { return sampling_->Failure(); });
    if (!st.ok()) HaltWith(Halt::kError, st.message() + "; reverting every fault");
  }
  for (const WatchSpec& w : spec_.watches) {
    Status st = Guarded(WatchName(w), [&] { return w.watch->Failure(); });
    if (!st.ok()) HaltWith(Halt::kError, WatchName(w) + ": " + st.message());
  }
}

std::vector<Sample> ExperimentRun::Samples(size_t i) {
  if (!sampling_) return {};
  Result<std::vector<Sample>> samples = Guarded(
      "the probes", [&]() -> Result<std::vector<Sample>> { return sampling_->Snapshot(i); });
  if (samples.ok()) return std::move(*samples);
  HaltWith(Halt::kError, samples.status().message());
  return {};
}

void ExperimentRun::DryRun() {
  Event("engine", "dry run: nothing is injected or probed");
  for (const VerifierSpec& v : spec_.verifiers) {
    std::string error;
    const std::string described = GuardedOr(
        "verifier " + v.name, [&] { return v.verifier->Describe(); }, std::string("?"), &error);
    if (!error.empty()) HaltWith(Halt::kError, error);
    Event("verifier", "would probe " + v.name + " (" + v.kind + "): " + described + " every " +
                          FormatDuration(v.interval));
  }
  DryRunSteps(spec_.method);
}

void ExperimentRun::DryRunSteps(const std::vector<Step>& steps) {
  for (const Step& step : steps) {
    if (const auto* wait = std::get_if<WaitStep>(&step.action)) {
      Event("engine", step.path + ": would wait " + FormatDuration(wait->duration));
    } else if (const auto* par = std::get_if<ParallelStep>(&step.action)) {
      Event("engine",
            step.path + ": would run " + std::to_string(par->steps.size()) + " steps in parallel");
      DryRunSteps(par->steps);
    } else {
      const auto& inject = std::get<InjectStep>(step.action);
      InjectorEnv env;
      env.clock = &clock_;
      env.run_id = options_.run_id;
      env.target = spec_.target;
      // The choices of the real run's first round, so a dry run shows what --seed will pick.
      env.seed = StepSeed(seed_, step.path, inject.repeat ? 1 : 0);
      const std::string what = step.path + " " + inject.name + " (" + inject.kind + ", mode " +
                               SelectModeName(inject.select.mode) + ")";
      auto candidates =
          Guarded(what + ": discovery", [&] { return inject.injector->Discover(env); });
      if (!candidates.ok()) {
        HaltWith(Halt::kError, what + ": discovery failed: " + candidates.status().message());
        continue;
      }
      auto chosen = SelectTargets(candidates->size(), inject.select, rng_);
      if (!chosen.ok()) {
        HaltWith(Halt::kFailed, what + ": the selection is empty (no target matched)");
        continue;
      }
      Event("engine", what + ": " + std::to_string(chosen->size()) + " of " +
                          std::to_string(candidates->size()) + " candidate(s)" +
                          (inject.duration ? ", for " + FormatDuration(*inject.duration) : ""));
      if (inject.repeat) {
        const int64_t rounds = (inject.repeat->span.count() + inject.repeat->every.count() - 1) /
                               inject.repeat->every.count();
        Event("engine", what + ": would repeat every " + FormatDuration(inject.repeat->every) +
                            " for " + FormatDuration(inject.repeat->span) + " (" +
                            RoundsText(rounds) +
                            "); targets are chosen again each round, these are round 1's");
      }
      for (size_t i : *chosen) {
        Event("fault", "would " + Describe(*inject.injector, (*candidates)[i]));
      }
    }
  }
}

bool ExperimentRun::WarmUp() {
  if (!clock_.SleepUntil(epoch_ + spec_.warmup, halt_.get_token())) return false;
  // Every verifier needs at least one decided sample; allow a few intervals for the first.
  const MonoTime give_up = clock_.Now() + std::chrono::seconds(5);
  std::vector<std::string> failures;
  for (size_t i = 0; i < spec_.verifiers.size(); ++i) {
    const VerifierSpec& v = spec_.verifiers[i];
    std::optional<double> ratio;
    while (true) {
      ratio = SuccessRatio(Samples(i), 0, Now());
      if (ratio || clock_.Now() >= give_up || Halted()) break;
      clock_.SleepFor(v.interval, halt_.get_token());
    }
    result_.verifiers.resize(spec_.verifiers.size());
    result_.verifiers[i].steady_before = ratio;
    if (!ratio) {
      failures.push_back(v.name + " produced no decided sample during the warm-up");
    } else if (*ratio < v.slo.success_ratio) {
      failures.push_back(v.name + " passed " + Percent(*ratio) + " of its samples, SLO " +
                         Percent(v.slo.success_ratio));
    }
  }
  if (Halted()) return false;
  if (!failures.empty()) {
    steady_before_ok_ = false;
    std::string reason = "steady state did not hold before injection, so nothing was injected: ";
    for (size_t i = 0; i < failures.size(); ++i) reason += (i ? "; " : "") + failures[i];
    HaltWith(Halt::kFailed, reason);
    Event("engine", reason);
    return false;
  }
  Event("engine", "steady state holds; injecting");
  return true;
}

void ExperimentRun::RunSteps(const std::vector<Step>& steps) {
  for (const Step& step : steps) {
    if (Halted()) return;
    RunStep(step);
  }
}

void ExperimentRun::RunStep(const Step& step) {
  if (const auto* wait = std::get_if<WaitStep>(&step.action)) {
    Event("engine", step.path + ": wait " + FormatDuration(wait->duration));
    clock_.SleepFor(wait->duration, halt_.get_token());
  } else if (const auto* par = std::get_if<ParallelStep>(&step.action)) {
    std::vector<std::jthread> threads;
    try {
      for (const Step& sub : par->steps) {
        threads.emplace_back([this, &sub] { RunStepOnThread(sub); });
      }
    } catch (...) {
      // Out of threads: the steps already started stop at once (halted) and are joined below.
      HaltWith(Halt::kError, step.path + ": cannot run the steps in parallel: " +
                                 DescribeException(std::current_exception()));
    }
  } else {
    RunInject(step, std::get<InjectStep>(step.action));
  }
}

void ExperimentRun::RunStepOnThread(const Step& step) {
  try {
    RunStep(step);
  } catch (...) {
    HaltWith(Halt::kError, step.path + " stopped: " + DescribeException(std::current_exception()));
  }
}

void ExperimentRun::RunInject(const Step& step, const InjectStep& inject) {
  if (!inject.repeat) {
    RunRound(step, inject, 0);
    return;
  }
  // Rounds are scheduled from the first round's start (drift-free): round k at first + k*every,
  // strictly before `for` has elapsed. A round that overran its slot makes the next one start at
  // the next slot still ahead, so the cadence and the window hold.
  const RepeatSpec& r = *inject.repeat;
  const std::string what = step.path + " " + inject.name + " (" + inject.kind + ")";
  const int64_t slots = (r.span.count() + r.every.count() - 1) / r.every.count();
  {
    std::lock_guard lock(mu_);
    repeated_steps_.insert(inject.name);
  }
  const MonoTime first = clock_.Now();
  Event("engine", what + ": repeating every " + FormatDuration(r.every) + " for " +
                      FormatDuration(r.span) + " (" + RoundsText(slots) +
                      "), targets chosen again each round");
  int round = 0;
  for (int64_t k = 0; k < slots;) {
    if (Halted()) return;
    const MonoTime slot = first + r.every * k;
    if (!clock_.SleepUntil(slot, halt_.get_token()) || Halted()) return;
    ++round;
    Event("engine", what + ": round " + std::to_string(round) + " of " + std::to_string(slots) +
                        " at +" + FormatDuration(clock_.Now() - first));
    if (!RunRound(step, inject, round)) return;
    const MonoTime now = clock_.Now();
    int64_t next = k + 1;
    if (next < slots && first + r.every * next < now) {
      // Skip the slots the round overran rather than firing them back to back.
      const int64_t due = ((now - first).count() + r.every.count() - 1) / r.every.count();
      Event("engine", what + ": round " + std::to_string(round) + " overran its interval; " +
                          RoundsText(static_cast<size_t>(std::min(due, slots) - next)) +
                          " skipped");
      next = due;
    }
    k = next;
  }
}

bool ExperimentRun::RunRound(const Step& step, const InjectStep& inject, int round) {
  const std::string what = step.path + " " + inject.name + " (" + inject.kind + ")";
  InjectorEnv env;
  env.clock = &clock_;
  env.run_id = options_.run_id;
  env.target = spec_.target;
  env.duration = inject.duration.value_or(Duration{0});
  env.seed = StepSeed(seed_, step.path, round);
  auto candidates = Guarded(what + ": discovery", [&] { return inject.injector->Discover(env); });
  if (!candidates.ok()) {
    HaltWith(Halt::kError,
             what + ": discovery failed, nothing was injected: " + candidates.status().message());
    return false;
  }
  std::sort(candidates->begin(), candidates->end(),
            [](const FaultTarget& a, const FaultTarget& b) { return a.id < b.id; });
  Result<std::vector<size_t>> chosen = Status::Internal("unset");
  {
    std::lock_guard lock(mu_);  // rng_ is shared by parallel steps
    chosen = SelectTargets(candidates->size(), inject.select, rng_);
  }
  if (!chosen.ok()) {
    HaltWith(Halt::kFailed, what + (round > 0 ? " round " + std::to_string(round) : "") +
                                ": the selection is empty (no target matched), so nothing was "
                                "injected");
    return false;
  }
  std::string chosen_text;
  for (size_t i : *chosen) {
    chosen_text += (chosen_text.empty() ? "" : ", ") + (*candidates)[i].display;
  }
  Event("engine", what + (round > 0 ? " round " + std::to_string(round) : "") + ": " +
                      std::to_string(chosen->size()) + " of " + std::to_string(candidates->size()) +
                      " target(s), mode " + SelectModeName(inject.select.mode) + ": " +
                      chosen_text);

  // A kind that cannot even say whether it is reversible is treated as reversible: reverting a
  // fault that needs none is harmless, leaving one in place is not.
  std::string error;
  const bool reversible = GuardedOr(
      what, [&] { return inject.injector->Reversible(); }, true, &error);
  if (!error.empty()) {
    HaltWith(Halt::kError, error + ", so nothing was injected");
    return false;
  }
  std::vector<size_t> indices;
  {
    std::lock_guard lock(mu_);
    for (size_t i = 0; i < chosen->size(); ++i) {
      FaultState f;
      const FaultTarget& target = (*candidates)[(*chosen)[i]];
      f.kind = registries_.injectors.Find(inject.kind);
      f.env = env;
      f.has_duration = inject.duration.has_value();
      f.result.id =
          spec_.name + "/" + inject.name + "/" + std::to_string(++inject_counter_[inject.name]);
      f.result.step = inject.name;
      f.result.round = round;
      f.result.kind = inject.kind;
      f.result.target = target.display;
      f.result.target_id = target.id;
      f.result.reversible = reversible;
      f.result.revert_status = "not-injected";
      indices.push_back(faults_.size());
      faults_.push_back(std::move(f));
    }
  }
  // Inject on up to kMaxParallelInjects targets at once; each target is journaled first.
  std::atomic<size_t> next{0};
  std::vector<std::jthread> workers;
  const size_t n_workers = std::min(kMaxParallelInjects, indices.size());
  auto work = [&] {
    try {
      for (size_t k = next++; k < indices.size(); k = next++) {
        if (Halted()) return;
        InjectOne(inject, *inject.injector, (*candidates)[(*chosen)[k]], indices[k]);
      }
    } catch (...) {
      HaltWith(Halt::kError,
               what + ": injecting stopped: " + DescribeException(std::current_exception()));
    }
  };
  for (size_t w = 0; w < n_workers; ++w) {
    try {
      workers.emplace_back(work);
    } catch (...) {
      // Out of threads: the workers that did start take every target; none at all is an error.
      if (workers.empty()) {
        HaltWith(Halt::kError, what + ": cannot start a thread to inject, nothing was injected: " +
                                   DescribeException(std::current_exception()));
      }
      break;
    }
  }
  workers.clear();  // joins

  if (Halted()) return false;
  if (!inject.duration || !reversible) return true;
  double first_inject = kForever;
  {
    std::lock_guard lock(mu_);
    for (size_t i : indices) {
      if (faults_[i].live) first_inject = std::min(first_inject, faults_[i].result.t_inject);
    }
  }
  if (first_inject == kForever) return true;
  clock_.SleepUntil(epoch_ + FromSeconds(first_inject) + *inject.duration, halt_.get_token());
  Revert(indices);
  return !Halted();
}

void ExperimentRun::InjectOne(const InjectStep& inject, Injector& injector,
                              const FaultTarget& target, size_t index) {
  InjectorEnv env;
  {
    std::lock_guard lock(mu_);
    env = faults_[index].env;
  }
  auto record = Guarded(inject.name + ": preparing the revert of " + target.display,
                        [&] { return injector.RevertRecord(target, env); });
  if (!record.ok()) {
    std::lock_guard lock(mu_);
    faults_[index].result.error = record.status().message();
  }
  if (!record.ok()) {
    HaltWith(Halt::kError, "cannot prepare the revert of " + target.display +
                               ", so it was not injected: " + record.status().message());
    return;
  }
  JournalRecord jr;
  {
    std::lock_guard lock(mu_);
    jr.fault_id = faults_[index].result.id;
  }
  jr.run_id = options_.run_id;
  jr.kind = inject.kind;
  jr.target_id = target.id;
  jr.target_display = target.display;
  jr.revert = *record;
  const auto wall_ms = [](WallTime t) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  };
  jr.injected_unix_ms = wall_ms(clock_.WallNow());
  if (inject.duration) {
    jr.expires_unix_ms = wall_ms(clock_.WallNow() + std::chrono::duration_cast<WallTime::duration>(
                                                        *inject.duration + kExpiryMargin));
  }
  Status journaled = journal_->Record(jr);
  if (!journaled.ok()) {
    HaltWith(Halt::kError, "cannot write the journal, so " + target.display +
                               " was not injected: " + journaled.message());
    return;
  }
  {
    std::lock_guard lock(mu_);
    faults_[index].record = jr;
    faults_[index].live = true;  // from here on it must be reverted, even if Inject fails
  }
  Status injected = Guarded(inject.name + ": injecting into " + target.display,
                            [&] { return injector.Inject(target, env); });
  const double t = Now();
  bool one_shot = false;
  {
    std::lock_guard lock(mu_);
    FaultResult& r = faults_[index].result;
    r.t_inject = t;
    if (injected.ok()) {
      r.revert_status = "pending";
      if (!r.reversible) {
        one_shot = true;
        r.revert_status = "not-needed";
        faults_[index].live = false;
      }
    } else {
      r.error = injected.message();
      r.revert_status = "pending";
    }
  }
  if (!injected.ok()) {
    HaltWith(Halt::kError, "injecting into " + target.display + " failed: " + injected.message());
    return;
  }
  if (one_shot) {
    Status cleared = journal_->Clear(jr.fault_id);
    if (!cleared.ok()) Event("engine", "journal: " + cleared.message());
  }
  Event("fault", "injected " + inject.name + ": " + Describe(injector, target));
}

void ExperimentRun::Revert(const std::vector<size_t>& indices) {
  for (size_t i : indices) {
    FaultState* f;
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
    const double t = Now();
    {
      std::lock_guard lock(mu_);
      if (st.ok()) {
        f->live = false;
        f->result.t_revert = t;
        f->result.revert_status = "reverted";
        f->result.revert_note = note;
      } else {
        f->result.revert_status = "failed";
        f->result.error = st.message();
        revert_failed_ = true;
        reasons_.push_back("reverting " + f->result.target +
                           " failed (it stays in the journal "
                           "for `gameday recover`): " +
                           st.message());
      }
    }
    if (st.ok()) {
      Status cleared = journal_->Clear(f->record.fault_id);
      if (!cleared.ok()) Event("engine", "journal: " + cleared.message());
      Event("fault", "reverted " + f->result.step + " on " + f->result.target +
                         (note.empty() ? "" : " (NOTE: " + note + ")"));
    } else {
      Event("fault",
            "revert of " + f->result.step + " on " + f->result.target + " FAILED: " + st.message());
    }
  }
}

void ExperimentRun::RevertAll() {
  std::vector<size_t> live;
  {
    std::lock_guard lock(mu_);
    for (size_t i = 0; i < faults_.size(); ++i) {
      if (faults_[i].live) live.push_back(i);
    }
  }
  if (!live.empty()) Event("engine", "reverting " + std::to_string(live.size()) + " live fault(s)");
  Revert(live);
}

void ExperimentRun::WaitForRecovery() {
  double last_action = 0;
  {
    std::lock_guard lock(mu_);
    for (const FaultState& f : faults_) {
      last_action = std::max(last_action, f.result.t_revert.value_or(f.result.t_inject));
    }
  }
  Event("engine", "waiting for recovery (stable for " + FormatDuration(spec_.stable_for) +
                      ", timeout " + FormatDuration(spec_.recovery_timeout) + ")");
  const double stable = ToSeconds(spec_.stable_for);
  const MonoTime deadline = epoch_ + FromSeconds(last_action) + spec_.recovery_timeout;
  std::vector<bool> recovered(spec_.verifiers.size(), false);
  std::stop_token signal = options_.stop;
  while (true) {
    bool all = true;
    for (size_t i = 0; i < spec_.verifiers.size(); ++i) {
      if (recovered[i]) continue;
      const std::vector<Sample> samples = Samples(i);
      // Recovered: the decided samples since the last failure (and since the last fault action)
      // are all passing and span at least stable_for.
      double run_start = -1, last = -1;
      for (const Sample& s : samples) {
        if (s.health == Health::kUnknown || s.t_send < last_action) continue;
        if (s.health == Health::kUnhealthy) {
          run_start = -1;
        } else {
          if (run_start < 0) run_start = s.t_send;
          last = s.t_send;
        }
      }
      recovered[i] = run_start >= 0 && last - run_start >= stable;
      all = all && recovered[i];
    }
    if (all) {
      Event("engine", "every verifier recovered");
      return;
    }
    if (clock_.Now() >= deadline || signal.stop_requested()) break;
    clock_.SleepFor(std::chrono::milliseconds(20), signal);
  }
  for (size_t i = 0; i < spec_.verifiers.size(); ++i) {
    if (recovered[i]) continue;
    std::lock_guard lock(mu_);
    reasons_.push_back(spec_.verifiers[i].name + " did not recover within the recovery timeout (" +
                       FormatDuration(spec_.recovery_timeout) + " after the last fault action)");
  }
  Event("engine", "recovery timeout reached");
}

void ExperimentRun::CoolDown() {
  const double from = Now();
  Event("engine", "cool-down: steady state must hold again for " + FormatDuration(spec_.cooldown));
  clock_.SleepFor(spec_.cooldown, options_.stop);
  const double to = Now();
  result_.verifiers.resize(spec_.verifiers.size());
  for (size_t i = 0; i < spec_.verifiers.size(); ++i) {
    const VerifierSpec& v = spec_.verifiers[i];
    auto ratio = SuccessRatio(Samples(i), from, to);
    result_.verifiers[i].steady_after = ratio;
    std::lock_guard lock(mu_);
    if (!ratio) {
      reasons_.push_back("steady state after: " + v.name + " produced no decided sample");
    } else if (*ratio < v.slo.success_ratio) {
      reasons_.push_back("steady state did not hold after recovery: " + v.name + " passed " +
                         Percent(*ratio) + " of its samples, SLO " + Percent(v.slo.success_ratio));
    }
  }
}

bool ExperimentRun::AbortConditionHolds(const AbortSpec& abort, const std::vector<Sample>& samples,
                                        double now) {
  // The trailing run of failing decided samples must span at least failing_for.
  double run_start = -1;
  for (auto it = samples.rbegin(); it != samples.rend(); ++it) {
    if (it->health == Health::kUnknown) continue;
    if (it->health == Health::kHealthy) break;
    run_start = it->t_send;
  }
  return run_start >= 0 && now - run_start >= ToSeconds(abort.failing_for);
}

void ExperimentRun::Monitor(std::stop_token stop) {
  std::map<std::string, size_t> index;
  for (size_t i = 0; i < spec_.verifiers.size(); ++i) index[spec_.verifiers[i].name] = i;
  while (!stop.stop_requested()) {
    clock_.SleepFor(std::chrono::milliseconds(200), stop);
    const double now = Now();
    std::vector<std::vector<Sample>> snaps;
    for (size_t i = 0; i < spec_.verifiers.size(); ++i) snaps.push_back(Samples(i));
    CheckObservers();
    bool injecting;
    {
      std::lock_guard lock(mu_);
      injecting = injecting_;
    }
    if (injecting && !Halted()) {
      for (const AbortSpec& abort : spec_.aborts) {
        if (AbortConditionHolds(abort, snaps[index[abort.verifier]], now)) {
          const std::string reason = "abort condition " + abort.path + " held: " + abort.verifier +
                                     " failed for " + FormatDuration(abort.failing_for) +
                                     "; reverting at once";
          HaltWith(Halt::kAbortCondition, reason);
          Event("engine", reason);
          break;
        }
      }
    }
    if (options_.observer) {
      std::vector<VerifierLive> live;
      for (size_t i = 0; i < snaps.size(); ++i) {
        VerifierLive v;
        v.name = spec_.verifiers[i].name;
        v.samples = snaps[i].size();
        for (const Sample& s : snaps[i]) v.failing += s.health == Health::kUnhealthy;
        if (!snaps[i].empty()) {
          v.last = snaps[i].back().health;
          v.last_latency_ms = snaps[i].back().latency_ms;
          v.last_detail = snaps[i].back().detail;
        }
        live.push_back(std::move(v));
      }
      options_.observer->OnTick(spec_.name, now, live);
    }
  }
}

void ExperimentRun::Finalize() {
  // Plugins are asked before the lock: one that throws halts the experiment, which locks too.
  std::vector<std::vector<Sample>> all_samples;
  std::vector<std::string> descriptions;
  for (const VerifierSpec& v : spec_.verifiers) {
    all_samples.push_back(Samples(all_samples.size()));
    std::string error;
    descriptions.push_back(GuardedOr(
        "verifier " + v.name, [&] { return v.verifier->Describe(); }, std::string("?"), &error));
    if (!error.empty()) HaltWith(Halt::kError, error);
  }
  std::lock_guard lock(mu_);
  // Disturbances are steps: a step's faults start together and are measured together.
  struct StepWindow {
    std::string name;
    double t_inject = kForever;
    std::optional<double> t_revert;
    std::map<int, double> round_starts;  // round -> its first injection (repeated steps)
    double last_action = 0;              // last revert, else last injection
  };
  std::vector<StepWindow> steps;
  for (const FaultState& f : faults_) {
    if (f.result.revert_status == "not-injected") continue;
    auto it = std::find_if(steps.begin(), steps.end(),
                           [&](const StepWindow& s) { return s.name == f.result.step; });
    if (it == steps.end()) {
      it = steps.emplace(steps.end());
      it->name = f.result.step;
    }
    it->t_inject = std::min(it->t_inject, f.result.t_inject);
    if (f.has_duration && f.result.t_revert) {
      it->t_revert = std::max(it->t_revert.value_or(0), *f.result.t_revert);
    }
    if (f.result.round > 0) {
      auto [r, inserted] = it->round_starts.emplace(f.result.round, f.result.t_inject);
      if (!inserted) r->second = std::min(r->second, f.result.t_inject);
    }
    it->last_action =
        std::max(it->last_action,
                 f.has_duration && f.result.t_revert ? *f.result.t_revert : f.result.t_inject);
  }
  auto starts_of = [](const StepWindow& s) {
    std::vector<double> out;
    for (const auto& [round, t] : s.round_starts) out.push_back(t);
    return out;
  };
  std::sort(steps.begin(), steps.end(),
            [](const StepWindow& a, const StepWindow& b) { return a.t_inject < b.t_inject; });

  result_.verifiers.resize(spec_.verifiers.size());
  for (size_t i = 0; i < spec_.verifiers.size(); ++i) {
    const VerifierSpec& v = spec_.verifiers[i];
    VerifierResult& out = result_.verifiers[i];
    out.name = v.name;
    out.kind = v.kind;
    out.description = descriptions[i];
    out.interval_s = ToSeconds(v.interval);
    out.slo_success_ratio = v.slo.success_ratio;
    out.samples = std::move(all_samples[i]);
    if (steps.empty()) continue;
    RecoveryWindow w;
    w.stable_for = ToSeconds(spec_.stable_for);
    w.interval = out.interval_s;
    w.t_inject = steps.front().t_inject;
    w.t_end = kForever;
    for (const StepWindow& s : steps) {
      if (s.t_revert) w.t_revert = std::max(w.t_revert.value_or(0), *s.t_revert);
    }
    out.overall = ComputeRecovery(out.samples, w);
    std::vector<double> all_rounds;
    double last_repeated_action = 0;
    for (size_t k = 0; k < steps.size(); ++k) {
      RecoveryWindow sw = w;
      sw.t_inject = steps[k].t_inject;
      sw.t_revert = steps[k].t_revert;
      sw.t_end = k + 1 < steps.size() ? steps[k + 1].t_inject : kForever;
      RecoveryMetrics m = ComputeRecovery(out.samples, sw);
      if (!steps[k].round_starts.empty()) {
        const std::vector<double> starts = starts_of(steps[k]);
        RecoverAfterLastRound(out.samples, sw, starts, steps[k].last_action, &m);
        all_rounds.insert(all_rounds.end(), starts.begin(), starts.end());
        last_repeated_action = std::max(last_repeated_action, steps[k].last_action);
      }
      out.per_fault.push_back({steps[k].name, m});
    }
    if (!all_rounds.empty()) {
      RecoverAfterLastRound(out.samples, w, all_rounds, last_repeated_action, &out.overall);
    }
    if (out.overall.time_to_recover_s) {
      result_.t_last_recovery = std::max(result_.t_last_recovery.value_or(0),
                                         w.t_inject + *out.overall.time_to_recover_s);
    }
  }
  if (!steps.empty()) result_.t_first_inject = steps.front().t_inject;
  for (FaultState& f : faults_) result_.faults.push_back(f.result);

  EvaluateObjectives();

  bool objectives_ok = std::all_of(result_.objectives.begin(), result_.objectives.end(),
                                   [](const ObjectiveResult& o) { return o.passed; });
  for (const ObjectiveResult& o : result_.objectives) {
    if (!o.passed) reasons_.push_back(o.name + ": " + o.message);
  }
  if (cause_ == Halt::kError) {
    result_.status = ExperimentStatus::kError;
  } else if (cause_ == Halt::kSignal || cause_ == Halt::kAbortCondition || revert_failed_) {
    result_.status = ExperimentStatus::kAborted;
  } else if (cause_ == Halt::kFailed || !objectives_ok || !reasons_.empty()) {
    result_.status = ExperimentStatus::kFailed;
  } else {
    result_.status = ExperimentStatus::kPassed;
  }

  // An expected failure turns the verdict around only when the method ran (the steady state held
  // and every target was found) and the objectives were measured: an objective that failed then
  // is the expected failure; every objective holding is an unexpected pass. Aborts and errors
  // stay what they are, and a dry run measures nothing.
  result_.expected_failure = spec_.expected_failure;
  const bool injected = std::any_of(faults_.begin(), faults_.end(), [](const FaultState& f) {
    return f.result.revert_status != "not-injected";
  });
  if (!spec_.expected_failure.empty() && !options_.dry_run &&
      result_.status != ExperimentStatus::kError && result_.status != ExperimentStatus::kAborted) {
    if (cause_ == Halt::kNone && injected && !objectives_ok) {
      result_.status = ExperimentStatus::kPassed;
      result_.outcome = ExperimentOutcome::kExpectedFailure;
    } else if (result_.status == ExperimentStatus::kPassed) {
      result_.status = ExperimentStatus::kFailed;
      result_.outcome = ExperimentOutcome::kUnexpectedPass;
      reasons_.push_back("expected to fail but passed: every objective held (expected failure: " +
                         spec_.expected_failure + ")");
    }
  }
  result_.reasons = reasons_;
}

void ExperimentRun::EvaluateObjectives() {
  // Objectives need measurements; a dry run or a run that never injected has none to judge.
  const bool injected = std::any_of(faults_.begin(), faults_.end(), [](const FaultState& f) {
    return f.result.revert_status != "not-injected";
  });
  for (const ObjectiveSpec& o : spec_.objectives) {
    ObjectiveResult r;
    r.verifier = o.verifier;
    r.type = ObjectiveTypeName(o.type);
    auto it = std::find_if(result_.verifiers.begin(), result_.verifiers.end(),
                           [&](const VerifierResult& v) { return v.name == o.verifier; });
    if (it == result_.verifiers.end()) continue;  // the plan validator rules this out
    const RecoveryMetrics* overall = &it->overall;
    switch (o.type) {
      case ObjectiveSpec::Type::kRecoverWithin: {
        r.name = o.verifier + " recovers within " + Seconds(o.limit);
        r.limit = o.limit;
        // Per step: from the injection for one-shot faults, from the revert for faults with a
        // duration (the outage during the fault is intended).
        r.passed = true;
        bool any_impact = false;
        std::string worst;
        double worst_time = -1;
        for (const FaultMetrics& fm : it->per_fault) {
          const RecoveryMetrics& m = fm.metrics;
          if (!m.impact) continue;
          any_impact = true;
          if (!m.recovered) {
            r.passed = false;
            worst = "after " + fm.fault_id + " it had not recovered when observation ended";
            worst_time = kForever;
            continue;
          }
          const double t = m.time_to_recover_after_revert_s.value_or(*m.time_to_recover_s);
          if (t > worst_time) {
            worst_time = t;
            const auto& b = *m.recover_bound_s;
            worst = "recovered in " + Seconds(t) +
                    (!m.time_to_recover_after_revert_s    ? ""
                     : repeated_steps_.count(fm.fault_id) ? " after the last round"
                                                          : " after the revert") +
                    " (true moment within " + Fixed(b.first, 3) + "–" + Fixed(b.second, 3) +
                    " s of the injection) after " + fm.fault_id;
          }
          if (t > o.limit) r.passed = false;
        }
        if (!any_impact) {
          r.measured = 0;
          r.message = "no impact observed";
        } else {
          if (worst_time != kForever) r.measured = worst_time;
          r.message = worst + ", budget " + Seconds(o.limit);
        }
        break;
      }
      case ObjectiveSpec::Type::kMustDetect:
        r.name = o.verifier + " detects the fault";
        r.passed = overall && overall->impact;
        if (r.passed) {
          r.measured = overall->time_to_detect_s;
          r.message = "detected " + Seconds(*overall->time_to_detect_s) + " after the injection";
        } else {
          r.message = "no failing sample after the injection: the fault went unnoticed";
        }
        break;
      case ObjectiveSpec::Type::kMustNotDetect:
        r.name = o.verifier + " sees no impact";
        r.passed = overall && !overall->impact;
        r.measured = overall ? overall->downtime_s : 0;
        r.message = r.passed ? "no failing sample"
                             : std::to_string(overall->failing) + " failing sample(s), first " +
                                   Seconds(*overall->time_to_detect_s) + " after the injection";
        break;
      case ObjectiveSpec::Type::kMaxDowntime:
        r.name = o.verifier + " downtime at most " + Seconds(o.limit);
        r.limit = o.limit;
        r.measured = overall ? overall->downtime_s : 0;
        r.passed = *r.measured <= o.limit;
        r.message = "downtime " + Seconds(*r.measured) + ", budget " + Seconds(o.limit);
        break;
      case ObjectiveSpec::Type::kMinAvailability:
        r.name = o.verifier + " availability at least " + Percent(o.limit);
        r.limit = o.limit;
        r.measured = overall ? overall->availability : 0;
        r.passed = *r.measured >= o.limit;
        r.message = "availability " + Percent(*r.measured) + ", minimum " + Percent(o.limit);
        break;
    }
    if (!injected) {
      r.passed = false;
      r.measured.reset();
      r.message = "not evaluated: no fault was injected";
      if (options_.dry_run) r.message = "not evaluated in a dry run";
      if (options_.dry_run) r.passed = true;
    }
    result_.objectives.push_back(std::move(r));
  }
}

}  // namespace

Engine::Engine(const Registries& registries, SamplingFactory sampling, Clock& clock,
               EngineOptions options)
    : registries_(registries),
      sampling_(std::move(sampling)),
      clock_(clock),
      options_(std::move(options)) {}

RunResult Engine::Run(const Plan& plan) {
  RunResult run;
  run.run_id = options_.run_id.empty() ? NewRunId(clock_.WallNow()) : options_.run_id;
  options_.run_id = run.run_id;
  run.plan_file = plan.file;
  run.plan_name = plan.name;
  run.seed = options_.seed;
  run.dry_run = options_.dry_run;
  run.gameday_version = options_.version;
  run.start_wall = clock_.WallNow();

  std::unique_ptr<Journal> journal;
  if (!options_.dry_run) {
    auto opened = Journal::Open(options_.journal_dir, run.run_id);
    if (!opened.ok()) {
      // Without a journal nothing may be injected.
      for (const ExperimentSpec& spec : plan.experiments) {
        ExperimentResult e;
        e.name = spec.name;
        e.status = ExperimentStatus::kError;
        e.reasons.push_back("cannot open the journal, so nothing was injected: " +
                            opened.status().message());
        run.experiments.push_back(std::move(e));
      }
      run.end_wall = clock_.WallNow();
      return run;
    }
    journal = std::move(opened.value());
  }
  for (size_t i = 0; i < plan.experiments.size(); ++i) {
    const ExperimentSpec& spec = plan.experiments[i];
    if (options_.stop.stop_requested()) {
      ExperimentResult skipped;
      skipped.name = spec.name;
      skipped.status = ExperimentStatus::kAborted;
      skipped.reasons.push_back("not run: the run was interrupted");
      run.experiments.push_back(std::move(skipped));
      continue;
    }
    // Each experiment draws from its own stream so adding one does not change the others.
    const uint64_t seed = options_.seed ^ (0x9E3779B97F4A7C15ull * (i + 1));
    ExperimentRun experiment(spec, registries_, sampling_, clock_, options_, journal.get(), seed);
    try {
      run.experiments.push_back(experiment.Run());
    } catch (...) {
      run.experiments.push_back(
          experiment.Salvage("internal error: " + DescribeException(std::current_exception())));
    }
  }
  if (journal) journal->Close();
  run.end_wall = clock_.WallNow();
  return run;
}

int ExitCodeFor(const RunResult& run) {
  bool revert_failed = false;
  for (const auto& e : run.experiments) {
    for (const auto& f : e.faults) revert_failed = revert_failed || f.revert_status == "failed";
  }
  if (revert_failed) return 3;
  switch (RunStatus(run)) {
    case ExperimentStatus::kPassed:
      return 0;
    case ExperimentStatus::kFailed:
      return 1;
    case ExperimentStatus::kAborted:
    case ExperimentStatus::kError:
      return 3;
  }
  return 3;
}

}  // namespace gameday
