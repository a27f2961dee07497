#pragma once

// What the engine's unit tests (engine_test.cc, engine_repeat_test.cc) share: a verifier that
// only names itself, a sampling source that synthesises samples from a health function, and a
// fixture that runs one-experiment plans with the journal in a per-test temporary folder.

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "experiments/engine.h"
#include "experiments/journal.h"

namespace gameday::testing {

// The samples come from the sampling source, so the verifier itself never probes.
class NamedVerifier : public Verifier {
 public:
  explicit NamedVerifier(std::string description) : description_(std::move(description)) {}
  void Begin(ProbeIo&, std::function<void(ProbeOutcome)>) override {}
  std::string Describe() const override { return description_; }

 private:
  std::string description_;
};

// A sample every interval from the sampling's start up to now(), with the health that health()
// gives for the send time (as a time point and as seconds since the start).
class SyntheticSampling : public Sampling {
 public:
  using NowFn = std::function<MonoTime()>;
  using HealthFn = std::function<Health(MonoTime t, double t_s)>;

  SyntheticSampling(Duration interval, NowFn now, HealthFn health,
                    std::string unhealthy_detail = "",
                    std::function<void(MonoTime)> on_start = nullptr)
      : interval_(interval),
        now_(std::move(now)),
        health_(std::move(health)),
        unhealthy_detail_(std::move(unhealthy_detail)),
        on_start_(std::move(on_start)) {}

  void Start(MonoTime epoch) override {
    epoch_ = epoch;
    if (on_start_) on_start_(epoch);
  }
  void Stop() override {
    std::lock_guard lock(mu_);
    stopped_ = true;
  }
  // Releases the samples sent since the last call for this index: those sent before now() (one
  // sent at this very moment is not decided yet), and after Stop() also the one sent at now().
  void Drain(size_t index, std::vector<Sample>* out) override {
    std::lock_guard lock(mu_);
    MonoTime& next = next_[index];
    if (next == MonoTime{}) next = epoch_;
    const MonoTime now = now_();
    for (; next < now || (stopped_ && next == now); next += interval_) {
      Sample s;
      s.t_send = ToSeconds(next - epoch_);
      s.t_done = s.t_send + 0.001;
      s.health = health_(next, s.t_send);
      if (s.health == Health::kUnhealthy) s.detail = unhealthy_detail_;
      s.latency_ms = 1;
      out->push_back(s);
    }
  }

 private:
  std::mutex mu_;
  bool stopped_ = false;
  std::map<size_t, MonoTime> next_;  // per verifier: the next send time not yet released
  Duration interval_;
  NowFn now_;
  HealthFn health_;
  std::string unhealthy_detail_;
  std::function<void(MonoTime)> on_start_;
  MonoTime epoch_;
};

// Per-test journal folder <tmp>/<prefix>-<pid>-<test name>, removed before and after the test.
class EngineFixture : public ::testing::Test {
 protected:
  explicit EngineFixture(std::string dir_prefix) : dir_prefix_(std::move(dir_prefix)) {}

  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           (dir_prefix_ + "-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // An experiment "exp" whose only step is `inject`, watched by verifier "svc" of the same kind
  // (sampled every `interval`, SLO 99% success). The caller sets the phase durations.
  static ExperimentSpec OneStepExperiment(InjectStep inject, std::shared_ptr<Verifier> verifier,
                                          Duration interval) {
    ExperimentSpec e;
    e.name = "exp";
    e.path = "experiments[0]";
    VerifierSpec v;
    v.name = "svc";
    v.kind = inject.kind;
    v.interval = interval;
    v.slo.success_ratio = 0.99;
    v.verifier = std::move(verifier);
    e.verifiers.push_back(v);
    e.method.push_back(Step{"experiments[0].method[0]", std::move(inject)});
    return e;
  }

  // Runs `spec` as the only experiment of a plan, journalling into dir_; `sampling` makes the
  // sampling source for the first verifier's interval.
  RunResult RunExperiment(ExperimentSpec spec, EngineOptions options, Clock& clock,
                          std::function<std::unique_ptr<Sampling>(Duration)> sampling) {
    Plan plan;
    plan.file = "test.yaml";
    plan.experiments.push_back(std::move(spec));
    options.journal_dir = dir_.string();
    Engine engine(
        registries_,
        [sampling](const std::vector<VerifierSpec>& v, Clock&) {
          return sampling(v.at(0).interval);
        },
        clock, options);
    return engine.Run(plan);
  }

  // The journal records still live (faults not known to be reverted).
  std::vector<JournalRecord> JournalLeft() {
    std::vector<JournalRecord> left;
    auto files = ReadJournals(dir_.string());
    if (files.ok()) {
      for (const auto& f : *files) left.insert(left.end(), f.live.begin(), f.live.end());
    }
    return left;
  }

  Registries registries_;
  std::filesystem::path dir_;

 private:
  std::string dir_prefix_;
};

}  // namespace gameday::testing
