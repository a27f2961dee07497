// Step repeat and expected failures in the engine, on a simulated clock: the number of rounds,
// when each starts, their reverts, re-selected targets, what stops them, the per-step metrics,
// and the verdict and exit code of an experiment expected to fail.
#include <gtest/gtest.h>
#include <unistd.h>

#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <set>
#include <thread>

#include "experiments/engine.h"
#include "experiments/journal.h"
#include "tests/unit/engine_fixture.h"

namespace gameday {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// A discrete-event clock. Only the thread that created it (the engine's) moves time, straight to
// the next deadline: its own, or an earlier one another thread (the engine's monitor) sleeps
// until; it then lets every thread that is due run until that thread sleeps again, so what the
// monitor sees and decides happens at a definite simulated moment.
class SimClock : public Clock {
 public:
  SimClock() : owner_(std::this_thread::get_id()) {}

  MonoTime Now() const override {
    std::lock_guard lock(mu_);
    return now_;
  }
  WallTime WallNow() const override {
    std::lock_guard lock(mu_);
    return WallTime{} + std::chrono::hours(24 * 365 * 50) +
           std::chrono::duration_cast<WallTime::duration>(now_ - MonoTime{});
  }
  bool SleepUntil(MonoTime deadline, std::stop_token stop) override {
    std::unique_lock lock(mu_);
    if (std::this_thread::get_id() != owner_) {
      active_.erase(std::this_thread::get_id());
      auto it = waiting_.insert(deadline);
      cv_.notify_all();
      const bool reached = cv_.wait(lock, stop, [&] { return now_ >= deadline; });
      waiting_.erase(it);
      if (reached) active_.insert(std::this_thread::get_id());
      cv_.notify_all();
      return reached;
    }
    while (now_ < deadline) {
      if (stop.stop_requested()) return false;
      MonoTime next = deadline;
      if (!waiting_.empty()) next = std::min(next, std::max(now_, *waiting_.begin()));
      now_ = std::max(now_, next);
      cv_.notify_all();
      // Bounded, so a thread that leaves without sleeping again cannot hang the test.
      cv_.wait_for(lock, std::chrono::seconds(2), [&] {
        return active_.empty() && (waiting_.empty() || *waiting_.begin() > now_);
      });
    }
    return !stop.stop_requested();
  }
  // Time spent inside a call (a slow API), from any thread.
  void Advance(Duration d) {
    std::lock_guard lock(mu_);
    now_ += d;
  }

 private:
  const std::thread::id owner_;
  mutable std::mutex mu_;
  std::condition_variable_any cv_;
  MonoTime now_ = MonoTime{} + std::chrono::hours(1);
  std::multiset<MonoTime> waiting_;
  std::set<std::thread::id> active_;
};

// The system under test: targets that a kill removes and a controller replaces, and a service
// that fails for `outage` after each injection (or until the revert).
struct World {
  std::mutex mu;
  Clock* clock = nullptr;
  SimClock* sim = nullptr;
  MonoTime epoch;
  bool reversible = false;
  Duration outage = milliseconds(500);
  bool outage_until_revert = false;
  Duration inject_takes{0};
  int fail_discover_on = 0;  // the Discover call (1-based) that fails
  int stop_on_inject = 0;    // the Inject call (1-based) that raises SIGINT
  std::stop_source* stop = nullptr;
  std::vector<std::string> live = {"pod-a", "pod-b", "pod-c"};
  int next_pod = 0;
  int discovers = 0;
  std::vector<double> inject_times, revert_times;  // seconds since epoch
  std::vector<std::string> killed;

