// Exceptions from plugins (injectors, verifiers, watches, sampling) on every thread the engine
// runs them on: each is turned into an error, everything injected is reverted, and the process
// never reaches std::terminate (which would end this test binary).
#include <curl/curl.h>
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "experiments/engine.h"
#include "experiments/guarded.h"
#include "experiments/plugins/watch.h"
#include "tests/unit/engine_fixture.h"
#include "tests/unit/sample_log.h"
#include "verifiers/probe/probe_loop.h"

namespace gameday {
namespace {

using std::chrono::milliseconds;

// What the fakes throw from, and what they saw.
struct Script {
  std::atomic<int> injects{0};
  std::atomic<int> reverts{0};
  std::atomic<bool> injected{false};  // a fault is in place (the verifier and watch arm on it)
  bool throw_discover = false;
  int throw_inject_on = -1;  // the target index whose Inject throws
  int throw_revert_on = -1;  // the target index whose Revert throws
};

int IndexOf(const std::string& id) { return id.back() - '0'; }

class ThrowingInjector : public Injector {
 public:
  explicit ThrowingInjector(Script* p) : p_(p) {}
  Result<std::vector<FaultTarget>> Discover(const InjectorEnv&) override {
    if (p_->throw_discover) throw std::runtime_error("discovery exploded");
    return std::vector<FaultTarget>{
        {"t0", "target 0", {}}, {"t1", "target 1", {}}, {"t2", "target 2", {}}};
  }
  Result<std::string> RevertRecord(const FaultTarget& t, const InjectorEnv&) override {
    return "{\"target\":\"" + t.id + "\"}";
  }
  Status Inject(const FaultTarget& t, const InjectorEnv&) override {
    ++p_->injects;
    // The fault is half in place when the injector throws: it must be reverted too.
    p_->injected = true;
    if (IndexOf(t.id) == p_->throw_inject_on) throw std::out_of_range("inject exploded");
    return Status::Ok();
  }
  bool Reversible() const override { return true; }
  std::string DescribeAction(const FaultTarget& t) const override { return "break " + t.display; }

 private:
  Script* p_;
};

class ThrowingKind : public InjectorKind {
 public:
  explicit ThrowingKind(Script* p) : p_(p) {}
  std::string Name() const override { return "throwing"; }
  std::unique_ptr<Injector> Parse(SpecNode&, const TargetSpec&) const override {
    return std::make_unique<ThrowingInjector>(p_);
  }
  Status Revert(const std::string& record, const InjectorEnv&) const override {
    ++p_->reverts;
    // record is {"target":"tN"}
    if (record[record.size() - 3] - '0' == p_->throw_revert_on) throw 42;  // not even std::
    return Status::Ok();
  }

 private:
  Script* p_;
};

// Healthy until a fault is in place, then it throws on the probe loop's thread.
class VerifierThatThrowsOnceInjected : public Verifier {
 public:
  explicit VerifierThatThrowsOnceInjected(Script* p) : p_(p) {}
  void Begin(ProbeIo&, std::function<void(ProbeOutcome)> done) override {
    if (p_->injected) throw std::runtime_error("probe exploded");
    ProbeOutcome o;
    o.health = Health::kHealthy;
    done(o);
  }
  std::string Describe() const override { return "throws once injected"; }

 private:
  Script* p_;
};

enum class WatchThrows { kStart, kStop, kOnItsThread };

class ThrowingWatch : public Watch {
 public:
  ThrowingWatch(Script* p, WatchThrows how) : p_(p), how_(how) {}
  void Start(MonoTime) override {
    if (how_ == WatchThrows::kStart) throw std::runtime_error("watch start exploded");
  }
  std::vector<TimelineEvent> Stop() override {
    if (how_ == WatchThrows::kStop) throw std::runtime_error("watch stop exploded");
    return {};
  }
  // What a watch reports once its own thread caught an exception (ResourceWatch does this).
  Status Failure() const override {
    if (how_ == WatchThrows::kOnItsThread && p_->injected) {
      return Status::Internal("watch thread exploded");
    }
    return Status::Ok();
  }

 private:
  Script* p_;
  WatchThrows how_;
};

class EngineExceptionsTest : public gameday::testing::EngineFixture {
 protected:
  EngineExceptionsTest() : EngineFixture("gameday-engine-exceptions") {}

  void SetUp() override {
    EngineFixture::SetUp();
    ASSERT_TRUE(registries_.injectors.Register(std::make_unique<ThrowingKind>(&script_)).ok());
  }

