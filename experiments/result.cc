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

ExperimentStatus RunStatus(const RunResult& run) {
  ExperimentStatus worst = ExperimentStatus::kPassed;
  for (const auto& e : run.experiments) {
    if (static_cast<int>(e.status) > static_cast<int>(worst)) worst = e.status;
  }
  return worst;
}

}  // namespace gameday
