// The engine's phases, verdicts and safety paths, with an in-process fake injector and a fake
// sampling source that synthesises samples from a health function of time. Real processes and
// real probes are exercised by the integration tier (ground_truth_test, crash_recover_test).
#include "experiments/engine.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <mutex>
#include <thread>

#include "experiments/journal.h"
#include "tests/unit/engine_fixture.h"

namespace gameday {
namespace {

using std::chrono::milliseconds;

// Shared between the fake injector, the fake sampling and the test.
struct World {
  std::mutex mu;
  std::atomic<int> injects{0};
  std::atomic<int> reverts{0};
  int candidates = 3;
  bool fail_inject = false;
  bool fail_first_inject = false;  // only the first inject fails (at once)
  bool fail_revert = false;
  double outage_s = 0.3;             // the service fails this long after an injection...
  bool outage_until_revert = false;  // ...or until the revert
  bool broken_from_start = false;
  std::chrono::milliseconds inject_takes{0};  // each inject sleeps this long
  std::atomic<int> injecting{0}, most_injecting{0};
  std::optional<MonoTime> inject_at, revert_at;
  MonoTime epoch;

  Health HealthAt(MonoTime t) {
    std::lock_guard lock(mu);
    if (broken_from_start) return Health::kUnhealthy;
    if (!inject_at || t < *inject_at) return Health::kHealthy;
    if (outage_until_revert)
      return revert_at && t >= *revert_at ? Health::kHealthy : Health::kUnhealthy;
    return t < *inject_at + FromSeconds(outage_s) ? Health::kUnhealthy : Health::kHealthy;
  }
};

class FakeInjector : public Injector {
 public:
  explicit FakeInjector(World* w) : w_(w) {}
  Result<std::vector<FaultTarget>> Discover(const InjectorEnv&) override {
    std::vector<FaultTarget> out;
    for (int i = 0; i < w_->candidates; ++i) {
      out.push_back({"t" + std::to_string(i), "target " + std::to_string(i), {}});
    }
    return out;
  }
  Result<std::string> RevertRecord(const FaultTarget& t, const InjectorEnv&) override {
    return std::string("{\"target\":\"" + t.id + "\"}");
  }
  Status Inject(const FaultTarget&, const InjectorEnv&) override {
    const bool first = ++w_->injects == 1;
    if (first && w_->fail_first_inject) return Status::Internal("boom");
    const int now = ++w_->injecting;
    for (int most = w_->most_injecting; now > most;) {
      if (w_->most_injecting.compare_exchange_weak(most, now)) break;
    }
    std::this_thread::sleep_for(w_->inject_takes);
    --w_->injecting;
    std::lock_guard lock(w_->mu);
    if (!w_->inject_at) w_->inject_at = std::chrono::steady_clock::now();
    return w_->fail_inject ? Status::Internal("boom") : Status::Ok();
  }
  bool Reversible() const override { return true; }
  std::string DescribeAction(const FaultTarget& t) const override { return "break " + t.display; }

 private:
  World* w_;
};

class FakeKind : public InjectorKind {
 public:
  explicit FakeKind(World* w) : w_(w) {}
  std::string Name() const override { return "fake"; }
  std::unique_ptr<Injector> Parse(SpecNode&, const TargetSpec&) const override {
    return std::make_unique<FakeInjector>(w_);
  }
  Status Revert(const std::string&, const InjectorEnv&) const override {
    ++w_->reverts;
    std::lock_guard lock(w_->mu);
    if (w_->fail_revert) return Status::Unavailable("host unreachable");
    w_->revert_at = std::chrono::steady_clock::now();
    return Status::Ok();
  }

 private:
  World* w_;
};

class EngineTest : public gameday::testing::EngineFixture {
 protected:
  EngineTest() : EngineFixture("gameday-engine-test") {}

  void SetUp() override {
    EngineFixture::SetUp();
    ASSERT_TRUE(registries_.injectors.Register(std::make_unique<FakeKind>(&world_)).ok());
  }

