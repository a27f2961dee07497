#include "injectors/container_kill/container_timeline.h"

#include <algorithm>
#include <cmath>

#include "clients/kubernetes/client.h"
#include "clients/kubernetes/credentials.h"
#include "experiments/format.h"
#include "injectors/container_kill/container_process.h"

namespace gameday {
namespace {

constexpr size_t kMaxContainers = 64;
// The kubelet forgets a container's back-off once it ran this long without a restart.
constexpr auto kBackOffMemory = std::chrono::minutes(10);

const rapidjson::Value* Named(const rapidjson::Value* list, const std::string& name) {
  if (list == nullptr || !list->IsArray()) return nullptr;
  size_t n = 0;
  for (auto it = list->Begin(); it != list->End() && n < kMaxContainers; ++it, ++n) {
    if (!it->IsObject()) continue;
    if (name.empty() || JsonPathString(*it, {"name"}) == name) return &*it;
  }
  return nullptr;
}

double Number(const rapidjson::Value& probe, const char* key, double fallback, double lo,
              double hi) {
  auto it = probe.FindMember(key);
  if (it == probe.MemberEnd() || !it->value.IsNumber()) return fallback;
  const double v = it->value.GetDouble();
  return std::isfinite(v) ? std::clamp(v, lo, hi) : fallback;
}

std::optional<ProbeSettings> Probe(const rapidjson::Value& container, const char* key) {
  auto it = container.FindMember(key);
  if (it == container.MemberEnd() || !it->value.IsObject()) return std::nullopt;
  const rapidjson::Value& p = it->value;
  ProbeSettings s;
  s.initial_delay_s = Number(p, "initialDelaySeconds", 0, 0, 3600);
  s.period_s = Number(p, "periodSeconds", 10, 1, 3600);
  s.timeout_s = Number(p, "timeoutSeconds", 1, 1, 3600);
  s.success = static_cast<int>(Number(p, "successThreshold", 1, 1, 1000));
  s.failure = static_cast<int>(Number(p, "failureThreshold", 3, 1, 1000));
  return s;
}

std::optional<WallTime> Time(const rapidjson::Value& v, std::initializer_list<const char*> path) {
  const std::string text = JsonPathString(v, path);
  if (text.empty() || text.size() > 64) return std::nullopt;
  return ParseKubeTime(text);
}

double Between(WallTime from, WallTime to) {
  return std::chrono::duration<double>(to - from).count();
}

}  // namespace

ContainerSettings ReadContainerSettings(const rapidjson::Value& pod, const std::string& container) {
  ContainerSettings s;
  const rapidjson::Value* c = Named(JsonPath(pod, {"spec", "containers"}), container);
  if (c == nullptr) return s;
  s.liveness = Probe(*c, "livenessProbe");
  s.readiness = Probe(*c, "readinessProbe");
  s.startup = Probe(*c, "startupProbe");
  return s;
}

ContainerStages ReadContainerStages(const rapidjson::Value& pod, const std::string& container) {
  ContainerStages s;
  const rapidjson::Value* cs = Named(JsonPath(pod, {"status", "containerStatuses"}), container);
  if (cs == nullptr) return s;
  if (const rapidjson::Value* rc = JsonPath(*cs, {"restartCount"}); rc == nullptr) {
    s.restart_count = 0;
  } else if (rc->IsInt64() && rc->GetInt64() >= 0 && rc->GetInt64() <= INT32_MAX) {
    s.restart_count = rc->GetInt64();
  }
  s.died = Time(*cs, {"lastState", "terminated", "finishedAt"});
  if (s.died) {
    s.died_as = Printable(JsonPathString(*cs, {"lastState", "terminated", "reason"}), 60);
    const rapidjson::Value* code = JsonPath(*cs, {"lastState", "terminated", "exitCode"});
    if (code != nullptr && code->IsInt()) {
      s.died_as += (s.died_as.empty() ? "" : ", ") + std::string("exit code ") +
                   std::to_string(code->GetInt());
    }
  }
  s.started = Time(*cs, {"state", "running", "startedAt"});
  const rapidjson::Value* ready = JsonPath(*cs, {"ready"});
  s.ready = ready != nullptr && ready->IsBool() && ready->GetBool();
  const rapidjson::Value* conditions = JsonPath(pod, {"status", "conditions"});
  if (s.ready && conditions != nullptr && conditions->IsArray()) {
    size_t n = 0;
    for (auto it = conditions->Begin(); it != conditions->End() && n < 32; ++it, ++n) {
      if (it->IsObject() && JsonPathString(*it, {"type"}) == "Ready" &&
          JsonPathString(*it, {"status"}) == "True") {
        s.ready_since = Time(*it, {"lastTransitionTime"});
      }
    }
  }
  return s;
}

std::string ExpectedContainerTimeline(bool freeze, const ContainerSettings& settings,
                                      const ContainerStages& before, WallTime now) {
  std::string s = "expected from the pod's settings: ";
  if (!freeze) {
    const bool recent = before.died && now - *before.died < kBackOffMemory;
    s += recent ? "restarted after the kubelet's back-off (it also restarted within the last 10 "
                  "minutes: 10s, doubling up to 5m)"
                : "restarted at once (no restart in the 10 minutes before)";
    if (settings.readiness) {
      const ProbeSettings& r = *settings.readiness;
      const double worst = r.initial_delay_s + r.period_s * r.success;
      s += ", Ready again within " + FormatSecondsBrief(worst) +
           " of the restart (readiness probe: " +
           (r.initial_delay_s > 0 ? "first after " + FormatSecondsBrief(r.initial_delay_s) + ", "
                                  : "") +
           "every " + FormatSecondsBrief(r.period_s) + ", " + std::to_string(r.success) +
           " success" + (r.success == 1 ? "" : "es") + " needed)";
    } else {
      s += ", Ready again as it starts (no readiness probe)";
    }
    if (settings.startup) s += ", after its startup probe passes";
    return s;
  }
  if (settings.readiness) {
    const ProbeSettings& r = *settings.readiness;
    s += "NotReady within " + FormatSecondsBrief(r.period_s * r.failure + r.timeout_s) +
         " of the freeze (" + std::to_string(r.failure) + " failed readiness probes every " +
         FormatSecondsBrief(r.period_s) + ", each up to " + FormatSecondsBrief(r.timeout_s) +
         "; its Services stop sending to it)";
  } else {
    s += "stays Ready (no readiness probe: its Services keep sending to a hung container)";
  }
  if (settings.liveness) {
    const ProbeSettings& l = *settings.liveness;
    s += ", killed and restarted by the kubelet within " +
         FormatSecondsBrief(l.period_s * l.failure + l.timeout_s) + " of the freeze (" +
         std::to_string(l.failure) + " failed liveness probes every " +
         FormatSecondsBrief(l.period_s) + ", each up to " + FormatSecondsBrief(l.timeout_s) + ")";
  } else {
    s += ", never restarted (no liveness probe: hung until the revert)";
  }
  return s;
}

std::string MeasuredContainerStages(bool freeze, const ContainerStages& before,
                                    const ContainerStages& after,
                                    std::optional<WallTime> injected) {
  std::string s = "measured (the kubelet's times, to the second): ";
  const bool restarted =
      before.restart_count && after.restart_count && *after.restart_count > *before.restart_count;
  if (!restarted) {
    s += freeze ? "not restarted while frozen" : "no restart seen";
    if (!freeze) return s;
  } else {
    if (after.died) {
      s += "died" + (after.died_as.empty() ? "" : " (" + after.died_as + ")");
      if (injected)
        s += " " + FormatSecondsBrief(std::max(0.0, std::round(Between(*injected, *after.died)))) +
             " after the " + (freeze ? "freeze" : "kill") + " (gameday's clock)";
      if (after.started) {
        s += ", restarted " +
             FormatSecondsBrief(std::max(0.0, Between(*after.died, *after.started))) +
             " after it died";
      }
    } else {
      s += "restarted";
    }
  }
  if (!after.ready) {
    s += ", not Ready at the revert";
  } else if (restarted && after.started && after.ready_since) {
    s += ", Ready " +
         FormatSecondsBrief(std::max(0.0, Between(*after.started, *after.ready_since))) +
         " after the restart";
  } else {
    s += ", Ready at the revert";
  }
  return s;
}

}  // namespace gameday
