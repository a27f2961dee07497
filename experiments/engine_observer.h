#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "experiments/result.h"
#include "experiments/sample.h"

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

}  // namespace gameday
