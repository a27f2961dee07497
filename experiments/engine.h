#pragma once

#include <cstdint>
#include <functional>
#include <stop_token>
#include <string>
#include <vector>

#include "experiments/clock.h"
#include "experiments/engine_observer.h"
#include "experiments/journal.h"
#include "experiments/plan.h"
#include "experiments/result.h"
#include "experiments/sampling.h"

namespace gameday {

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
  // The run's sample store (experiments/sample_store.h), created by the engine in a folder the
  // caller checked; empty: an anonymous temporary file, and every sample stays inline.
  std::string samples_file;
  // An experiment that took at most this many samples keeps them inline in the result (and
  // result.json); a longer one references the store.
  size_t inline_samples = 100'000;
  // The mode of the sample store file.
  unsigned samples_mode = 0600;
  // Opens a mirror of the run's journal (see JournalMirror: a ConfigMap in the cluster, so that a
  // reaper reverts what a killed runner left). Unset: the journal file only. When it cannot be
  // opened, nothing is injected.
  std::function<Result<std::unique_ptr<JournalMirror>>(const std::string& run_id)> journal_mirror;
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
