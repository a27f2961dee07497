#include "experiments/engine.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <limits>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "experiments/fault_ledger.h"
#include "experiments/format.h"
#include "experiments/guarded.h"
#include "experiments/journal.h"
#include "experiments/objectives.h"
#include "experiments/recovery.h"
#include "experiments/run_id.h"
#include "experiments/sample_feed.h"
#include "experiments/sample_store.h"
#include "experiments/selection.h"

namespace gameday {
namespace {

constexpr double kForever = std::numeric_limits<double>::infinity();
// Threads that prepare and inject a round's targets. Clients bound their own concurrency below
// this (the Kubernetes client adapts to the API server, SSH bounds its handshakes).
constexpr size_t kMaxParallelInjects = 64;

// Starts `worker` on up to `count` threads and joins them. Out of threads, those that did start
// do all the work (workers share one queue); false, with the reason, when not even one started.
bool RunWorkers(size_t count, const std::function<void()>& worker, std::string* why) {
  std::vector<std::jthread> threads;
  for (size_t w = 0; w < count; ++w) {
    try {
      threads.emplace_back(worker);
    } catch (...) {
      if (threads.empty()) {
        *why = DescribeException(std::current_exception());
        return false;
      }
      break;
    }
  }
  return true;  // joins
}

std::string RoundsText(size_t n) { return std::to_string(n) + (n == 1 ? " round" : " rounds"); }

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

// One experiment, phase by phase (DESIGN.md): steady state before → inject (the method) →
// revert → wait for recovery → steady state after → the result. Faults live in the ledger,
// samples flow through the feed; this class only sequences them.
class ExperimentRun {
 public:
  ExperimentRun(const ExperimentSpec& spec, const Registries& registries,
                const SamplingFactory& sampling, Clock& clock, const EngineOptions& options,
                Journal* journal, SampleWriter* store, uint32_t first_stream, uint64_t seed)
      : spec_(spec),
        registries_(registries),
        sampling_factory_(sampling),
        clock_(clock),
        options_(options),
        seed_(seed),
        rng_(seed),
        feed_(spec.name, spec.verifiers, store, first_stream, [this] { return Now(); }),
        ledger_(spec.name, options.run_id, journal, clock,
                FaultLedger::Hooks{[this](const std::string& source, const std::string& message) {
                                     Event(source, message);
                                   },
                                   [this] { return feed_.MarkAction(); }}),
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
  void AddReasons(const std::vector<std::string>& reasons);
  bool Halted() const { return halt_.stop_requested(); }
  Halt Cause();

  // The phases.
  void DryRun();
  void DryRunSteps(const std::vector<Step>& steps);
  bool WarmUp();
  void RunSteps(const std::vector<Step>& steps);
  void RunStep(const Step& step);
  // RunStep for a thread of its own: anything thrown halts the experiment with an error.
  void RunStepOnThread(const Step& step);
  void RunInject(const Step& step, const InjectStep& inject);
  // One round of an inject step (round 0: the step does not repeat). False when the method must
  // stop (halted, or nothing could be injected).
  bool RunRound(const Step& step, const InjectStep& inject, int round);
  // Puts a planned round's faults in: every target's revert record (in parallel), all of them
  // journaled with one fsync, then every inject (in parallel). Fills the span's figures.
  void InjectRound(const std::string& what, const InjectStep& inject,
                   const std::vector<const FaultTarget*>& targets,
                   const std::vector<size_t>& indices, InjectionResult* span);
  void WaitForRecovery();
  void CoolDown();
  void Finalize();

  // Observation: the probes and watches, and the monitor that watches the abort conditions.
  // Starts sampling and the watches; an error when one of them threw (nothing may be injected).
  Status StartObserving();
  void StopObserving();
  // Plugins that broke on a thread of their own (the probe loop, a watch) halt the experiment.
  void CheckObservers();
  void Monitor(std::stop_token stop);

  const ExperimentSpec& spec_;
  const Registries& registries_;
  const SamplingFactory& sampling_factory_;
  Clock& clock_;
  const EngineOptions& options_;
  const uint64_t seed_;
  std::mt19937_64 rng_;  // guarded by mu_: parallel steps share it

