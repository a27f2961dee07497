#include "experiments/result.h"

namespace gameday {

const char* HealthName(Health h) {
  switch (h) {
    case Health::kHealthy:
      return "healthy";
    case Health::kUnhealthy:
      return "unhealthy";
    case Health::kUnknown:
      return "unknown";
  }
  return "unknown";
}

const char* RevertStateName(RevertState s) {
  switch (s) {
    case RevertState::kNotInjected:
      return "not-injected";
    case RevertState::kPending:
      return "pending";
    case RevertState::kReverted:
      return "reverted";
    case RevertState::kNotNeeded:
      return "not-needed";
    case RevertState::kFailed:
      return "failed";
  }
  return "failed";
}

std::optional<RevertState> ParseRevertState(std::string_view s) {
  for (auto st : {RevertState::kNotInjected, RevertState::kPending, RevertState::kReverted,
                  RevertState::kNotNeeded, RevertState::kFailed}) {
    if (s == RevertStateName(st)) return st;
  }
  return std::nullopt;
}

const char* ExperimentStatusName(ExperimentStatus s) {
  switch (s) {
    case ExperimentStatus::kPassed:
      return "passed";
    case ExperimentStatus::kFailed:
      return "failed";
    case ExperimentStatus::kAborted:
      return "aborted";
    case ExperimentStatus::kError:
      return "error";
  }
  return "error";
}

std::optional<ExperimentStatus> ParseExperimentStatus(const std::string& s) {
  for (auto st : {ExperimentStatus::kPassed, ExperimentStatus::kFailed, ExperimentStatus::kAborted,
                  ExperimentStatus::kError}) {
    if (s == ExperimentStatusName(st)) return st;
  }
  return std::nullopt;
}

const char* ExperimentOutcomeName(ExperimentOutcome o) {
  switch (o) {
    case ExperimentOutcome::kPassed:
      return "passed";
    case ExperimentOutcome::kFailed:
      return "failed";
    case ExperimentOutcome::kExpectedFailure:
      return "expected-failure";
    case ExperimentOutcome::kUnexpectedPass:
      return "unexpected-pass";
    case ExperimentOutcome::kAborted:
      return "aborted";
    case ExperimentOutcome::kError:
      return "error";
  }
  return "error";
}

std::optional<ExperimentOutcome> ParseExperimentOutcome(const std::string& s) {
  for (auto o : {ExperimentOutcome::kPassed, ExperimentOutcome::kFailed,
                 ExperimentOutcome::kExpectedFailure, ExperimentOutcome::kUnexpectedPass,
                 ExperimentOutcome::kAborted, ExperimentOutcome::kError}) {
    if (s == ExperimentOutcomeName(o)) return o;
  }
  return std::nullopt;
}

ExperimentOutcome OutcomeOfStatus(ExperimentStatus s) {
  switch (s) {
    case ExperimentStatus::kPassed:
      return ExperimentOutcome::kPassed;
    case ExperimentStatus::kFailed:
      return ExperimentOutcome::kFailed;
    case ExperimentStatus::kAborted:
      return ExperimentOutcome::kAborted;
    case ExperimentStatus::kError:
      return ExperimentOutcome::kError;
  }
  return ExperimentOutcome::kError;
}

ExperimentOutcome OutcomeOf(const ExperimentResult& e) {
  return e.outcome.value_or(OutcomeOfStatus(e.status));
}

ExperimentStatus RunStatus(const RunResult& run) {
  ExperimentStatus worst = ExperimentStatus::kPassed;
  for (const auto& e : run.experiments) {
    if (static_cast<int>(e.status) > static_cast<int>(worst)) worst = e.status;
  }
  return worst;
}

}  // namespace gameday