  // Three targets, all taken, a 20 s fault: a run that ends quickly ended because of the throw.
  ExperimentSpec Spec(std::shared_ptr<Verifier> verifier =
                          std::make_shared<gameday::testing::NamedVerifier>("synthetic")) {
    InjectStep inject;
    inject.name = "break";
    inject.kind = "throwing";
    inject.select.mode = SelectMode::kAll;
    inject.duration = std::chrono::seconds(20);
    inject.injector = std::make_shared<ThrowingInjector>(&script_);
    ExperimentSpec e = OneStepExperiment(std::move(inject), std::move(verifier), milliseconds(10));
    e.warmup = milliseconds(100);
    e.stable_for = milliseconds(50);
    e.recovery_timeout = milliseconds(300);
    e.cooldown = milliseconds(50);
    return e;
  }

  RunResult RunSynthetic(ExperimentSpec spec) {
    EngineOptions o;
    o.run_id = "exceptions-run";
    o.seed = 7;
    return RunExperiment(std::move(spec), o, Clock::Real(), [](Duration interval) {
      return std::make_unique<gameday::testing::SyntheticSampling>(
          interval, [] { return std::chrono::steady_clock::now(); },
          [](MonoTime, double) { return Health::kHealthy; });
    });
  }

  // With the real probe loop, so the verifier runs on the loop's thread.
  RunResult RunProbed(ExperimentSpec spec) {
    EngineOptions o;
    o.run_id = "exceptions-run";
    o.seed = 7;
    o.journal_dir = dir_.string();
    Plan plan;
    plan.file = "test.yaml";
    plan.experiments.push_back(std::move(spec));
    Engine engine(registries_, MakeProbeLoopFactory(), Clock::Real(), o);
    return engine.Run(plan);
  }

  static std::string Reasons(const ExperimentResult& e) {
    std::string out;
    for (const std::string& r : e.reasons) out += r + "\n";
    return out;
  }

  void ExpectEverythingReverted(const RunResult& run) {
    const ExperimentResult& e = run.experiments.at(0);
    EXPECT_EQ(e.status, ExperimentStatus::kError) << Reasons(e);
    EXPECT_EQ(ExitCodeFor(run), 3);
    EXPECT_EQ(script_.reverts.load(), script_.injects.load()) << "every fault put in went out";
    for (const FaultResult& f : e.faults) {
      if (f.revert != RevertState::kNotInjected) {
        EXPECT_EQ(f.revert, RevertState::kReverted) << f.id;
      }
    }
    EXPECT_TRUE(JournalLeft().empty());
  }

  Script script_;
};

TEST_F(EngineExceptionsTest, InjectThatThrowsIsAnErrorAndEverythingIsReverted) {
  script_.throw_inject_on = 1;
  const auto start = std::chrono::steady_clock::now();
  RunResult run = RunSynthetic(Spec());
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  EXPECT_GE(script_.injects.load(), 2);
  ExpectEverythingReverted(run);
  EXPECT_NE(Reasons(run.experiments[0]).find("threw: inject exploded"), std::string::npos)
      << Reasons(run.experiments[0]);
}

TEST_F(EngineExceptionsTest, RevertThatThrowsFailsThatRevertOnlyAndStaysInTheJournal) {
  script_.throw_revert_on = 1;
  ExperimentSpec spec = Spec();
  std::get<InjectStep>(spec.method[0].action).duration = milliseconds(200);
  RunResult run = RunSynthetic(spec);
  const ExperimentResult& e = run.experiments[0];
  EXPECT_EQ(script_.injects.load(), 3);
  int reverted = 0, failed = 0;
  for (const FaultResult& f : e.faults) {
    reverted += f.revert == RevertState::kReverted;
    failed += f.revert == RevertState::kFailed;
  }
  EXPECT_EQ(reverted, 2) << "the other targets are still reverted";
  EXPECT_EQ(failed, 1);
  EXPECT_EQ(ExitCodeFor(run), 3);
  const std::vector<JournalRecord> left = JournalLeft();
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0].revert, "{\"target\":\"t1\"}");
  EXPECT_NE(Reasons(e).find("an exception that is not a std::exception"), std::string::npos)
      << Reasons(e);
}

TEST_F(EngineExceptionsTest, DiscoverThatThrowsInjectsNothing) {
  script_.throw_discover = true;
  RunResult run = RunSynthetic(Spec());
  EXPECT_EQ(run.experiments[0].status, ExperimentStatus::kError);
  EXPECT_EQ(script_.injects.load(), 0);
  EXPECT_EQ(ExitCodeFor(run), 3);
  EXPECT_NE(Reasons(run.experiments[0]).find("discovery exploded"), std::string::npos);
}

TEST_F(EngineExceptionsTest, VerifierThatThrowsOnTheProbeLoopRevertsEverything) {
  const auto start = std::chrono::steady_clock::now();
  RunResult run = RunProbed(Spec(std::make_shared<VerifierThatThrowsOnceInjected>(&script_)));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  EXPECT_EQ(script_.injects.load(), 3);
  ExpectEverythingReverted(run);
  EXPECT_NE(Reasons(run.experiments[0]).find("verifier svc threw while probing (probe exploded)"),
            std::string::npos)
      << Reasons(run.experiments[0]);
}