  ExperimentSpec Spec(std::optional<Duration> duration = std::nullopt,
                      SelectMode mode = SelectMode::kOne) {
    InjectStep inject;
    inject.name = "break";
    inject.kind = "fake";
    inject.select.mode = mode;
    inject.duration = duration;
    inject.injector = std::make_shared<FakeInjector>(&world_);
    ExperimentSpec e = OneStepExperiment(
        std::move(inject), std::make_shared<gameday::testing::NamedVerifier>("fake probe"),
        milliseconds(10));
    e.warmup = milliseconds(200);
    e.stable_for = milliseconds(200);
    e.recovery_timeout = milliseconds(3000);
    e.cooldown = milliseconds(200);
    return e;
  }

  // Samples from the world's health at each moment, on the real clock.
  RunResult RunOne(ExperimentSpec spec, bool dry_run = false, std::stop_token stop = {}) {
    EngineOptions o;
    o.run_id = "test-run";
    o.seed = 1;
    o.dry_run = dry_run;
    o.stop = stop;
    World* w = &world_;
    return RunExperiment(std::move(spec), o, Clock::Real(), [w](Duration interval) {
      return std::make_unique<gameday::testing::SyntheticSampling>(
          interval, [] { return std::chrono::steady_clock::now(); },
          [w](MonoTime t, double) { return w->HealthAt(t); });
    });
  }

