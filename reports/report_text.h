#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "experiments/clock.h"
#include "experiments/format.h"  // the number formats every report uses
#include "experiments/result.h"

namespace gameday {

// Text helpers shared by the report writers. Result text comes from the outside world (HTTP
// bodies, Kubernetes events, plan files), so nothing here trusts it to be valid UTF-8.

// True when `s` is well-formed UTF-8 (no overlongs, no surrogates, nothing above U+10FFFF).
bool IsValidUtf8(std::string_view s);

// `s` with every ill-formed byte sequence replaced by U+FFFD.
std::string SanitizeUtf8(std::string_view s);

// Appends `s` escaped for XML 1.0 and HTML: &, <, >, " and ' become references; characters XML
// 1.0 cannot carry at all (C0 controls other than tab/LF/CR, U+FFFE, U+FFFF, ill-formed UTF-8)
// become U+FFFD. In attribute mode, tab/LF/CR become character references so that attribute
// value normalisation keeps them.
void AppendMarkupEscaped(std::string* out, std::string_view s, bool attribute = false);
inline std::string MarkupEscape(std::string_view s, bool attribute = false) {
  std::string out;
  AppendMarkupEscaped(&out, s, attribute);
  return out;
}

// RFC 3339 in UTC with milliseconds: "2024-05-01T12:34:56.789Z" (truncated to the ms).
std::string FormatRfc3339(WallTime t);
// Accepts "YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM)" for years 1678 to 2261 (what WallTime
// holds). Fractions beyond nanoseconds are truncated.
std::optional<WallTime> ParseRfc3339(std::string_view s);
// "2024-05-01T12:34:56" in UTC, the zone-less form Ant-style JUnit timestamps use.
std::string FormatIsoSecondsUtc(WallTime t);

// The verdict in words with expected failures taken into account: "passed", "failed",
// "failed as expected", "passed unexpectedly", "aborted", "error".
const char* OutcomeText(ExperimentOutcome o);

// Why an experiment failed, for experiments expected to fail: the plan's reason, the failing
// objectives with their messages, and for the verifiers of those objectives (or any, when they
// carry none) the text of the last failing sample, such as an etcd timeout.
struct FailureExplanation {
  std::string expected;                      // the plan's expected_failure
  std::vector<std::string> objectives;       // "name: message" per failing objective
  std::vector<std::string> verifier_errors;  // "etcd: last error at 12.345 s: ..."
  std::vector<std::string> other;            // reasons that are not objective failures
};
FailureExplanation ExplainFailure(const ExperimentResult& e);

// The last failing or unknown sample of `v` that carries a detail, as
// "NAME: last error at T s: DETAIL"; nullopt when none does. For samples in the run's sample
// store, the verifier's last_error.
std::optional<std::string> LastErrorText(const VerifierResult& v);

// The faults of repeated steps by round: "STEP round N at T s: TARGET, TARGET" per round.
std::vector<std::string> RoundLines(const ExperimentResult& e);

// How long one round's injection took: "STEP [round N]: I of T target(s) injected in S s (journal
// J s), from T0 s".
std::string InjectionLine(const InjectionResult& i);

// The plain-text summary printed at the end of `gameday run`: one verdict line per experiment
// (PASSED, FAILED, ABORTED, ERROR, XFAIL for an expected failure, XPASS for an unexpected pass)
// followed by indented measurements and reasons.
std::string RenderTextSummary(const RunResult& run);

}  // namespace gameday