  MonoTime epoch_;
  ExperimentResult result_;
  std::unique_ptr<Sampling> sampling_;
  SampleFeed feed_;
  FaultLedger ledger_;
  std::stop_source halt_;  // stops the method early; see cause_

  std::mutex mu_;  // guards everything below and result_.events, result_.injections
  Halt cause_ = Halt::kNone;
  std::vector<std::string> reasons_;
  bool injecting_ = false;
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

void ExperimentRun::AddReasons(const std::vector<std::string>& reasons) {
  std::lock_guard lock(mu_);
  reasons_.insert(reasons_.end(), reasons.begin(), reasons.end());
}

Halt ExperimentRun::Cause() {
  std::lock_guard lock(mu_);
  return cause_;
}

ExperimentResult ExperimentRun::Run() {
  epoch_ = clock_.Now();
  result_.name = spec_.name;
  result_.description = spec_.description;
  result_.labels = spec_.labels;
  result_.start_wall = clock_.WallNow();
  result_.verifiers.resize(spec_.verifiers.size());

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
    {
      // Whatever the method throws (a plugin, a thread that could not start, memory), the
      // faults it put in go out before anything else happens.
      FaultLedger::Guard revert_on_every_path(ledger_);
      try {
        if (!Halted() && WarmUp() && !Halted()) {
          {
            std::lock_guard lock(mu_);
            injecting_ = true;
          }
          RunSteps(spec_.method);
        }
      } catch (...) {
        HaltWith(Halt::kError,
                 "the method stopped: " + DescribeException(std::current_exception()));
      }
      AddReasons(ledger_.RevertAll());
    }
    const bool any_injected = ledger_.AnyInjected();
    if (any_injected && Cause() != Halt::kSignal) WaitForRecovery();
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
    AddReasons(ledger_.RevertAll());
  } catch (...) {
    AddReasons({"reverting stopped: " + DescribeException(std::current_exception()) +
                "; what was not reverted stays in the journal for `gameday recover`"});
  }
  ExperimentResult out;
  out.name = spec_.name;
  out.status = ExperimentStatus::kError;
  out.faults = ledger_.Results();
  std::lock_guard lock(mu_);
  out.injections = result_.injections;
  out.reasons = reasons_;
  return out;
}

Status ExperimentRun::StartObserving() {
  if (Status declared = feed_.Declare(); !declared.ok()) {
    return Status::Internal("cannot write the sample store: " + declared.message());
  }
  Status st = Guarded("starting the probes", [&]() -> Status {
    sampling_ = sampling_factory_(spec_.verifiers, clock_);
    if (!sampling_) return Status::Internal("no sampling");
    feed_.Attach(sampling_.get());
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
      feed_.Pump();  // what the sampler released while stopping
      feed_.Attach(nullptr);
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
  if (Status st = feed_.Failure(); !st.ok()) {
    HaltWith(Halt::kError, st.message() + "; the measurement is lost, reverting every fault");
  }
  for (const WatchSpec& w : spec_.watches) {
    Status st = Guarded(WatchName(w), [&] { return w.watch->Failure(); });
    if (!st.ok()) HaltWith(Halt::kError, WatchName(w) + ": " + st.message());
  }
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
        Event("fault", "would " + DescribeFault(*inject.injector, (*candidates)[i]));
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
      feed_.Pump();
      ratio = feed_.RatioSoFar(i);
      if (ratio || clock_.Now() >= give_up || Halted()) break;
      clock_.SleepFor(v.interval, halt_.get_token());
    }
    result_.verifiers[i].steady_before = ratio;
    if (!ratio) {
      failures.push_back(v.name + " produced no decided sample during the warm-up");
    } else if (*ratio < v.slo.success_ratio) {
      failures.push_back(v.name + " passed " + FormatMessagePercent(*ratio) +
                         " of its samples, SLO " + FormatMessagePercent(v.slo.success_ratio));
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
  ledger_.MarkRepeated(inject.name);
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
  std::vector<const FaultTarget*> targets;
  for (size_t i : *chosen) targets.push_back(&(*candidates)[i]);
  const std::vector<size_t> indices = ledger_.Plan(inject, registries_.injectors.Find(inject.kind),
                                                   targets, env, round, reversible);
  InjectionResult span;
  span.step = inject.name;
  span.round = round;
  span.kind = inject.kind;
  span.targets = indices.size();
  span.t_start = Now();
  InjectRound(what, inject, targets, indices, &span);
  // The faults committed but never injected (halted midway) leave the journal, unreverted.
  ledger_.Settle(indices);
  {
    std::lock_guard lock(mu_);
    result_.injections.push_back(span);
  }
  Event("engine", what + (round > 0 ? " round " + std::to_string(round) : "") + ": injected " +
                      std::to_string(span.injected) + " of " + std::to_string(span.targets) +
                      " target(s) in " + FormatSeconds(span.inject_span_s) + " (journal " +
                      FormatSeconds(span.journal_s) + ")");

  if (Halted()) return false;
  if (!inject.duration || !reversible) return true;
  const double first_inject = ledger_.FirstInjected(indices);
  if (first_inject == kForever) return true;
  clock_.SleepUntil(epoch_ + FromSeconds(first_inject) + *inject.duration, halt_.get_token());
  AddReasons(ledger_.Revert(indices));
  return !Halted();
}

void ExperimentRun::InjectRound(const std::string& what, const InjectStep& inject,
                                const std::vector<const FaultTarget*>& targets,
                                const std::vector<size_t>& indices, InjectionResult* span) {
  // Runs fn(k) for every target k on up to kMaxParallelInjects threads, until halted.
  const auto for_each_target = [&](const std::string& doing,
                                   const std::function<void(size_t)>& fn) {
    std::atomic<size_t> next{0};
    const auto work = [&] {
      try {
        for (size_t k = next++; k < indices.size(); k = next++) {
          if (Halted()) return;
          fn(k);
        }
      } catch (...) {
        HaltWith(Halt::kError,
                 what + ": " + doing + " stopped: " + DescribeException(std::current_exception()));
      }
    };
    std::string why;
    if (!RunWorkers(std::min(kMaxParallelInjects, indices.size()), work, &why)) {
      HaltWith(Halt::kError,
               what + ": cannot start a thread to inject, nothing was injected: " + why);
    }
  };

  for_each_target("preparing the reverts", [&](size_t k) {
    Status prepared = ledger_.Prepare(indices[k], inject, *inject.injector, *targets[k]);
    if (!prepared.ok()) HaltWith(Halt::kError, prepared.message());
  });
  if (Halted()) return;  // nothing journaled, nothing injected
  const MonoTime journal_start = clock_.Now();
  const Status committed = ledger_.Commit(indices, inject);
  span->journal_s = ToSeconds(clock_.Now() - journal_start);
  if (!committed.ok()) {
    HaltWith(Halt::kError, what + ": " + committed.message());
    span->inject_span_s = Now() - span->t_start;
    return;
  }
  std::atomic<size_t> injected{0};
  for_each_target("injecting", [&](size_t k) {
    Status st = ledger_.Inject(indices[k], inject, *inject.injector, *targets[k]);
    if (st.ok()) {
      ++injected;
    } else {
      HaltWith(Halt::kError, st.message());
    }
  });
  span->injected = injected;
  span->inject_span_s = Now() - span->t_start;
}

void ExperimentRun::WaitForRecovery() {
  const double last_action = feed_.LastAction();
  Event("engine", "waiting for recovery (stable for " + FormatDuration(spec_.stable_for) +
                      ", timeout " + FormatDuration(spec_.recovery_timeout) + ")");
  const double stable = ToSeconds(spec_.stable_for);
  const MonoTime deadline = epoch_ + FromSeconds(last_action) + spec_.recovery_timeout;
  std::vector<bool> recovered(spec_.verifiers.size(), false);
  std::stop_token signal = options_.stop;
  while (true) {
    feed_.Pump();
    bool all = true;
    for (size_t i = 0; i < spec_.verifiers.size(); ++i) {
      recovered[i] = recovered[i] || feed_.Recovered(i, stable);
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
    AddReasons({spec_.verifiers[i].name + " did not recover within the recovery timeout (" +
                FormatDuration(spec_.recovery_timeout) + " after the last fault action)"});
  }
  Event("engine", "recovery timeout reached");
}

void ExperimentRun::CoolDown() {
  feed_.Pump();
  feed_.BeginWindow();
  Event("engine", "cool-down: steady state must hold again for " + FormatDuration(spec_.cooldown));
  clock_.SleepFor(spec_.cooldown, options_.stop);
  feed_.EndWindow();
  feed_.Pump();
  for (size_t i = 0; i < spec_.verifiers.size(); ++i) {
    const VerifierSpec& v = spec_.verifiers[i];
    const std::optional<double> ratio = feed_.WindowRatio(i);
    result_.verifiers[i].steady_after = ratio;
    if (!ratio) {
      AddReasons({"steady state after: " + v.name + " produced no decided sample"});
    } else if (*ratio < v.slo.success_ratio) {
      AddReasons({"steady state did not hold after recovery: " + v.name + " passed " +
                  FormatMessagePercent(*ratio) + " of its samples, SLO " +
                  FormatMessagePercent(v.slo.success_ratio)});
    }
  }
}

void ExperimentRun::Monitor(std::stop_token stop) {
  std::map<std::string, size_t> index;
  for (size_t i = 0; i < spec_.verifiers.size(); ++i) index[spec_.verifiers[i].name] = i;
  while (!stop.stop_requested()) {
    clock_.SleepFor(std::chrono::milliseconds(200), stop);
    feed_.Pump();
    const double now = Now();
    CheckObservers();
    bool injecting;
    {
      std::lock_guard lock(mu_);
      injecting = injecting_;
    }
    if (injecting && !Halted()) {
      for (const AbortSpec& abort : spec_.aborts) {
        if (feed_.FailingFor(index[abort.verifier], now, ToSeconds(abort.failing_for))) {
          const std::string reason = "abort condition " + abort.path + " held: " + abort.verifier +
                                     " failed for " + FormatDuration(abort.failing_for) +
                                     "; reverting at once";
          HaltWith(Halt::kAbortCondition, reason);
          Event("engine", reason);
          break;
        }
      }
    }
    if (options_.observer) options_.observer->OnTick(spec_.name, now, feed_.Live());
  }
}

void ExperimentRun::Finalize() {
  // Plugins are asked before the lock: one that throws halts the experiment, which locks too.
  for (size_t i = 0; i < spec_.verifiers.size(); ++i) {
    const VerifierSpec& v = spec_.verifiers[i];
    VerifierResult& out = result_.verifiers[i];
    std::string error;
    out.description = GuardedOr(
        "verifier " + v.name, [&] { return v.verifier->Describe(); }, std::string("?"), &error);
    if (!error.empty()) HaltWith(Halt::kError, error);
    out.name = v.name;
    out.kind = v.kind;
    out.interval_s = ToSeconds(v.interval);
    out.slo_success_ratio = v.slo.success_ratio;
  }
  // Disturbances are steps: a step's faults start together and are measured together.
  const std::vector<Disturbance> steps = DisturbancesOf(ledger_.Timings());
  if (!options_.dry_run) {
    Status measured = feed_.Finish(steps, ToSeconds(spec_.stable_for), options_.inline_samples,
                                   &result_.verifiers);
    if (!measured.ok()) HaltWith(Halt::kError, measured.message());
  }
  if (!steps.empty()) {
    result_.t_first_inject = steps.front().t_inject;
    for (const VerifierResult& v : result_.verifiers) {
      if (v.overall.time_to_recover_s) {
        result_.t_last_recovery = std::max(result_.t_last_recovery.value_or(0),
                                           steps.front().t_inject + *v.overall.time_to_recover_s);
      }
    }
  }
  result_.faults = ledger_.Results();
  {
    std::lock_guard lock(mu_);
    std::stable_sort(
        result_.injections.begin(), result_.injections.end(),
        [](const InjectionResult& a, const InjectionResult& b) { return a.t_start < b.t_start; });
  }

  ObjectiveContext context;
  context.injected = ledger_.AnyInjected();
  context.dry_run = options_.dry_run;
  context.repeated_steps = ledger_.RepeatedSteps();
  result_.objectives = EvaluateObjectives(spec_.objectives, result_.verifiers, context);
  const bool objectives_ok = std::all_of(result_.objectives.begin(), result_.objectives.end(),
                                         [](const ObjectiveResult& o) { return o.passed; });

  std::lock_guard lock(mu_);
  for (const ObjectiveResult& o : result_.objectives) {
    if (!o.passed) reasons_.push_back(o.name + ": " + o.message);
  }
  if (cause_ == Halt::kError) {
    result_.status = ExperimentStatus::kError;
  } else if (cause_ == Halt::kSignal || cause_ == Halt::kAbortCondition || ledger_.RevertFailed()) {
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
  if (!spec_.expected_failure.empty() && !options_.dry_run &&
      result_.status != ExperimentStatus::kError && result_.status != ExperimentStatus::kAborted) {
    if (cause_ == Halt::kNone && context.injected && !objectives_ok) {
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

// Closes the run's sample store; a store no verifier references (every sample is inline) is
// removed, so a short run leaves the files it always did.
void CloseStore(SampleWriter& store, RunResult* run) {
  Status closed = store.Close();
  bool referenced = false;
  for (const ExperimentResult& e : run->experiments) {
    for (const VerifierResult& v : e.verifiers) referenced = referenced || v.store.has_value();
  }
  if (!referenced) {
    if (!store.path().empty()) ::unlink(store.path().c_str());
    return;
  }
  if (closed.ok()) return;
  for (ExperimentResult& e : run->experiments) {
    const bool uses = std::any_of(e.verifiers.begin(), e.verifiers.end(),
                                  [](const VerifierResult& v) { return v.store.has_value(); });
    if (!uses) continue;
    e.status = ExperimentStatus::kError;
    e.reasons.push_back("the sample store could not be completed: " + closed.message());
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

  // Without a journal nothing may be injected, and without the sample store nothing measured.
  std::unique_ptr<Journal> journal;
  std::unique_ptr<SampleWriter> store;
  if (!options_.dry_run) {
    Status opened = Status::Ok();
    if (auto j = Journal::Open(options_.journal_dir, run.run_id); j.ok()) {
      journal = std::move(j.value());
      if (options_.journal_mirror) {
        if (auto m = options_.journal_mirror(run.run_id); m.ok()) {
          journal->SetMirror(std::move(m.value()));
        } else {
          opened = Status::Internal("cannot open the journal's mirror, so nothing was injected: " +
                                    m.status().message());
        }
      }
    } else {
      opened = Status::Internal("cannot open the journal, so nothing was injected: " +
                                j.status().message());
    }
    if (opened.ok()) {
      if (auto w = SampleWriter::Create(options_.samples_file, options_.samples_mode); w.ok()) {
        store = std::move(w.value());
      } else {
        opened = Status::Internal("cannot create the sample store, so nothing was injected: " +
                                  w.status().message());
      }
    }
    if (!opened.ok()) {
      for (const ExperimentSpec& spec : plan.experiments) {
        ExperimentResult e;
        e.name = spec.name;
        e.status = ExperimentStatus::kError;
        e.reasons.push_back(opened.message());
        run.experiments.push_back(std::move(e));
      }
      if (journal) journal->Close();
      run.end_wall = clock_.WallNow();
      return run;
    }
  }
  uint32_t next_stream = 0;
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
    ExperimentRun experiment(spec, registries_, sampling_, clock_, options_, journal.get(),
                             store.get(), next_stream, seed);
    next_stream += static_cast<uint32_t>(spec.verifiers.size());
    try {
      run.experiments.push_back(experiment.Run());
    } catch (...) {
      run.experiments.push_back(
          experiment.Salvage("internal error: " + DescribeException(std::current_exception())));
    }
  }
  if (journal) journal->Close();
  if (store) CloseStore(*store, &run);
  run.end_wall = clock_.WallNow();
  return run;
}

int ExitCodeFor(const RunResult& run) {
  bool revert_failed = false;
  for (const auto& e : run.experiments) {
    for (const auto& f : e.faults)
      revert_failed = revert_failed || f.revert == RevertState::kFailed;
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