  World world_;
};

TEST_F(EngineTest, PassingExperimentMeasuresRecoveryAndClearsJournal) {
  ExperimentSpec spec = Spec();
  spec.objectives.push_back({"o", "svc", ObjectiveSpec::Type::kRecoverWithin, 1.0});
  spec.objectives.push_back({"o", "svc", ObjectiveSpec::Type::kMustDetect, 0});
  RunResult run = RunOne(spec);
  ASSERT_EQ(run.experiments.size(), 1u);
  const ExperimentResult& e = run.experiments[0];
  EXPECT_EQ(e.status, ExperimentStatus::kPassed) << ::testing::PrintToString(e.reasons);
  EXPECT_EQ(world_.injects, 1);
  // A reversible fault without a duration is reverted when the method ends.
  EXPECT_EQ(world_.reverts, 1);
  ASSERT_EQ(e.faults.size(), 1u);
  EXPECT_EQ(e.faults[0].revert, RevertState::kReverted);
  const RecoveryMetrics& m = e.verifiers[0].overall;
  ASSERT_TRUE(m.impact);
  EXPECT_LT(*m.time_to_detect_s, 0.03);
  ASSERT_TRUE(m.time_to_recover_s);
  EXPECT_NEAR(*m.time_to_recover_s, 0.3, 0.03);
  EXPECT_LE(m.recover_bound_s->first, 0.3 + 1e-3);
  EXPECT_GE(m.recover_bound_s->second, 0.3 - 1e-3);
  EXPECT_TRUE(e.objectives[0].passed);
  EXPECT_TRUE(e.objectives[1].passed);
  EXPECT_EQ(ExitCodeFor(run), 0);
  EXPECT_TRUE(JournalLeft().empty());
}

TEST_F(EngineTest, TimedFaultIsRevertedAfterItsDuration) {
  world_.outage_until_revert = true;
  ExperimentSpec spec = Spec(milliseconds(400));
  spec.objectives.push_back({"o", "svc", ObjectiveSpec::Type::kRecoverWithin, 0.2});
  RunResult run = RunOne(spec);
  const ExperimentResult& e = run.experiments[0];
  EXPECT_EQ(e.status, ExperimentStatus::kPassed) << ::testing::PrintToString(e.reasons);
  EXPECT_EQ(world_.reverts, 1);
  ASSERT_TRUE(e.faults[0].t_revert);
  EXPECT_NEAR(*e.faults[0].t_revert - e.faults[0].t_inject, 0.4, 0.05);
  EXPECT_EQ(e.faults[0].revert, RevertState::kReverted);
  const RecoveryMetrics& m = e.verifiers[0].overall;
  ASSERT_TRUE(m.time_to_recover_after_revert_s);
  EXPECT_LT(*m.time_to_recover_after_revert_s, 0.05);
  EXPECT_TRUE(JournalLeft().empty());
}

TEST_F(EngineTest, EveryRoundRecordsHowLongItsInjectionTook) {
  world_.candidates = 8;
  world_.inject_takes = milliseconds(100);
  RunResult run = RunOne(Spec(std::nullopt, SelectMode::kAll));
  const ExperimentResult& e = run.experiments[0];
  EXPECT_EQ(e.status, ExperimentStatus::kPassed) << ::testing::PrintToString(e.reasons);
  ASSERT_EQ(e.injections.size(), 1u);
  const InjectionResult& i = e.injections[0];
  EXPECT_EQ(i.step, "break");
  EXPECT_EQ(i.round, 0);
  EXPECT_EQ(i.kind, "fake");
  EXPECT_EQ(i.targets, 8u);
  EXPECT_EQ(i.injected, 8u);
  // The span holds every inject: it starts after the warm-up, before the first fault went in,
  // and ends after the last one did.
  EXPECT_GE(i.t_start, 0.2);
  ASSERT_EQ(e.faults.size(), 8u);
  for (const FaultResult& f : e.faults) {
    EXPECT_LE(i.t_start, f.t_inject);
    EXPECT_GE(i.t_start + i.inject_span_s + 1e-6, f.t_inject);
  }
  // The eight 100 ms injects ran side by side, not one after the other (800 ms).
  EXPECT_GT(world_.most_injecting, 1);
  EXPECT_GE(i.inject_span_s, 0.1);
  EXPECT_LT(i.inject_span_s, 0.6);
  // One journal write for the round, a part of the span.
  EXPECT_GE(i.journal_s, 0);
  EXPECT_LT(i.journal_s, i.inject_span_s);
  EXPECT_TRUE(JournalLeft().empty());
}

TEST_F(EngineTest, AHaltMidRoundLeavesTheRestUninjectedAndUnreverted) {
  world_.candidates = 300;
  world_.fail_first_inject = true;
  world_.inject_takes = milliseconds(30);
  RunResult run = RunOne(Spec(std::nullopt, SelectMode::kAll));
  const ExperimentResult& e = run.experiments[0];
  EXPECT_EQ(e.status, ExperimentStatus::kError);
  ASSERT_EQ(e.injections.size(), 1u);
  EXPECT_EQ(e.injections[0].targets, 300u);
  // The workers stop at the halt: the targets nobody had taken yet were journaled with the
  // round but never injected, and they are not reverted either: only what went in is.
  const int injects = world_.injects;
  EXPECT_LT(injects, 300);
  EXPECT_EQ(world_.reverts, injects);
  EXPECT_EQ(e.injections[0].injected, static_cast<size_t>(injects - 1));
  size_t not_injected = 0;
  for (const FaultResult& f : e.faults) not_injected += f.revert == RevertState::kNotInjected;
  EXPECT_EQ(not_injected, 300u - static_cast<size_t>(injects));
  EXPECT_TRUE(JournalLeft().empty());
}

TEST_F(EngineTest, BrokenSteadyStateInjectsNothing) {
  world_.broken_from_start = true;
  RunResult run = RunOne(Spec());
  const ExperimentResult& e = run.experiments[0];
  EXPECT_EQ(e.status, ExperimentStatus::kFailed);
  EXPECT_EQ(world_.injects, 0);
  ASSERT_FALSE(e.reasons.empty());
  EXPECT_NE(e.reasons[0].find("steady state did not hold before injection"), std::string::npos);
  EXPECT_EQ(ExitCodeFor(run), 1);
}

TEST_F(EngineTest, EmptySelectionFailsNeverPasses) {
  world_.candidates = 0;
  ExperimentSpec spec = Spec();
  spec.objectives.push_back({"o", "svc", ObjectiveSpec::Type::kRecoverWithin, 1.0});
  RunResult run = RunOne(spec);
  const ExperimentResult& e = run.experiments[0];
  EXPECT_EQ(e.status, ExperimentStatus::kFailed);
  EXPECT_EQ(world_.injects, 0);
  EXPECT_NE(e.reasons[0].find("selection is empty"), std::string::npos);
  EXPECT_FALSE(e.objectives[0].passed);
  EXPECT_EQ(ExitCodeFor(run), 1);
}

TEST_F(EngineTest, AbortConditionRevertsAtOnce) {
  world_.outage_until_revert = true;
  ExperimentSpec spec = Spec(std::chrono::seconds(20), SelectMode::kAll);
  spec.aborts.push_back({"experiments[0].abort[0]", "svc", milliseconds(300)});
  const auto start = std::chrono::steady_clock::now();
  RunResult run = RunOne(spec);
  const ExperimentResult& e = run.experiments[0];
  EXPECT_EQ(e.status, ExperimentStatus::kAborted);
  EXPECT_EQ(world_.injects, 3);
  EXPECT_EQ(world_.reverts, 3);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  for (const auto& f : e.faults) EXPECT_EQ(f.revert, RevertState::kReverted);
  EXPECT_EQ(ExitCodeFor(run), 3);
  EXPECT_TRUE(JournalLeft().empty());
}

TEST_F(EngineTest, SignalRevertsEverythingAndAborts) {
  world_.outage_until_revert = true;
  std::stop_source stop;
  std::jthread signaller([&stop] {
    std::this_thread::sleep_for(milliseconds(600));
    stop.request_stop();
  });
  RunResult run = RunOne(Spec(std::chrono::seconds(30)), false, stop.get_token());
  const ExperimentResult& e = run.experiments[0];
  EXPECT_EQ(e.status, ExperimentStatus::kAborted);
  EXPECT_EQ(world_.reverts, 1);
  EXPECT_EQ(e.faults[0].revert, RevertState::kReverted);
  EXPECT_TRUE(JournalLeft().empty());
}

TEST_F(EngineTest, FailedInjectIsStillReverted) {
  world_.fail_inject = true;
  RunResult run = RunOne(Spec(std::chrono::seconds(5)));
  const ExperimentResult& e = run.experiments[0];
  EXPECT_EQ(e.status, ExperimentStatus::kError);
  EXPECT_EQ(world_.reverts, 1);  // a half-applied fault is undone too
  EXPECT_EQ(e.faults[0].error, "boom");
  EXPECT_EQ(ExitCodeFor(run), 3);
}

TEST_F(EngineTest, FailedRevertStaysInJournalAndExits3) {
  world_.fail_revert = true;
  world_.outage_until_revert = true;
  ExperimentSpec spec = Spec(milliseconds(200));
  spec.recovery_timeout = milliseconds(300);
  RunResult run = RunOne(spec);
  const ExperimentResult& e = run.experiments[0];
  EXPECT_EQ(e.status, ExperimentStatus::kAborted);
  EXPECT_EQ(e.faults[0].revert, RevertState::kFailed);
  EXPECT_EQ(ExitCodeFor(run), 3);
  auto left = JournalLeft();
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0].kind, "fake");
  EXPECT_EQ(left[0].revert, "{\"target\":\"t0\"}");
}

