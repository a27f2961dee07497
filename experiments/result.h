#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "experiments/clock.h"
#include "experiments/recovery.h"
#include "experiments/sample.h"

namespace gameday {

// The result model: everything reports need, and nothing else. Times named t_* are seconds on
// the experiment's monotonic axis (0 = experiment start); wall times are for people.

// Where a fault's revert stands.
enum class RevertState {
  kNotInjected,  // planned, but inject failed before the fault could take effect (or never ran)
  kPending,      // in effect (or possibly in effect): must still be reverted
  kReverted,
  kNotNeeded,  // a one-shot fault (a kill): nothing to undo
  kFailed,     // revert failed; the fault stays in the journal for `gameday recover`
};
// "not-injected", "pending", "reverted", "not-needed", "failed" (result.json's revert_status).
const char* RevertStateName(RevertState s);
std::optional<RevertState> ParseRevertState(std::string_view s);

struct FaultResult {
  std::string id;      // unique in the run: "<experiment>/<step>/<n>"
  std::string step;    // the step's name
  std::string kind;    // injector kind
  std::string target;  // the target's display text
  std::string target_id;
  int round = 0;  // 1-based round of a step with `repeat`; 0 when the step does not repeat
  double t_inject = 0;
  std::optional<double> t_revert;  // when the revert completed
  bool reversible = false;
  RevertState revert = RevertState::kNotInjected;
  std::string error;  // why inject or revert failed
  // What "reverted" alone would hide: a revert that undid the fault but could not restore
  // everything as it was (a process restarted without some of its environment). Empty otherwise.
  std::string revert_note;
  // What the revert saw of the fault's course (InjectorEnv::revert_observed). Empty otherwise.
  std::string observed;
};

// How long one round of an inject step took to put its faults in, from the moment the first
// target's preparation started to the moment the last target's inject returned: a slow injection
// (a "kill half the pods" that is really a rolling delete) shows next to the recovery it distorts.
struct InjectionResult {
  std::string step;          // the step's name
  int round = 0;             // as FaultResult::round
  std::string kind;          // injector kind
  size_t targets = 0;        // chosen for the round
  size_t injected = 0;       // of which the inject succeeded
  double t_start = 0;        // when the first target's preparation started
  double inject_span_s = 0;  // from t_start to the last inject's return
  double journal_s = 0;      // of the span: writing the round's journal records (one fsync)
};

// Metrics of one verifier for one fault window.
struct FaultMetrics {
  std::string fault_id;
  RecoveryMetrics metrics;
};

// Where a verifier's samples are when result.json does not hold them inline (long runs).
struct SampleStoreRef {
  std::string file;  // the run's sample store, relative to result.json's folder
  uint32_t stream = 0;
};

// The verifier's last sample that was not passing, kept for summaries that do not read samples.
struct LastError {
  double t_send = 0;
  Health health = Health::kUnhealthy;
  std::string detail;
};

struct VerifierResult {
  std::string name;
  std::string kind;
  std::string description;
  double interval_s = 0;
  double slo_success_ratio = 1;
  std::optional<double> steady_before;  // success ratio in the warm-up window
  std::optional<double> steady_after;   // success ratio in the cool-down window
  RecoveryMetrics overall;              // from the first fault to the end of observation
  std::vector<FaultMetrics> per_fault;
  uint64_t sample_count = 0;  // every sample the verifier took, inline or not
  std::optional<LastError> last_error;
  // Every sample, sorted by send time, unless they live in the run's sample store (`store` set,
  // `samples` empty). Read them through VisitSamples (experiments/sample_source.h).
  std::vector<Sample> samples;
  std::optional<SampleStoreRef> store;
};

struct ObjectiveResult {
  std::string name;  // "frontend recovers within 10s"
  std::string verifier;
  std::string type;  // recover_within, must_detect, ...
  bool passed = false;
  std::optional<double> measured;
  std::optional<double> limit;
  std::string message;  // the measured value against the budget, in plain words
};

// Something that happened, on the experiment's time axis: a phase change, a fault, a
// Kubernetes event.
struct TimelineEvent {
  double t = 0;
  std::string source;  // "engine", "fault", "kubernetes", ...
  std::string message;
};

enum class ExperimentStatus { kPassed, kFailed, kAborted, kError };
const char* ExperimentStatusName(ExperimentStatus s);
std::optional<ExperimentStatus> ParseExperimentStatus(const std::string& s);

// The verdict with expected failures taken into account. The status stays the gate's verdict: an
// expected failure that failed has status kPassed, one that passed has status kFailed.
enum class ExperimentOutcome {
  kPassed,
  kFailed,
  kExpectedFailure,  // expected to fail, and an objective failed
  kUnexpectedPass,   // expected to fail, but every objective held
  kAborted,
  kError,
};
// "passed", "failed", "expected-failure", "unexpected-pass", "aborted", "error".
const char* ExperimentOutcomeName(ExperimentOutcome o);
std::optional<ExperimentOutcome> ParseExperimentOutcome(const std::string& s);
// The outcome a status means when no expected failure is involved.
ExperimentOutcome OutcomeOfStatus(ExperimentStatus s);

struct ExperimentResult {
  std::string name;
  std::string description;
  std::map<std::string, std::string> labels;
  ExperimentStatus status = ExperimentStatus::kError;
  // Set only when it differs from OutcomeOfStatus(status), i.e. for expected failures; read it
  // through OutcomeOf().
  std::optional<ExperimentOutcome> outcome;
  std::string expected_failure;      // the plan's reason; empty when not expected to fail
  std::vector<std::string> reasons;  // why it did not pass (or, expected to, why it failed)
  WallTime start_wall;
  WallTime end_wall;
  double duration_s = 0;
  double t_first_inject = 0;
  std::optional<double> t_last_recovery;
  std::vector<FaultResult> faults;
  // One per round of an inject step that got as far as preparing its targets, in start order.
  std::vector<InjectionResult> injections;
  std::vector<VerifierResult> verifiers;
  std::vector<ObjectiveResult> objectives;
  std::vector<TimelineEvent> events;
};

struct RunResult {
  std::string run_id;
  std::string plan_file;
  std::string plan_name;
  std::string gameday_version;
  uint64_t seed = 0;
  bool dry_run = false;
  WallTime start_wall;
  WallTime end_wall;
  std::vector<ExperimentResult> experiments;
  // Not serialized: the folder result.json was read from or is written to, which sample store
  // paths are relative to. Empty: the current directory.
  std::string dir;
};

ExperimentOutcome OutcomeOf(const ExperimentResult& e);

// The run's status: the worst of its experiments (error > aborted > failed > passed).
ExperimentStatus RunStatus(const RunResult& run);

}  // namespace gameday
