#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "experiments/clock.h"
#include "experiments/plugins/injector.h"
#include "experiments/plugins/verifier.h"
#include "experiments/plugins/watch.h"
#include "experiments/registry.h"
#include "experiments/spec_reader.h"
#include "experiments/target.h"

namespace gameday {

// What a verifier's samples must satisfy in the steady-state windows.
struct SloSpec {
  double success_ratio = 1.0;  // passing / (passing + failing) at least this
};

struct VerifierSpec {
  std::string path;  // "experiments[0].verify[1]", for messages
  std::string name;
  std::string kind;
  Duration interval = std::chrono::milliseconds(100);
  SloSpec slo;
  std::shared_ptr<Verifier> verifier;
};

enum class SelectMode { kOne, kAll, kFixed, kFixedPercent, kRandomMaxPercent };
const char* SelectModeName(SelectMode m);

struct SelectSpec {
  SelectMode mode = SelectMode::kOne;
  double value = 0;  // count for kFixed, percent for the percent modes
  int max = 0;       // upper bound on the number of targets; 0 = no bound
};

// `repeat: {every, for}` of an inject step: rounds start at 0, every, 2*every, ... after the first
// round's start, strictly before `span` has elapsed; each round selects its targets again.
struct RepeatSpec {
  Duration every{0};
  Duration span{0};  // the plan's `for`
};

struct InjectStep {
  std::string name;  // unique within the experiment; defaults to "<kind>-<index>"
  std::string kind;
  SelectSpec select;
  std::optional<Duration> duration;  // none = one-shot (no timed revert)
  std::optional<RepeatSpec> repeat;  // none = one round
  std::shared_ptr<Injector> injector;
};

struct WaitStep {
  Duration duration{0};
};

struct Step;
struct ParallelStep {
  std::vector<Step> steps;
};

struct Step {
  std::string path;  // "experiments[0].method[2]"
  std::variant<InjectStep, WaitStep, ParallelStep> action;
};

// Something recorded on the timeline during the experiment (pod and node changes, ...).
struct WatchSpec {
  std::string path;
  std::string kind;
  std::shared_ptr<Watch> watch;
};

// One assertion; each becomes a JUnit test case.
struct ObjectiveSpec {
  enum class Type { kRecoverWithin, kMustDetect, kMustNotDetect, kMaxDowntime, kMinAvailability };
  std::string path;
  std::string verifier;
  Type type = Type::kRecoverWithin;
  double limit = 0;  // seconds, or a ratio for availability
};
const char* ObjectiveTypeName(ObjectiveSpec::Type t);

// Stops the experiment at once (reverting everything) when it holds.
struct AbortSpec {
  std::string path;
  std::string verifier;
  Duration failing_for{0};  // the verifier failed continuously for at least this long
};

struct ExperimentSpec {
  std::string path;
  std::string name;
  int name_line = 0;    // where `name` is in its plan file (1-based; 0 unknown), for diagnostics
  int name_column = 0;  // that span several plan files
  std::string description;
  // Non-empty: the experiment is expected to fail (this says why); see docs/plans.md.
  std::string expected_failure;
  std::map<std::string, std::string> labels;
  TargetSpec target;
  std::vector<VerifierSpec> verifiers;
  std::vector<WatchSpec> watches;
  std::vector<Step> method;
  std::vector<ObjectiveSpec> objectives;
  std::vector<AbortSpec> aborts;
  Duration warmup = std::chrono::seconds(2);      // steady state must hold this long first
  Duration stable_for = std::chrono::seconds(1);  // a passing run this long means recovered
  Duration recovery_timeout = std::chrono::seconds(60);
  Duration cooldown = std::chrono::seconds(2);  // steady state checked again this long after
};

struct Plan {
  std::string file;
  std::string name;
  std::vector<ExperimentSpec> experiments;
};

struct Registries {
  Registry<InjectorKind> injectors;
  Registry<VerifierKind> verifiers;
  Registry<WatchKind> watches;
};

// What bounds a plan's size, beyond the document limits of experiments/yaml_guard.h (kPlanLimits).
// Far above what a game day needs; docs/plans.md lists them.
inline constexpr size_t kMaxExperiments = 1000;  // per plan file
inline constexpr size_t kMaxSteps = 1000;        // per experiment, counting nested steps
inline constexpr size_t kMaxParallelDepth = 8;   // parallel inside parallel ...
inline constexpr size_t kMaxVerifiers = 1000;    // per experiment
inline constexpr size_t kMaxListEntries = 1000;  // watch, objectives, abort per experiment

// How a plan is read besides its text.
struct PlanOptions {
  // True: kinds that act through an ssh inventory read it and check the hosts, groups and vars
  // their selectors need (runs and dry runs: a missing host is an error before anything is
  // injected). False: they check their fields and the grammar of their selectors, and read no
  // inventory (`gameday validate`: a plan is checked long before any host exists).
  bool check_inventory = true;
  // Non-empty: every ssh target uses this inventory instead of its own or the default one
  // (`gameday validate --against-inventory FILE`).
  std::string inventory_override;
};

// Parses and validates a whole plan. Every problem goes into `diags`; the plan is usable only
// when `diags` is empty afterwards.
Plan ParsePlan(const std::string& text, const std::string& file, const Registries& registries,
               Diagnostics* diags, const PlanOptions& options = {});
// Reads `path` (at most kPlanLimits.max_bytes) and parses it.
Plan LoadPlan(const std::string& path, const Registries& registries, Diagnostics* diags,
              const PlanOptions& options = {});
// Loads several plans as one run: their experiments in the order given, each plan's relative
// paths resolved against its own folder. The name is the plans' names joined with "+", the file
// their paths joined with ", ". An experiment name used in two files is an error naming both.
Plan LoadPlans(const std::vector<std::string>& paths, const Registries& registries,
               Diagnostics* diags, const PlanOptions& options = {});

}  // namespace gameday
