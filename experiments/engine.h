#pragma once

#include <cstdint>
#include <functional>
#include <stop_token>
#include <string>
#include <vector>

#include "experiments/clock.h"
#include "experiments/plan.h"
#include "experiments/result.h"
#include "experiments/sampling.h"

namespace gameday {

// A verifier's state for live progress lines.
struct VerifierLive {
  std::string name;
  Health last = Health::kUnknown;
  size_t samples = 0;
  size_t failing = 0;
  double last_latency_ms = 0;
  std::string last_detail;
};

// Receives progress while the engine runs. Called from engine threads; implementations lock.
class EngineObserver {
 public:
  virtual ~EngineObserver() = default;
  virtual void OnEvent(const std::string& /*experiment*/, const TimelineEvent& /*event*/) {}
  // About five times a second while verifiers sample.
  virtual void OnTick(const std::string& /*experiment*/, double /*t*/,
                      const std::vector<VerifierLive>& /*verifiers*/) {}
};

struct EngineOptions {
  std::string run_id;
  uint64_t seed = 0;
  bool dry_run = false;
  std::string journal_dir;  // where the run's journal lives
  std::stop_token stop;     // a terminating signal: revert everything, then stop
  // Why `stop` was requested ("SIGHUP received"), for the experiment's reasons; called on the
  // thread that requests the stop. Empty: "interrupted by a signal".
  std::function<std::string()> stop_reason;
  EngineObserver* observer = nullptr;
  std::string plan_file;
  std::string version;
};

// Runs a validated plan: for each experiment, steady state → inject → observe → revert → wait for
// recovery → steady state after, and computes the result. Every fault is journaled before it is
// injected and reverted on every path out (end of duration, abort, signal, error).
class Engine {
 public:
  Engine(const Registries& registries, SamplingFactory sampling, Clock& clock,
         EngineOptions options);
  RunResult Run(const Plan& plan);

 private:
  const Registries& registries_;
  SamplingFactory sampling_;
  Clock& clock_;
  EngineOptions options_;
};

// The exit code for a run (DESIGN.md): 0 passed, 1 failed, 3 aborted, error or revert failed.
int ExitCodeFor(const RunResult& run);

}  // namespace gameday