  bool Healthy(double t) {
    std::lock_guard lock(mu);
    for (size_t i = 0; i < inject_times.size(); ++i) {
      const double from = inject_times[i];
      double to = from + ToSeconds(outage);
      if (outage_until_revert) to = i < revert_times.size() ? revert_times[i] : 1e18;
      if (t >= from && t < to) return false;
    }
    return true;
  }
  double Now() { return ToSeconds(clock->Now() - epoch); }
};

class SimInjector : public Injector {
 public:
  explicit SimInjector(World* w) : w_(w) {}
  Result<std::vector<FaultTarget>> Discover(const InjectorEnv&) override {
    std::lock_guard lock(w_->mu);
    if (++w_->discovers == w_->fail_discover_on) return Status::Unavailable("apiserver down");
    std::vector<FaultTarget> out;
    for (const auto& name : w_->live) out.push_back({name, name, {}});
    return out;
  }
  Result<std::string> RevertRecord(const FaultTarget& t, const InjectorEnv&) override {
    return "{\"target\":\"" + t.id + "\"}";
  }
  Status Inject(const FaultTarget& t, const InjectorEnv&) override {
    if (w_->inject_takes > Duration::zero()) w_->sim->Advance(w_->inject_takes);
    const double now = w_->Now();
    bool stop = false;
    {
      std::lock_guard lock(w_->mu);
      w_->inject_times.push_back(now);
      w_->killed.push_back(t.id);
      if (!w_->reversible) {
        // Killed: gone from the candidates, and its controller starts a replacement.
        w_->live.erase(std::find(w_->live.begin(), w_->live.end(), t.id));
        w_->live.push_back("pod-new-" + std::to_string(++w_->next_pod));
      }
      stop = static_cast<int>(w_->inject_times.size()) == w_->stop_on_inject;
    }
    // Outside the lock: request_stop runs the engine's stop callback, which takes the engine's
    // lock, and the engine reads health (this lock) under its own (ThreadSanitizer: inversion).
    if (stop) w_->stop->request_stop();
    return Status::Ok();
  }
  bool Reversible() const override { return w_->reversible; }
  std::string DescribeAction(const FaultTarget& t) const override { return "kill " + t.display; }

 private:
  World* w_;
};

class SimKind : public InjectorKind {
 public:
  explicit SimKind(World* w) : w_(w) {}
  std::string Name() const override { return "sim"; }
  std::unique_ptr<Injector> Parse(SpecNode&, const TargetSpec&) const override {
    return std::make_unique<SimInjector>(w_);
  }
  Status Revert(const std::string&, const InjectorEnv&) const override {
    const double now = w_->Now();
    std::lock_guard lock(w_->mu);
    w_->revert_times.push_back(now);
    return Status::Ok();
  }

 private:
  World* w_;
};

class EngineRepeatTest : public gameday::testing::EngineFixture {
 protected:
  EngineRepeatTest() : EngineFixture("gameday-engine-repeat") {}

  void SetUp() override {
    world_.clock = &clock_;
    world_.sim = &clock_;
    world_.stop = &stop_;
    EngineFixture::SetUp();
    ASSERT_TRUE(registries_.injectors.Register(std::make_unique<SimKind>(&world_)).ok());
  }

  ExperimentSpec Spec(std::optional<RepeatSpec> repeat, std::optional<Duration> duration = {}) {
    InjectStep inject;
    inject.name = "kill";
    inject.kind = "sim";
    inject.duration = duration;
    inject.repeat = repeat;
    inject.injector = std::make_shared<SimInjector>(&world_);
    ExperimentSpec e = OneStepExperiment(
        std::move(inject), std::make_shared<gameday::testing::NamedVerifier>("sim probe"),
        milliseconds(50));
    e.warmup = seconds(2);
    e.stable_for = milliseconds(200);
    e.recovery_timeout = seconds(10);
    e.cooldown = seconds(1);
    return e;
  }

  // A sample every interval up to the simulated now, healthy as the world says.
  RunResult Run(ExperimentSpec spec, bool dry_run = false) {
    EngineOptions o;
    o.run_id = "repeat-run";
    o.seed = 7;
    o.dry_run = dry_run;
    o.stop = stop_.get_token();
    World* w = &world_;
    return RunExperiment(std::move(spec), o, *world_.clock, [w](Duration interval) {
      return std::make_unique<gameday::testing::SyntheticSampling>(
          interval, [w] { return w->clock->Now(); },
          [w](MonoTime, double t_s) {
            return w->Healthy(t_s) ? Health::kHealthy : Health::kUnhealthy;
          },
          "etcdserver: request timed out",
          [w](MonoTime epoch) {
            std::lock_guard lock(w->mu);
            w->epoch = epoch;
          });
    });
  }