TEST_F(EngineExceptionsTest, WatchThatThrowsOnStartInjectsNothing) {
  ExperimentSpec spec = Spec();
  spec.watches.push_back({"experiments[0].watch[0]", "throwing",
                          std::make_shared<ThrowingWatch>(&script_, WatchThrows::kStart)});
  RunResult run = RunSynthetic(spec);
  EXPECT_EQ(run.experiments[0].status, ExperimentStatus::kError);
  EXPECT_EQ(script_.injects.load(), 0);
  EXPECT_NE(Reasons(run.experiments[0]).find("watch start exploded"), std::string::npos);
}

TEST_F(EngineExceptionsTest, WatchThatBreaksOnItsThreadRevertsEverything) {
  ExperimentSpec spec = Spec();
  spec.watches.push_back({"experiments[0].watch[0]", "throwing",
                          std::make_shared<ThrowingWatch>(&script_, WatchThrows::kOnItsThread)});
  const auto start = std::chrono::steady_clock::now();
  RunResult run = RunSynthetic(spec);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  EXPECT_EQ(script_.injects.load(), 3);
  ExpectEverythingReverted(run);
  EXPECT_NE(Reasons(run.experiments[0]).find("watch thread exploded"), std::string::npos);
}

TEST_F(EngineExceptionsTest, WatchThatThrowsOnStopIsAnErrorAfterTheRevert) {
  ExperimentSpec spec = Spec();
  std::get<InjectStep>(spec.method[0].action).duration = milliseconds(100);
  spec.watches.push_back({"experiments[0].watch[0]", "throwing",
                          std::make_shared<ThrowingWatch>(&script_, WatchThrows::kStop)});
  RunResult run = RunSynthetic(spec);
  EXPECT_EQ(script_.injects.load(), 3);
  ExpectEverythingReverted(run);
  EXPECT_NE(Reasons(run.experiments[0]).find("watch stop exploded"), std::string::npos);
}

// Throws from its transfer's completion, on the loop thread (where a verifier parses answers).
class VerifierThatThrowsOnCompletion : public Verifier {
 public:
  ~VerifierThatThrowsOnCompletion() override {
    for (CURL* c : handles_) curl_easy_cleanup(c);
  }
  void Begin(ProbeIo& io, std::function<void(ProbeOutcome)>) override {
    CURL* c = curl_easy_init();
    handles_.push_back(c);
    curl_easy_setopt(c, CURLOPT_URL, "http://127.0.0.1:1/");  // refused at once
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    io.AddTransfer(c, [](int) { throw std::length_error("answer exploded"); });
  }
  std::string Describe() const override { return "throws on completion"; }

 private:
  std::vector<CURL*> handles_;
};

class CountingVerifier : public Verifier {
 public:
  void Begin(ProbeIo&, std::function<void(ProbeOutcome)> done) override {
    ProbeOutcome o;
    o.health = Health::kHealthy;
    done(o);
  }
  std::string Describe() const override { return "counts"; }
};

TEST(ProbeLoopExceptionsTest, ACompletionThatThrowsStopsOnlyThatVerifier) {
  std::vector<VerifierSpec> specs(2);
  specs[0].name = "bad";
  specs[0].interval = milliseconds(20);
  specs[0].verifier = std::make_shared<VerifierThatThrowsOnCompletion>();
  specs[1].name = "good";
  specs[1].interval = milliseconds(20);
  specs[1].verifier = std::make_shared<CountingVerifier>();
  ProbeLoop loop(specs, Clock::Real());
  gameday::testing::SampleLog samples_of(loop);
  loop.Start(Clock::Real().Now());
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (loop.Failure().ok() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(10));
  }
  const size_t good_before = samples_of(1).size();
  std::this_thread::sleep_for(milliseconds(200));
  const size_t good_after = samples_of(1).size();
  loop.Stop();
  EXPECT_EQ(loop.Failure().message(),
            "verifier bad threw while probing (answer exploded); it is not probed again");
  EXPECT_GT(good_after, good_before) << "the other verifier goes on sampling";
}

TEST(GuardedTest, TurnsEveryKindOfThrowIntoAStatus) {
  EXPECT_TRUE(Guarded("x", [] { return Status::Ok(); }).ok());
  Status a = Guarded("call", []() -> Status { throw std::invalid_argument("bad"); });
  EXPECT_EQ(a.message(), "call threw: bad");
  Result<int> b = Guarded("call", []() -> Result<int> { throw 1; });
  EXPECT_FALSE(b.ok());
  std::string error;
  EXPECT_EQ(GuardedOr(
                "d", []() -> std::string { throw std::bad_alloc(); }, std::string("fb"), &error),
            "fb");
  EXPECT_EQ(error, "d threw: std::bad_alloc");
}

}  // namespace
}  // namespace gameday
