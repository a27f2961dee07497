#pragma once

#include <optional>
#include <string>

namespace gameday {

// A monitoring system being down is never read as the service being down: such samples are
// kUnknown and count neither as passing nor as failing.
enum class Health { kHealthy, kUnhealthy, kUnknown };

// One probe's result. Times are seconds on the experiment's monotonic time base (0 = the
// experiment's start), so samples, faults and events share one axis.
struct Sample {
  double t_send = 0;  // when the probe was sent
  double t_done = 0;  // when its result was known
  Health health = Health::kUnknown;
  double latency_ms = 0;
  std::optional<double> value;  // the measured value, for verifiers that measure one
  std::string detail;           // why it failed (empty for healthy samples)
};

const char* HealthName(Health h);

// A sample that says what went wrong: not passing, and with a detail. A verifier's last such
// sample is its "last error" (VerifierResult::last_error).
inline bool TellsAnError(const Sample& s) {
  return s.health != Health::kHealthy && !s.detail.empty();
}

}  // namespace gameday
