#pragma once

// What the kubelet is configured to do after a container is killed or frozen, read from the
// pod's own spec before the fault, and the stages it went through, read from the pod's status
// after it; the revert note sets one against the other:
//   kill    the container exits; the kubelet starts it again at once, unless it restarted in the
//           last 10 minutes (then after its back-off: 10 s, doubling to 5 min); the pod is Ready
//           again once the readiness probe passed successThreshold times (its first try after
//           initialDelaySeconds, then every periodSeconds), or at once without one.
//   freeze  the process hangs; the readiness probe marks the pod NotReady after failureThreshold
//           failed tries (each up to timeoutSeconds) and the liveness probe has the kubelet kill
//           and restart it after its own failureThreshold; without a liveness probe it hangs
//           until the revert, and without a readiness probe its Service keeps sending to it.
// The measured times are the kubelet's (lastState.terminated.finishedAt, state.running.startedAt,
// the Ready condition's lastTransitionTime): RFC 3339 to the second, on the node's clock.

#include <rapidjson/document.h>

#include <optional>
#include <string>

#include "experiments/clock.h"

namespace gameday {

struct ProbeSettings {
  double initial_delay_s = 0;
  double period_s = 10;
  double timeout_s = 1;
  int success = 1;
  int failure = 3;
};

struct ContainerSettings {
  std::optional<ProbeSettings> liveness;
  std::optional<ProbeSettings> readiness;
  std::optional<ProbeSettings> startup;
};

// The probes of container `container` ("" = the first) in `pod`'s spec, with Kubernetes'
// defaults for what a probe leaves out; values out of range are clamped (periods 1 s to 1 h).
ContainerSettings ReadContainerSettings(const rapidjson::Value& pod, const std::string& container);

// The container's state in `pod`'s status.
struct ContainerStages {
  std::optional<int64_t> restart_count;
  std::optional<WallTime> died;         // lastState.terminated.finishedAt
  std::string died_as;                  // "Error, exit code 137", printable and bounded
  std::optional<WallTime> started;      // state.running.startedAt
  bool ready = false;                   // containerStatuses[].ready
  std::optional<WallTime> ready_since;  // the pod's Ready condition, when True: lastTransitionTime
};
ContainerStages ReadContainerStages(const rapidjson::Value& pod, const std::string& container);

// The expected timeline for a kill or a freeze of a container with `settings`; `before` is its
// state when the fault was prepared (a restart in the 10 minutes before means back-off).
std::string ExpectedContainerTimeline(bool freeze, const ContainerSettings& settings,
                                      const ContainerStages& before, WallTime now);

// The measured stages after the fault, from `after` (the pod's status at the revert);
// `injected` is when the fault went in on gameday's clock, when this process injected it.
std::string MeasuredContainerStages(bool freeze, const ContainerStages& before,
                                    const ContainerStages& after, std::optional<WallTime> injected);

}  // namespace gameday