TEST_F(EngineTest, MissedBudgetFailsWithMeasuredValue) {
  world_.outage_s = 0.5;
  ExperimentSpec spec = Spec();
  spec.objectives.push_back({"o", "svc", ObjectiveSpec::Type::kRecoverWithin, 0.1});
  RunResult run = RunOne(spec);
  const ExperimentResult& e = run.experiments[0];
  EXPECT_EQ(e.status, ExperimentStatus::kFailed);
  EXPECT_FALSE(e.objectives[0].passed);
  EXPECT_NE(e.objectives[0].message.find("budget"), std::string::npos);
  EXPECT_NEAR(*e.objectives[0].measured, 0.5, 0.05);
  EXPECT_EQ(ExitCodeFor(run), 1);
}

TEST_F(EngineTest, DryRunTouchesNothingAndListsTargets) {
  RunResult run = RunOne(Spec(std::nullopt, SelectMode::kAll), true);
  const ExperimentResult& e = run.experiments[0];
  EXPECT_EQ(world_.injects, 0);
  EXPECT_EQ(e.status, ExperimentStatus::kPassed);
  int listed = 0;
  for (const auto& ev : e.events) listed += ev.message.rfind("would break target", 0) == 0;
  EXPECT_EQ(listed, 3);
  EXPECT_FALSE(std::filesystem::exists(dir_));
}

}  // namespace
}  // namespace gameday
