#include "reports/termination_message.h"

#include <algorithm>

#include "experiments/format.h"
#include "experiments/redact.h"
#include "reports/report_text.h"

namespace gameday {
namespace {

constexpr size_t kLineLimit = 400;
constexpr size_t kMinimumLimit = 256;

// One line of valid UTF-8 without control characters, cut to `max` bytes on a character
// boundary ("…" marks the cut). Result text comes from the outside world: a reason may hold a
// whole HTTP body with its newlines.
std::string OneLine(std::string_view text, size_t max) {
  std::string clean = SanitizeUtf8(RedactSecrets(text));
  for (char& c : clean) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  }
  if (clean.size() <= max) return clean;
  static constexpr std::string_view kEllipsis = "…";
  size_t cut = max - kEllipsis.size();
  while (cut > 0 && (static_cast<unsigned char>(clean[cut]) & 0xC0) == 0x80) --cut;
  clean.resize(cut);
  clean += kEllipsis;
  return clean;
}

const char* VerdictOf(int exit_code) {
  if (exit_code == 0) return "passed";
  if (exit_code == 1) return "failed";
  return "aborted";
}

bool AnyInjected(const ExperimentResult& e) {
  return std::any_of(e.faults.begin(), e.faults.end(),
                     [](const FaultResult& f) { return f.revert != RevertState::kNotInjected; });
}

// The recovery of the experiment's slowest verifier: the one that did not recover, else the one
// that took longest.
std::string RecoveryText(const RunResult& run, const ExperimentResult& e) {
  if (run.dry_run) return "dry run";
  if (!AnyInjected(e)) return "no faults";
  const VerifierResult* slowest = nullptr;
  for (const VerifierResult& v : e.verifiers) {
    if (!v.overall.impact) continue;
    if (!v.overall.time_to_recover_s) return v.name + " not recovered";
    if (!slowest || *v.overall.time_to_recover_s > *slowest->overall.time_to_recover_s) {
      slowest = &v;
    }
  }
  if (!slowest) return "no impact";
  return slowest->name + " recovered in " +
         FormatSecondsWithBound(*slowest->overall.time_to_recover_s,
                                slowest->overall.recover_bound_s);
}

std::string ExperimentLine(const RunResult& run, const ExperimentResult& e) {
  const ExperimentOutcome outcome = OutcomeOf(e);
  std::string line = std::string(OutcomeText(outcome)) + " " + e.name + ": " + RecoveryText(run, e);
  if (outcome != ExperimentOutcome::kPassed && !e.reasons.empty()) {
    line += "; why: " + e.reasons.front();
  }
  return OneLine(line, kLineLimit);
}

std::string MoreLine(size_t left) {
  return "… and " + std::to_string(left) + " more experiment(s): see result.json\n";
}

}  // namespace

std::string RenderTerminationMessage(const RunResult& run, int exit_code,
                                     const std::vector<std::string>& notes, size_t limit) {
  limit = std::max(limit, kMinimumLimit);
  size_t failed = 0;
  for (const ExperimentResult& e : run.experiments) {
    failed += e.status == ExperimentStatus::kPassed ? 0 : 1;
  }
  const std::string& plan = run.plan_name.empty() ? run.plan_file : run.plan_name;
  std::string head = std::string(VerdictOf(exit_code)) + ": plan " + plan + ", run " + run.run_id +
                     ", " + std::to_string(failed) + " of " +
                     std::to_string(run.experiments.size()) + " experiment(s) not passed, exit " +
                     std::to_string(exit_code) + (run.dry_run ? ", dry run" : "");
  // The header and the notes take at most half, so experiments always get room.
  std::string out = OneLine(head, std::min(kLineLimit, limit / 2 - 1)) + "\n";
  for (const std::string& note : notes) {
    const std::string line = OneLine("note: " + note, kLineLimit) + "\n";
    if (out.size() + line.size() > limit / 2) break;
    out += line;
  }
  const size_t n = run.experiments.size();
  std::vector<std::string> lines;
  lines.reserve(n);
  for (const ExperimentResult& e : run.experiments) lines.push_back(ExperimentLine(run, e) + "\n");
  // rest[i]: the bytes of lines i.. together.
  std::vector<size_t> rest(n + 1, 0);
  for (size_t i = n; i-- > 0;) rest[i] = rest[i + 1] + lines[i].size();
  // Invariant: the "more" line for every experiment not yet written still fits, so stopping at
  // any point stays within the limit (a "more" line is at most ~60 bytes, far below limit / 2).
  for (size_t i = 0; i < n; ++i) {
    if (out.size() + rest[i] <= limit) {  // everything left fits: no "more" line needed
      for (size_t k = i; k < n; ++k) out += lines[k];
      break;
    }
    if (out.size() + lines[i].size() + MoreLine(n - i - 1).size() > limit) {
      out += MoreLine(n - i);
      break;
    }
    out += lines[i];
  }
  return out;
}

}  // namespace gameday