  SimClock clock_;
  World world_;
  std::stop_source stop_;
};

bool HasEvent(const ExperimentResult& e, const std::string& text) {
  return std::any_of(e.events.begin(), e.events.end(), [&](const TimelineEvent& ev) {
    return ev.message.find(text) != std::string::npos;
  });
}

TEST_F(EngineRepeatTest, OneShotRoundsRunEveryIntervalWithFreshTargets) {
  ExperimentSpec spec = Spec(RepeatSpec{seconds(10), seconds(60)});
  spec.objectives.push_back({"o", "svc", ObjectiveSpec::Type::kRecoverWithin, 1.0});
  RunResult run = Run(spec);
  const ExperimentResult& e = run.experiments.at(0);
  EXPECT_EQ(e.status, ExperimentStatus::kPassed) << ::testing::PrintToString(e.reasons);
  EXPECT_EQ(ExitCodeFor(run), 0);

  // Rounds at 0, 10, ..., 50 s after the first (warm-up ends at 2 s); none at 60 s.
  ASSERT_EQ(e.faults.size(), 6u);
  std::set<std::string> targets, ids;
  for (size_t k = 0; k < e.faults.size(); ++k) {
    const FaultResult& f = e.faults[k];
    EXPECT_EQ(f.round, static_cast<int>(k + 1));
    EXPECT_NEAR(f.t_inject, 2.0 + 10.0 * k, 1e-9) << f.id;
    EXPECT_EQ(f.step, "kill");
    EXPECT_EQ(f.revert, RevertState::kNotNeeded);
    targets.insert(f.target);
    ids.insert(f.id);
  }
  // A killed pod is gone, so every round chose a pod that was still there.
  EXPECT_EQ(targets.size(), 6u);
  EXPECT_EQ(ids.size(), 6u);
  EXPECT_EQ(e.faults[0].id, "exp/kill/1");
  EXPECT_EQ(e.faults[5].id, "exp/kill/6");
  EXPECT_TRUE(HasEvent(e, "round 6 of 6"));
  EXPECT_TRUE(world_.revert_times.empty());
  EXPECT_EQ(JournalLeft().size(), 0u);

  // Detection from the first round, recovery after the last one.
  const VerifierResult& v = e.verifiers.at(0);
  ASSERT_EQ(v.per_fault.size(), 1u);
  const RecoveryMetrics& m = v.per_fault[0].metrics;
  ASSERT_TRUE(m.time_to_detect_s.has_value());
  EXPECT_NEAR(*m.time_to_detect_s, 0.0, 1e-9);
  ASSERT_TRUE(m.time_to_recover_s.has_value());
  EXPECT_NEAR(*m.time_to_recover_s, 50.5, 1e-6);
  ASSERT_TRUE(m.time_to_recover_after_revert_s.has_value());
  EXPECT_NEAR(*m.time_to_recover_after_revert_s, 0.5, 1e-6);
  EXPECT_NEAR(m.downtime_s, 3.0, 1e-6);  // 6 x 0.5 s
  ASSERT_EQ(e.objectives.size(), 1u);
  EXPECT_TRUE(e.objectives[0].passed) << e.objectives[0].message;
  EXPECT_NE(e.objectives[0].message.find("after the last round"), std::string::npos)
      << e.objectives[0].message;
  ASSERT_TRUE(v.overall.time_to_recover_s.has_value());
  EXPECT_NEAR(*v.overall.time_to_recover_s, 50.5, 1e-6);
}

TEST_F(EngineRepeatTest, TimedRoundsAreRevertedBeforeTheNextStarts) {
  world_.reversible = true;
  world_.outage_until_revert = true;
  RunResult run = Run(Spec(RepeatSpec{seconds(10), seconds(30)}, seconds(3)));
  const ExperimentResult& e = run.experiments.at(0);
  EXPECT_EQ(e.status, ExperimentStatus::kPassed) << ::testing::PrintToString(e.reasons);
  ASSERT_EQ(e.faults.size(), 3u);
  ASSERT_EQ(world_.revert_times.size(), 3u);
  for (size_t k = 0; k < 3; ++k) {
    EXPECT_NEAR(e.faults[k].t_inject, 2.0 + 10.0 * k, 1e-9);
    ASSERT_TRUE(e.faults[k].t_revert.has_value());
    EXPECT_NEAR(*e.faults[k].t_revert, 5.0 + 10.0 * k, 1e-9);
    EXPECT_EQ(e.faults[k].revert, RevertState::kReverted);
    if (k + 1 < 3) {
      EXPECT_LT(*e.faults[k].t_revert, e.faults[k + 1].t_inject);
    }
  }
  EXPECT_EQ(JournalLeft().size(), 0u);
  // Recovery counts from the last round's revert.
  const RecoveryMetrics& m = e.verifiers.at(0).per_fault.at(0).metrics;
  ASSERT_TRUE(m.time_to_recover_after_revert_s.has_value());
  EXPECT_NEAR(*m.time_to_recover_after_revert_s, 0.0, 1e-6);
  EXPECT_NEAR(*m.time_to_recover_s, 23.0, 1e-6);
  EXPECT_NEAR(m.downtime_s, 9.0, 1e-6);
}

TEST_F(EngineRepeatTest, RoundsAreScheduledFromTheFirstStartWithoutDrift) {
  world_.inject_takes = milliseconds(1500);  // a slow API call in every round
  RunResult run = Run(Spec(RepeatSpec{seconds(10), seconds(30)}));
  const ExperimentResult& e = run.experiments.at(0);
  ASSERT_EQ(e.faults.size(), 3u);
  for (size_t k = 0; k < 3; ++k) EXPECT_NEAR(e.faults[k].t_inject, 3.5 + 10.0 * k, 1e-9);
}

TEST_F(EngineRepeatTest, AnOverrunSkipsSlotsInsteadOfBunchingRounds) {
  world_.inject_takes = seconds(12);
  RunResult run = Run(Spec(RepeatSpec{seconds(10), seconds(40)}));
  const ExperimentResult& e = run.experiments.at(0);
  // Round 1 starts at 2 s and ends at 14 s, past the 12 s slot: round 2 takes the 22 s slot and
  // ends at 34 s, past 32 s; the next slot (42 s) is outside the 40 s window.
  ASSERT_EQ(e.faults.size(), 2u);
  EXPECT_NEAR(e.faults[0].t_inject, 14.0, 1e-9);
  EXPECT_NEAR(e.faults[1].t_inject, 34.0, 1e-9);
  EXPECT_TRUE(HasEvent(e, "overran its interval"));
}

TEST_F(EngineRepeatTest, SignalStopsTheRoundsAndReverts) {
  world_.reversible = true;
  world_.stop_on_inject = 2;
  RunResult run = Run(Spec(RepeatSpec{seconds(10), seconds(60)}, seconds(3)));
  const ExperimentResult& e = run.experiments.at(0);
  EXPECT_EQ(e.status, ExperimentStatus::kAborted);
  EXPECT_EQ(ExitCodeFor(run), 3);
  ASSERT_EQ(e.faults.size(), 2u);
  EXPECT_EQ(world_.revert_times.size(), 2u);
  for (const FaultResult& f : e.faults) EXPECT_EQ(f.revert, RevertState::kReverted) << f.id;
  EXPECT_NEAR(*e.faults[1].t_revert, 12.0, 1e-9);  // at once, not after its 3 s
  EXPECT_EQ(JournalLeft().size(), 0u);
}

TEST_F(EngineRepeatTest, AbortConditionStopsTheRounds) {
  world_.reversible = true;
  world_.outage_until_revert = true;
  ExperimentSpec spec = Spec(RepeatSpec{seconds(10), seconds(60)}, seconds(5));
  spec.aborts.push_back({"experiments[0].abort[0]", "svc", seconds(1)});
  RunResult run = Run(spec);
  const ExperimentResult& e = run.experiments.at(0);
  EXPECT_EQ(e.status, ExperimentStatus::kAborted) << ::testing::PrintToString(e.reasons);
  ASSERT_EQ(e.faults.size(), 1u);
  ASSERT_TRUE(e.faults[0].t_revert.has_value());
  // The monitor looks every 200 ms: failing since 2 s, at 3 s it has failed for 1 s, so the
  // round is reverted then rather than at the end of its 5 s, and no second round starts.
  EXPECT_NEAR(*e.faults[0].t_revert, 3.0, 1e-6);
  EXPECT_EQ(world_.inject_times.size(), 1u);
  EXPECT_EQ(JournalLeft().size(), 0u);
}

TEST_F(EngineRepeatTest, DiscoveryErrorStopsTheRounds) {
  world_.fail_discover_on = 3;
  RunResult run = Run(Spec(RepeatSpec{seconds(10), seconds(60)}));
  const ExperimentResult& e = run.experiments.at(0);
  EXPECT_EQ(e.status, ExperimentStatus::kError);
  EXPECT_EQ(ExitCodeFor(run), 3);
  EXPECT_EQ(e.faults.size(), 2u);
}

TEST_F(EngineRepeatTest, DryRunSaysHowOftenItWouldRepeat) {
  RunResult run = Run(Spec(RepeatSpec{seconds(10), seconds(60)}), /*dry_run=*/true);
  const ExperimentResult& e = run.experiments.at(0);
  EXPECT_TRUE(e.faults.empty());
  EXPECT_TRUE(HasEvent(e, "would repeat every 10s for 1m (6 rounds)")) << e.events.size();
  EXPECT_TRUE(world_.killed.empty());
}

// Inside `parallel` each step runs on its own thread, so a repeated step keeps its cadence next
// to the others. Real time here: the simulated clock has one thread that moves time.
TEST_F(EngineRepeatTest, RepeatInsideParallelOnTheRealClock) {
  world_.clock = &Clock::Real();
  world_.reversible = true;
  world_.outage_until_revert = true;
  ExperimentSpec spec = Spec(RepeatSpec{milliseconds(300), milliseconds(900)}, milliseconds(100));
  spec.warmup = milliseconds(200);
  spec.cooldown = milliseconds(200);
  InjectStep repeated = std::get<InjectStep>(spec.method[0].action);
  InjectStep once = repeated;
  once.name = "once";
  once.repeat.reset();
  once.duration = milliseconds(500);
  ParallelStep par;
  par.steps.push_back(Step{"experiments[0].method[0].parallel[0]", repeated});
  par.steps.push_back(Step{"experiments[0].method[0].parallel[1]", once});
  spec.method = {Step{"experiments[0].method[0]", par}};
  RunResult run = Run(spec);
  const ExperimentResult& e = run.experiments.at(0);
  EXPECT_EQ(e.status, ExperimentStatus::kPassed) << ::testing::PrintToString(e.reasons);
  std::vector<const FaultResult*> rounds;
  for (const FaultResult& f : e.faults) {
    EXPECT_EQ(f.revert, RevertState::kReverted) << f.id;
    if (f.step == "kill") rounds.push_back(&f);
  }
  ASSERT_EQ(rounds.size(), 3u);
  ASSERT_EQ(e.faults.size(), 4u);
  // Each round starts about 300 ms after the previous one (the rounds' start, before their
  // journal fsync, whose latency on a busy disk is not the engine's cadence) and is reverted
  // before the next.
  std::vector<double> starts;
  for (const InjectionResult& i : e.injections) {
    if (i.step == "kill") starts.push_back(i.t_start);
  }
  ASSERT_EQ(starts.size(), rounds.size());
  for (size_t k = 0; k < rounds.size(); ++k) {
    EXPECT_EQ(rounds[k]->round, static_cast<int>(k + 1));
    if (k > 0) {
      EXPECT_NEAR(starts[k] - starts[0], 0.3 * k, 0.08);
    }
    if (k + 1 < rounds.size()) {
      EXPECT_LT(*rounds[k]->t_revert, rounds[k + 1]->t_inject);
    }
  }
  EXPECT_EQ(world_.revert_times.size(), 4u);
  EXPECT_EQ(JournalLeft().size(), 0u);
}

// ---------------------------------------------------------------------------------------------
// Expected failures

TEST_F(EngineRepeatTest, ExpectedFailureThatFailsPassesTheRun) {
  ExperimentSpec spec = Spec(std::nullopt);
  world_.outage = seconds(3);
  spec.expected_failure = "a single replica cannot absorb a kill";
  spec.objectives.push_back({"o", "svc", ObjectiveSpec::Type::kMaxDowntime, 1.0});
  spec.objectives.push_back({"o", "svc", ObjectiveSpec::Type::kMustDetect, 0});
  RunResult run = Run(spec);
  const ExperimentResult& e = run.experiments.at(0);
  EXPECT_EQ(e.status, ExperimentStatus::kPassed);
  EXPECT_EQ(OutcomeOf(e), ExperimentOutcome::kExpectedFailure);
  EXPECT_EQ(e.expected_failure, "a single replica cannot absorb a kill");
  EXPECT_FALSE(e.objectives[0].passed);
  EXPECT_TRUE(e.objectives[1].passed);
  ASSERT_FALSE(e.reasons.empty());  // how it failed stays on record
  EXPECT_NE(e.reasons[0].find("downtime"), std::string::npos) << e.reasons[0];
  EXPECT_EQ(ExitCodeFor(run), 0);
}

TEST_F(EngineRepeatTest, ExpectedFailureThatPassesFailsTheRun) {
  ExperimentSpec spec = Spec(std::nullopt);
  spec.expected_failure = "known bug 42";
  spec.objectives.push_back({"o", "svc", ObjectiveSpec::Type::kMaxDowntime, 5.0});
  RunResult run = Run(spec);
  const ExperimentResult& e = run.experiments.at(0);
  EXPECT_EQ(e.status, ExperimentStatus::kFailed);
  EXPECT_EQ(OutcomeOf(e), ExperimentOutcome::kUnexpectedPass);
  ASSERT_EQ(e.reasons.size(), 1u);
  EXPECT_EQ(e.reasons[0],
            "expected to fail but passed: every objective held (expected failure: known bug 42)");
  EXPECT_EQ(ExitCodeFor(run), 1);
}

TEST_F(EngineRepeatTest, ExpectedFailureKeepsErrorsAndAborts) {
  ExperimentSpec spec = Spec(RepeatSpec{seconds(10), seconds(60)});
  spec.expected_failure = "known bug 42";
  spec.objectives.push_back({"o", "svc", ObjectiveSpec::Type::kMaxDowntime, 0.1});
  world_.fail_discover_on = 2;
  RunResult run = Run(spec);
  EXPECT_EQ(run.experiments.at(0).status, ExperimentStatus::kError);
  EXPECT_EQ(OutcomeOf(run.experiments.at(0)), ExperimentOutcome::kError);
  EXPECT_EQ(ExitCodeFor(run), 3);
}

TEST_F(EngineRepeatTest, ExpectedFailureNeedsTheMethodToRun) {
  // Nothing found to inject: that is not the failure the plan expects.
  world_.live.clear();
  ExperimentSpec spec = Spec(std::nullopt);
  spec.expected_failure = "known bug 42";
  spec.objectives.push_back({"o", "svc", ObjectiveSpec::Type::kMaxDowntime, 0.1});
  RunResult run = Run(spec);
  EXPECT_EQ(run.experiments.at(0).status, ExperimentStatus::kFailed);
  EXPECT_EQ(OutcomeOf(run.experiments.at(0)), ExperimentOutcome::kFailed);
  EXPECT_EQ(ExitCodeFor(run), 1);
}

TEST_F(EngineRepeatTest, ExpectedFailureInADryRunIsNotJudged) {
  ExperimentSpec spec = Spec(std::nullopt);
  spec.expected_failure = "known bug 42";
  spec.objectives.push_back({"o", "svc", ObjectiveSpec::Type::kMaxDowntime, 0.1});
  RunResult run = Run(spec, /*dry_run=*/true);
  EXPECT_EQ(OutcomeOf(run.experiments.at(0)), ExperimentOutcome::kPassed);
  EXPECT_EQ(ExitCodeFor(run), 0);
}

}  // namespace
}  // namespace gameday
